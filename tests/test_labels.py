"""Ranking by label probabilities (one forward pass), exact scoring of multi-token choices, the
rating scale, resume after a torn write, and no target leakage into training candidates."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import l4r
from l4r.backends.hf import HFBackend
from l4r.prompts import candidate_line, labels, render_prompt
from l4r import answering as stage

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def engine(tiny_llm):
    return HFBackend(str(tiny_llm), device="cpu", dtype="float32")   # exact comparisons below


@pytest.fixture(scope="module")
def digits_engine(tmp_path_factory):
    from l4r.tiny import build

    path = build(tmp_path_factory.mktemp("digits") / "tiny", split_digits=True, seed=3)
    return HFBackend(str(path), device="cpu", dtype="float32")


def full_logprobs(engine, ids):
    with torch.no_grad():
        return engine.model(torch.tensor([ids])).logits[0, -1].float().log_softmax(-1)


def test_labels_are_short_and_distinct():
    assert labels(3) == ["A", "B", "C"] and labels(53)[-2:] == ["z", "AA"]
    assert len(set(labels(200))) == 200
    assert candidate_line(["X (1995)", "Y"], ["A", "B"]) == "Candidate Items: A. X (1995); B. Y"


def test_label_scoring_is_the_softmax_over_label_logits(engine):
    texts = ["### Input:\nCandidate Items: A. Star 1; B. Night 2; C. River 3\n\n### Response:\n",
             "### Input:\nsomething longer here about B. Night 2 and more\n\n### Response:\n"]
    tags = ["A", "B", "C"]
    got = engine.score(texts, ["", ""], tags)
    for text, ans in zip(texts, got):
        lp = full_logprobs(engine, engine.tok.encode(text, add_special_tokens=False))
        ids = [engine.tok.encode(t, add_special_tokens=False)[0] for t in tags]
        assert ans.probs == pytest.approx(lp[ids].softmax(-1).tolist(), abs=1e-5)
        assert ans.prompt_tokens == len(engine.tok.encode(text, add_special_tokens=False))
        assert ans.text == tags[max(range(3), key=ans.probs.__getitem__)]


def test_shared_prefix_scoring_equals_scoring_each_text(engine):
    prefix, suffixes = "Rating History: Star 1: 4; Night 2: 3", ["\nCandidate Item: River 3\n", "\nCandidate Item: King 9\n"]
    choices = [str(i) for i in range(1, 6)]
    shared = engine.score([prefix, prefix], suffixes, choices)
    alone = [engine.score([prefix + s], [""], choices)[0] for s in suffixes]
    for a, b in zip(shared, alone):
        assert a.probs == pytest.approx(b.probs, abs=1e-4)


def test_ten_is_scored_exactly_when_digits_split(digits_engine):
    e = digits_engine
    assert len(e.tok.encode("10", add_special_tokens=False)) == 2
    text = "Predict the rating. Rating History: Star 1: 4\n\n### Response:\n"
    choices = [str(i) for i in range(1, 11)]
    (ans,) = e.score([text], [""], choices)
    ids = e.tok.encode(text, add_special_tokens=False)
    one, zero = (e.tok.encode(d, add_special_tokens=False)[0] for d in "10")
    first, after_one = full_logprobs(e, ids), full_logprobs(e, ids + [one])
    goes_on = [i for i in range(len(e.tok)) if e.tok.decode([i])[:1] == "0"]
    logp = [float(first[e.tok.encode(c, add_special_tokens=False)[0]]) for c in choices]
    logp[0] += math.log(1 - float(after_one[goes_on].exp().sum()))        # "1" and stop
    logp[9] = float(first[one] + after_one[zero])                          # "1" then "0"
    top = max(logp)
    want = [math.exp(v - top) for v in logp]
    assert ans.probs == pytest.approx([w / sum(want) for w in want], abs=1e-5)
    assert ans.probs[9] > 0 and sum(ans.probs) == pytest.approx(1.0)


def brute_force(e, text, choices):
    """Each choice's probability from one full forward pass per token prefix (the definition)."""
    ids = e.tok.encode(text, add_special_tokens=False)
    toks = {c: e.tok.encode(c, add_special_tokens=False) for c in choices}
    logp = []
    for c in choices:
        t = toks[c]
        v = sum(float(full_logprobs(e, ids + t[:j])[t[j]]) for j in range(len(t)))
        more = {o[len(c)] for o in choices if o != c and o.startswith(c)}
        if more:
            after = full_logprobs(e, ids + t)
            goes_on = [i for i in range(len(e.tok)) if e.tok.decode([i])[:1] in more]
            v += math.log(1 - float(after[goes_on].exp().sum()))
        logp.append(v)
    top = max(logp)
    want = [math.exp(v - top) for v in logp]
    return [w / sum(want) for w in want]


