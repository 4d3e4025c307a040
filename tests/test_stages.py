"""prep, backbone, instruct, prompt and aggregate on the tiny fixture: protocol and leakage."""
import json

import orjson
import pytest

from conftest import l4r
from l4r import data as datamod
from l4r.models import PATIENCE


def records(text_or_path):
    text = text_or_path.read_text() if hasattr(text_or_path, "read_text") else text_or_path
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def test_prep_leave_one_out_by_time_then_item(prepared, raw_tiny):
    ds = datamod.load(prepared)
    stats = json.loads((prepared / "stats.json").read_text())
    assert stats["users"] == 40 and stats["train"] + stats["valid"] + stats["test"] == stats["interactions"]
    events = {}
    for line in (raw_tiny / "u.data").read_text().splitlines():
        u, i, r, t = line.split("\t")
        events.setdefault(u, []).append((int(t), int(i)))
    for u, evs in events.items():
        evs.sort()
        assert ds.test[u]["item"] == str(evs[-1][1])
        assert ds.valid[u]["item"] == str(evs[-2][1])
        assert [r["item"] for r in ds.train[u]] == [str(i) for _, i in evs[:-2]]


def test_prep_is_deterministic(raw_tiny, prepared, tmp_path):
    again = tmp_path / "again"
    l4r("prep", "--raw", raw_tiny, "--out", again, "--offline")
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl", "stats.json"):
        assert (again / name).read_bytes() == (prepared / name).read_bytes()


def test_backbone_candidates_exclude_history(prepared, backbone_out):
    ds = datamod.load(prepared)
    for rec in records(backbone_out / "candidates.jsonl"):
        hist = {e["item"] for e in ds.history(rec["user"], rec["split"])}
        assert len(rec["items"]) == 5 and not hist & set(rec["items"])
    emb = records(backbone_out / "embeddings.jsonl")
    assert len(emb) == 40 and len(emb[0]["vector"]) == 16


def test_instructions_never_show_valid_or_test_items(prepared, backbone_out):
    ds = datamod.load(prepared)
    out = l4r("instruct", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--embeddings",
              backbone_out / "embeddings.jsonl", "--tasks", "listwise,pointwise,pairwise,sequential",
              "--per-task", "0").stdout
    recs = records(out)
    assert {r["task"] for r in recs} >= {"pairwise", "sequential"}
    for r in recs:
        held = [ds.title(x["item"]) for x in (ds.valid[r["user"]], ds.test[r["user"]])]
        text = r["input"] + r["output"]
        for title in held:
            if title != ds.title(ds.train[r["user"]][-1]["item"]):
                assert title not in text, (r["id"], title)
        assert r["output"]


def test_ift_instructions_have_no_augmentation(prepared, backbone_out):
    out = l4r("instruct", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--no-augment",
              "--tasks", "listwise").stdout
    for r in records(out):
        assert "Similar User" not in r["input"] and "Conventional Model" not in r["input"]


def test_prompts_hide_the_target_except_as_a_candidate(prepared, backbone_out):
    ds = datamod.load(prepared)
    out = l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--embeddings",
              backbone_out / "embeddings.jsonl", "--tasks", "listwise").stdout
    for r in records(out):
        target = ds.title(ds.test[r["user"]]["item"])
        history = r["input"].split("\n")[0]
        assert target not in history
        if target not in [t for _, t in r["candidates"]]:
            assert target not in r["input"].split("Similar User")[0]


def test_reachable_only_keeps_users_whose_target_is_a_candidate(prepared, backbone_out):
    ds = datamod.load(prepared)
    cands = {r["user"]: r["items"] for r in records(backbone_out / "candidates.jsonl") if r["split"] == "test"}
    out = l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--reachable-only",
              "--no-augment").stdout
    users = {r["user"] for r in records(out)}
    assert users == {u for u, items in cands.items() if ds.test[u]["item"] in items}


def test_pointwise_prompts_share_a_prefix(prepared, backbone_out):
    from l4r.prompts import render_prompt

    out = l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--embeddings",
              backbone_out / "embeddings.jsonl", "--tasks", "pointwise").stdout
    recs = [r for r in records(out) if r["user"] == "1"]
    assert len(recs) == 5 and len({render_prompt(r)[0] for r in recs}) == 1
    assert all(r["query"].startswith("Candidate Item:") for r in recs)


def test_shards_partition_the_prompts(prepared, backbone_out, tmp_path):
    args = ["prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--no-augment"]
    whole = records(l4r(*args).stdout)
    parts = [records(l4r(*args, "--shard", f"{k}/3").stdout) for k in range(3)]
    assert sorted(r["id"] for p in parts for r in p) == sorted(r["id"] for r in whole)
    # llm --shard splits the same way: dry runs of the shards add up to the whole
    path = tmp_path / "prompts.jsonl"
    path.write_text(l4r(*args).stdout)
    counts = [json.loads(l4r("llm", path, "--dry-run", "--shard", f"{k}/3").stderr.split("llm: ")[-1])["requests"]
              for k in range(3)]
    assert sum(counts) == len(whole) and all(c == len(p) for c, p in zip(counts, parts))