@pytest.mark.parametrize("choices", [[str(i) for i in range(1, 11)], ["1", "2", "10", "20", "21"]])
def test_multi_token_choices_in_a_batch_match_one_pass_per_prefix(digits_engine, choices):
    """Texts of different lengths, alone and sharing a prefix, with one token-tree branch (1-10) or
    several (10, 20, 21): each row's answer equals the brute-force definition."""
    e = digits_engine
    pre = "Rating History: Star 1: 4; Night 2: 3"
    sufs = ["\nCandidate Item: River 3\n\n### Response:\n", "\nCandidate Item: King\n\n### Response:\n"]
    alone = ["Predict. History: a long one, Star 1: 4; Night 2: 3; Moon 7: 5\n\n### Response:\n", "Short:\n"]
    got = e.score([pre, pre] + alone, sufs + ["", ""], choices)
    for text, ans in zip([pre + s for s in sufs] + alone, got):
        assert ans.probs == pytest.approx(brute_force(e, text, choices), abs=1e-5)
    plan = e.plan(choices)
    assert len(plan["leaves"]) == (1 if len(choices) == 10 else 2)


def labelled_prompt(task, names, tag_list=None):
    tag_list = tag_list or labels(len(names))
    cands = [[str(i + 1), n] for i, n in enumerate(names)]
    return {"id": f"x:{task}", "task": task, "user": "1", "split": "test", "instruction": "Pick one.",
            "input": "Interaction History: Star 1\n" + candidate_line(names, tag_list), "query": "",
            "candidates": cands, "labels": tag_list, "answer": "labels"}


def test_pairwise_averages_both_orders(engine):
    p = labelled_prompt("pairwise", ["Star 1 (1950)", "Night 2 (1951)"])
    (rec,) = stage.rank_one(engine, [p], 1)
    swapped = {**p, "input": "Interaction History: Star 1\n" + candidate_line(["Night 2 (1951)", "Star 1 (1950)"],
                                                                               ["A", "B"])}
    a = engine.score(["".join(render_prompt(p))], [""], ["A", "B"])[0].probs
    b = engine.score(["".join(render_prompt(swapped))], [""], ["A", "B"])[0].probs
    want = {"1": (a[0] + b[1]) / 2, "2": (a[1] + b[0]) / 2}
    assert dict(zip(rec["items"], rec["probs"])) == pytest.approx(want, abs=1e-5)
    assert rec["items"][0] == max(want, key=want.get) and rec["status"] == "ok"


def test_permutations_average_cyclic_shifts(engine):
    names = [f"Title {i}" for i in range(6)]
    p = labelled_prompt("listwise", names)
    assert stage.shifts(6, "listwise", 1) == [0] and stage.shifts(6, "listwise", 3) == [0, 2, 4]
    assert stage.shifts(2, "pairwise", 1) == [0, 1] and stage.shifts(3, "listwise", 9) == [0, 1, 2]
    (one,) = stage.rank_one(engine, [p], 1)
    (three,) = stage.rank_one(engine, [p], 3)
    assert sorted(one["items"]) == sorted(three["items"]) == [str(i) for i in range(1, 7)]
    assert sum(three["probs"]) == pytest.approx(1.0, abs=1e-4)
    mass = {}
    for pre, suf, items in stage.variants(p, 3):
        for item, q in zip(items, engine.score([pre + suf], [""], labels(6))[0].probs):
            mass[item] = mass.get(item, 0) + q / 3
    assert dict(zip(three["items"], three["probs"])) == pytest.approx(mass, abs=1e-5)


def test_labels_need_labelled_prompts():
    p = labelled_prompt("listwise", ["A x", "B y"])
    bare = {k: v for k, v in p.items() if k != "labels"}
    assert stage.how(p, "auto") == "labels" and stage.how(p, "titles") == "generate"
    assert stage.how(bare, "auto") == "generate"
    with pytest.raises(Exception, match="--answer labels needs labelled candidates"):
        stage.how(bare, "labels")


def test_generated_label_answers_are_parsed():
    p = labelled_prompt("listwise", ["Star 1", "Night 2", "River 3"])
    got = stage.parse_answer(p, "C; A. Star 1; Nope; A")
    assert got["items"] == ["3", "1"] and got["hallucinated"] == 1 and got["duplicates"] == 1


def test_torn_partial_line_is_cut_and_asked_again(tmp_path):
    part = tmp_path / "c.jsonl.partial"
    good = json.dumps({"id": "a", "task": "listwise", "user": "1", "text": "", "status": "ok"}) + "\n"
    failed = json.dumps({"id": "b", "task": "listwise", "user": "2", "text": "", "status": "failed",
                         "error": "x"}) + "\n"
    part.write_text(good + failed + '{"id": "c", "task": "li')
    done = stage.load_done(part)
    assert list(done) == ["a"]                       # the failed one is asked again, the torn one too
    assert part.read_text() == good + failed         # appending continues after the last whole line


def test_llm_stage_ranks_labelled_prompts_end_to_end(prepared, backbone_out, tiny_llm, tmp_path):
    prompts = tmp_path / "p.jsonl"
    l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--embeddings",
        backbone_out / "embeddings.jsonl", "--split", "valid,test", "-o", prompts)
    first = json.loads(prompts.read_text().splitlines()[0])
    assert first["labels"] == labels(5) and "A. " in first["input"] and "letters" in first["instruction"]
    out = tmp_path / "c.jsonl"
    proc = l4r("llm", prompts, "--model", tiny_llm, "--permutations", "2", "-o", out)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert recs and all(r["status"] == "ok" and len(r["items"]) == 5 and len(set(r["items"])) == 5 for r in recs)
    assert all(r["probs"] == sorted(r["probs"], reverse=True) for r in recs)
    stats = json.loads((tmp_path / "c.jsonl.stats.json").read_text())
    assert stats["answer"] == {"labels": len(recs)} and stats["prompt_tokens"] > 0
    assert stats["hallucinated"] == stats["duplicates"] == 0
    assert "ETA" in proc.stderr
    preds = l4r("aggregate", out, "--data", prepared, "--candidates", backbone_out / "candidates.jsonl",
                "--utility", "score").stdout
    assert preds.count("\n") > 0


def test_bookcrossing_prompts_use_its_1_to_10_scale(tmp_path):
    from raw_fixtures import root

    raw = root() / "bookcrossing-tiny"
    data = tmp_path / "data"
    l4r("prep", "--dataset", "bookcrossing", "--raw", raw, "--out", data, "--offline", "--core", "2")
    assert json.loads((data / "stats.json").read_text())["rating_scale"] == [1, 10]
    l4r("backbone", "--model", "deepfm", "--data", data, "--out", tmp_path / "fm", "--hp", "epochs=2")
    prompts = l4r("prompt", "--data", data, "--tasks", "rating", "--rating-predictions",
                  tmp_path / "fm" / "predictions.jsonl").stdout.splitlines()
    rec = json.loads(prompts[0])
    assert rec["scale"] == [1, 10] and "from 1 to 10" in rec["instruction"]
    assert stage.scale_choices(rec) == [str(i) for i in range(1, 11)]