def test_aggregate_without_llm_keeps_backbone_order(prepared, backbone_out):
    out = l4r("aggregate", "", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl",
              "--scheme", "rec").stdout
    cands = {r["user"]: r["items"] for r in records(backbone_out / "candidates.jsonl") if r["split"] == "test"}
    preds = records(out)
    assert len(preds) == 40 and all(p["items"] == cands[p["user"]] for p in preds)


@pytest.mark.parametrize("args,code,message", [
    (["aggregate", "", "--mode", "bogus", "--candidates", "x"], 2, "--mode must be one of"),
    (["instruct", "--tasks", "nope"], 2, "unknown task"),
    (["prompt", "--split", "train"], 2, "--split must be valid, test or valid,test"),
    (["backbone", "--model", "nope", "--out", "x"], 2, "unknown backbone"),
    (["backbone", "--model", "mf", "--out", "x", "--hp", "dim"], 2, "--hp takes key=value, got 'dim'"),
    (["backbone", "--model", "mf", "--out", "x", "--hp", "dimm=8"], 2, "--hp dimm: unknown hyper-parameter for mf"),
    (["backbone", "--model", "sasrec", "--out", "x", "--hp", "lr=fast"], 2, "--hp lr=fast: sasrec expects a number"),
    (["backbone", "--model", "lightgcn", "--out", "x", "--hp", "layers=2.5"], 2, "--hp layers=2.5: lightgcn expects an "
     "integer"),
    (["backbone", "--model", "deepfm", "--out", "x", "--hp", "hidden=big"], 2, "--hp hidden=big: deepfm expects "
     "comma-separated layer sizes"),
    (["llm", "missing.jsonl"], 2, "missing.jsonl: no such file"),
    (["prep", "--raw", "/nonexistent", "--out", "x"], 2, "/nonexistent: no such file or folder; put u.data"),
])
def test_cli_usage_errors(args, code, message, tmp_path):
    proc = l4r(*args, check=False)
    assert proc.returncode == code and message in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_bad_record_is_exit_1_with_file_line_field(tmp_path, prepared, backbone_out):
    bad = tmp_path / "completions.jsonl"
    bad.write_text('{"id": "a", "task": "listwise", "user": "1", "text": "x", "status": "ok"}\n'
                   '{"id": "b", "task": "listwise", "text": "x", "status": "ok"}\n')
    out = tmp_path / "pred.jsonl"
    proc = l4r("aggregate", bad, "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "-o", out,
               check=False)
    assert proc.returncode == 1
    assert f"{bad}:2: user: missing" in proc.stderr
    assert not out.exists()


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, l4r.cli; sys.argv=['l4r','--help'];\ntry: l4r.cli.main()\nexcept SystemExit: pass\n" \
           "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip().endswith("False")


def test_recbole_atomic_files_give_the_same_split(raw_tiny, prepared, tmp_path):
    """RecBole's copy of ML-100K (the offline fallback) must split exactly like GroupLens' files."""
    folder = tmp_path / "recbole-ml-100k"
    folder.mkdir()
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    inter += (raw_tiny / "u.data").read_text().splitlines()
    (folder / "ml-100k.inter").write_text("\n".join(inter) + "\n")
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for line in (raw_tiny / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        items.append(f"{parts[0]}\t{parts[1][:-7]}\t{parts[1][-5:-1]}\tDrama")
    (folder / "ml-100k.item").write_text("\n".join(items) + "\n")
    out = tmp_path / "data"
    stats = json.loads(l4r("prep", "--dataset", "recbole", "--raw", folder, "--out", out).stdout)
    ours = json.loads((prepared / "stats.json").read_text())
    assert stats["split_hash"] == ours["split_hash"]
    assert (out / "items.jsonl").read_text().count("(19") == (prepared / "items.jsonl").read_text().count("(19")


def test_refit_serves_test_from_a_model_trained_on_train_and_valid(prepared, tmp_path):
    out = tmp_path / "mf"
    l4r("backbone", "--model", "mf", "--data", prepared, "--out", out, "--hp", "epochs=6", "--hp", "dim=8", "--refit")
    meta = json.loads((out / "meta.json").read_text())
    assert 1 <= meta["refit_epochs"] <= 6 and meta["patience"] == PATIENCE
    ds = datamod.load(prepared)
    for rec in records(out / "candidates.jsonl"):
        seen = {e["item"] for e in ds.history(rec["user"], rec["split"])}
        assert not seen & set(rec["items"])


def test_two_identical_backbone_runs_write_identical_files(prepared, tmp_path):
    """Same data, model and seed: candidates, embeddings and model.pt are byte for byte the same
    (model.pt's zip holds no temp-file name), top-k and rating families alike."""
    for model in ("mf", "deepfm"):
        outs = [tmp_path / f"{model}-{i}" for i in (1, 2)]
        for out in outs:
            l4r("backbone", "--model", model, "--data", prepared, "--out", out, "--hp", "epochs=3", "--seed", "5")
        for name in ("model.pt", "embeddings.jsonl", "candidates.jsonl" if model == "mf" else "predictions.jsonl"):
            assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), (model, name)