def test_training_candidates_come_from_a_model_without_the_target(prepared, tmp_path):
    """The train split's candidates are the top-k of a model trained on train minus each user's last
    item (the instruction target); retraining that model by hand gives the same lists."""
    from l4r import data as datamod
    from l4r.models import load_class, topk
    from l4r.stages.backbone import without_last

    out = tmp_path / "mf"
    l4r("backbone", "--model", "mf", "--data", prepared, "--out", out, "--hp", "epochs=6", "--hp", "dim=8", "--k", "5")
    meta = json.loads((out / "meta.json").read_text())
    ds = datamod.load(prepared)
    data = topk.from_dataset(ds)
    cls = load_class("mf")
    model, held = without_last(cls, data, meta["hp"], meta, 0)
    assert all(h == s[:-1] for h, s in zip(held.seqs, data.seqs))
    want = {ds.user_ids[u]: [ds.item_ids[i] for i in items] for u, items, _ in topk.rank(model, held, "valid", 5)}
    got = {r["user"]: r["items"] for r in map(json.loads, (out / "candidates.jsonl").read_text().splitlines())
           if r["split"] == "train"}
    assert got == want
    for user, items in got.items():   # the history (train minus the target) is masked, the target is not
        assert not set(items) & {e["item"] for e in ds.train[user][:-1]}


def test_an_engine_error_marks_its_batch_failed_and_the_rerun_finishes(engine, tiny_llm, tmp_path, monkeypatch):
    prompts = tmp_path / "p.jsonl"
    recs = [labelled_prompt("listwise", [f"Star {u}", f"Night {u}", f"River {u}"]) for u in range(4)]
    for u, r in enumerate(recs):
        r["id"], r["user"] = f"test:listwise:{u}", str(u)
    prompts.write_text("".join(json.dumps(r) + "\n" for r in recs))
    real, calls = HFBackend.score, []

    def once_out_of_memory(self, prefixes, suffixes, choices):
        calls.append(len(prefixes))
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(self, prefixes, suffixes, choices)

    monkeypatch.setattr(HFBackend, "score", once_out_of_memory)
    out = tmp_path / "c.jsonl"
    with pytest.raises(Exception, match=r"2 of 4 prompts failed \(first: test:listwise:0: RuntimeError: CUDA out"):
        stage.run(str(prompts), str(out), stage.Options(model=str(tiny_llm), batch_size=2))
    assert not out.exists() and calls == [2, 2]
    stage.run(str(prompts), str(out), stage.Options(model=str(tiny_llm), batch_size=2))
    assert calls == [2, 2, 2]                          # the rerun asked only the failed batch
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in got] == [r["id"] for r in recs] and all(r["status"] == "ok" for r in got)


def test_aggregate_counts_answers_it_cannot_use(prepared, backbone_out, tmp_path):
    cands = [json.loads(line) for line in (backbone_out / "candidates.jsonl").read_text().splitlines()]
    test = [c for c in cands if c["split"] == "test"]
    comps = [{"id": "a", "task": "listwise", "user": test[0]["user"], "split": "test", "text": "",
              "items": test[0]["items"][::-1], "status": "ok"},
             {"id": "b", "task": "listwise", "user": test[1]["user"], "split": "test", "text": "", "status": "failed",
              "error": "x"},
             {"id": "c", "task": "listwise", "user": test[2]["user"], "split": "test", "text": "?", "items": [],
              "status": "unparseable"},
             {"id": "d", "task": "listwise", "user": "no-such-user", "split": "test", "text": "",
              "items": ["1"], "status": "ok"}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in comps))
    proc = l4r("aggregate", path, "--data", prepared, "--candidates", backbone_out / "candidates.jsonl",
               "--scheme", "llm")
    preds = {p["user"]: p["items"] for p in map(json.loads, proc.stdout.splitlines())}
    assert preds[test[0]["user"]][0] == test[0]["items"][-1] and preds[test[1]["user"]] == test[1]["items"]
    assert ("aggregate: 1 users re-ranked by the LLM (listwise, llm, utility position); "
            f"{len(test) - 1} kept the backbone order; LLM answers not used, by reason: "
            "{'failed': 1, 'unparseable': 1, 'unknown user (no candidates)': 1}") in proc.stderr


def test_dtype_auto_picks_bfloat16_where_the_hardware_has_it(monkeypatch):
    from l4r.backends import hf

    assert hf.pick_dtype("float32", "cuda") == "float32" and hf.pick_dtype("bfloat16", "cpu") == "bfloat16"
    assert hf.pick_dtype("auto", "cuda:0") == "bfloat16"
    for has_bf16, want in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(hf, "cpu_bf16", lambda: has_bf16)
        assert hf.pick_dtype("auto", "cpu") == want


def test_kill_9_then_a_torn_line_then_resume_loses_and_repeats_nothing(prepared, backbone_out, tiny_llm, tmp_path):
    """A real SIGKILL during `l4r llm` (titles, so it runs long enough), then a torn line as a kill in
    mid-write leaves: the rerun cuts it, keeps every whole answer, asks only the rest, and ends with
    each prompt answered once, as an uninterrupted run answers it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    prompts = tmp_path / "p.jsonl"
    l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--answer", "titles",
        "--split", "valid,test", "-o", prompts)
    n = len(prompts.read_text().splitlines())
    out, partial = tmp_path / "c.jsonl", tmp_path / "c.jsonl.partial"
    args = [sys.executable, "-m", "l4r", "llm", str(prompts), "--model", str(tiny_llm), "--batch-size", "2",
            "--max-new-tokens", "16", "--dtype", "float32", "-o", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 4):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = partial.read_text().splitlines()
    assert 4 <= len(kept) < n and not out.exists()
    with open(partial, "a") as fh:
        fh.write('{"id": "test:listwise:7", "task": "lis')          # the torn write
    again = l4r(*args[3:])
    assert "torn last line" in again.stderr and f"resuming: {len(kept)} answered" in again.stderr
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in got] == [json.loads(line)["id"] for line in prompts.read_text().splitlines()]
    whole = tmp_path / "whole.jsonl"
    l4r(*args[3:-1], whole)
    assert out.read_text() == whole.read_text()


def test_candidates_outside_the_catalogue_are_an_error(prepared, backbone_out, tmp_path):
    lines = (backbone_out / "candidates.jsonl").read_text().splitlines()
    rec = json.loads(lines[4])
    rec["items"][2] = "99999"
    lines[4] = json.dumps(rec)
    bad = tmp_path / "cands.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    proc = l4r("prompt", "--data", prepared, "--candidates", bad, "--split", rec["split"] if rec["split"] != "train"
               else "test", check=False)
    if rec["split"] == "train":
        proc = l4r("instruct", "--data", prepared, "--candidates", bad, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().endswith(f"{bad}:5: items: item '99999' is not in the dataset's catalogue")


def test_repeated_prompt_ids_name_the_line_and_the_id(tmp_path):
    p = labelled_prompt("listwise", ["Star 1", "Night 2"])
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(p) + "\n\n" + json.dumps({**p, "user": "2"}) + "\n")
    proc = l4r("llm", path, "--model", "smollm2", "--dry-run", check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == (f"l4r: {path}:3: id: prompt id 'x:listwise' repeats (first at line 1); "
                                   "each prompt needs its own id")


def test_eta_weighs_prompts_by_the_work_they_cost():
    """A user's ten pointwise prompts share one prefix and cost about one listwise prompt, so the ETA
    of a run that starts with the listwise prompts is not ten times too long."""
    from l4r.answering import work

    history = "Rating History: " + "; ".join(f"Movie {i} (1990): 4" for i in range(10))
    listwise = {"id": "l", "task": "listwise", "instruction": "Rank.", "input": history + "\nCandidate Items: "
                + "; ".join(f"{t}. Movie {i} (1991)" for i, t in enumerate(labels(10))), "labels": labels(10)}
    points = [{"id": f"p{i}", "task": "pointwise", "instruction": "Rate.", "input": history,
               "query": f"Candidate Item: Movie {i} (1991)"} for i in range(10)]
    ways = {"l": "labels", **{p["id"]: "scale" for p in points}}
    cost = work([listwise, *points], ways, permutations=1, max_new_tokens=0)
    pointwise = sum(cost[p["id"]] for p in points)
    assert 0.5 * cost["l"] < pointwise < 2 * cost["l"]
    assert work([listwise], ways, permutations=3, max_new_tokens=0)["l"] == 3 * cost["l"]
    alone = work(points[:1], ways, permutations=1, max_new_tokens=0)["p0"]
    assert alone > 5 * cost["p0"]                       # unshared, the prefix is all its own


@pytest.mark.skipif(not __import__("l4r.backends.hf", fromlist=["cpu_bf16"]).cpu_bf16(),
                    reason="this CPU has no bf16 matrix instructions (the case where batches change answers)")
def test_a_resumed_bf16_run_writes_what_an_uninterrupted_run_writes(prepared, backbone_out, tiny_llm, tmp_path):
    """In bf16 a prompt's probabilities move with its batch (padding, kernels that round by shape), so a
    resume must batch as the first run did: answers kept from any subset of batches, the rest asked again,
    give the uninterrupted run's file byte for byte, ranking and rating prompts alike."""
    prompts = tmp_path / "p.jsonl"
    l4r("prompt", "--data", prepared, "--candidates", backbone_out / "candidates.jsonl", "--embeddings",
        backbone_out / "embeddings.jsonl", "--split", "valid,test", "--tasks", "listwise,pointwise", "-o", prompts)
    args = ["llm", prompts, "--model", tiny_llm, "--batch-size", "4", "--dtype", "bfloat16"]
    whole, out = tmp_path / "whole.jsonl", tmp_path / "c.jsonl"
    l4r(*args, "-o", whole)
    full = whole.read_text().splitlines()
    kept = full[::3]                                     # cuts through batches: each batch is partly answered
    Path(str(out) + ".partial").write_text("".join(line + "\n" for line in kept))
    again = l4r(*args, "-o", out)
    assert f"resuming: {len(kept)} answered, {len(full) - len(kept)} to go" in again.stderr
    assert out.read_text() == whole.read_text()


def vllm_like(e, ids, rows, k):
    """What vLLM returns for each request text+row with prompt_logprobs=k and logprobs=k, from the hf
    model's full distributions: at each prompt position its top k and the prompt token's own, and the
    top k of the one generated step."""
    from types import SimpleNamespace

    def step(lp, own):
        keep = set(lp.topk(k).indices.tolist()) | ({own} if own is not None else set())
        return {t: SimpleNamespace(logprob=float(lp[t])) for t in keep}

    outs = []
    for row in rows:
        full = ids + list(row)
        with torch.no_grad():
            lp = e.model(torch.tensor([full])).logits[0].float().log_softmax(-1)
        prompt = [None] + [step(lp[j - 1], full[j]) for j in range(1, len(full))]
        outs.append(SimpleNamespace(prompt_logprobs=prompt, outputs=[SimpleNamespace(logprobs=[step(lp[-1], None)])]))
    return outs


@pytest.mark.parametrize("choices", [[str(i) for i in range(1, 11)], ["1", "2", "10", "20", "21"]])
def test_vllm_scores_multi_token_choices_from_prompt_logprobs_as_hf_does(digits_engine, choices):
    """The vLLM backend's reading of prompt logprobs (top 2 per position plus the prompt's own token)
    gives the hf backend's exact probabilities where digits are single tokens."""
    from l4r.backends.vllm import choice_rows, exact_distribution, read_rows

    e = digits_engine
    plan = choice_rows(choices, lambda c: e.tok.encode(c, add_special_tokens=False), e.first_chars)
    assert len(plan["rows"]) == (9 if len(choices) == 10 else 3)      # 2..9 and 10; or 10, 20, 21
    for text in ("Predict the rating. Rating History: Star 1: 4\n\n### Response:\n", "Short:\n"):
        ids = e.tok.encode(text, add_special_tokens=False)
        seen = read_rows(vllm_like(e, ids, plan["rows"], k=2), len(ids), plan["rows"])
        (want,) = e.score([text], [""], choices)
        assert exact_distribution(plan, seen) == pytest.approx(want.probs, abs=1e-5)
