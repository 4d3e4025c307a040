"""End to end: every stage on the tiny fixture with a tiny local Llama, through the Makefile and
through shell pipes; resume of the llm stage; the reachable-only shortcut gives identical metrics."""
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from conftest import l4r

REPO = Path(__file__).resolve().parents[1]


def records(path):
    return [orjson.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_make_all_runs_every_stage(raw_tiny, tiny_llm, tmp_path):
    out = tmp_path / "out"
    cmd = ["make", "-C", str(REPO), "all", f"OUT={out}", f"RAW={raw_tiny}", f"LLM={tiny_llm}", f"PY={sys.executable}",
           "INSTRUCTIONS=8", "AUG_USERS=12", "K=5", "LLM_BATCH=8",
           "FT_ARGS=--epochs 1 --batch-size 4 --micro-batch 2 --max-len 384 --warmup 1 --lr 1e-3 --no-grad-checkpointing",
           "BACKBONE_ARGS=--hp epochs=5 --hp dim=16"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    b = out / "mf"
    table = (b / "results.md").read_text()
    for row in ("| ours | Base |", "| ours | IFT |", "| ours | Llama4Rec |", "| paper | Base |", "| **total** |"):
        assert row in table, table
    assert table in proc.stdout
    # the DeepSpeed runs saved loadable models, and augmentation fed the retrained backbone
    for name in ("llm-ift", "llm-l4r"):
        assert (b / name / "model.safetensors").exists() and (b / name / "train_meta.json").exists()
    import json

    triples = records(b / "triples.jsonl")
    assert json.loads((b / "aug" / "meta.json").read_text())["extra_triples"] == len(triples)
    stats = json.loads((b / "completions-l4r.jsonl.stats.json").read_text())
    assert stats["prompts"] == len(records(b / "prompts-l4r.jsonl"))
    assert sum(stats["status"].values()) == stats["prompts"]
    stages = [r["stage"] for r in records(b / "timings.jsonl")]
    assert {"prep", "backbone", "finetune-l4r", "augment", "llm-l4r"} <= set(stages)
    # a second make does nothing: every finished stage is a file
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "finetune" not in again.stderr
    # the same command into another folder reproduces every model, answer and metric byte for byte
    out2 = tmp_path / "out2"
    rerun = subprocess.run([a if not a.startswith("OUT=") else f"OUT={out2}" for a in cmd], capture_output=True,
                           text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    for name in ("base/model.pt", "llm-ift/model.safetensors", "llm-l4r/model.safetensors", "triples.jsonl",
                 "aug/model.pt", "completions-ift.jsonl", "completions-l4r.jsonl", "metrics-base.jsonl",
                 "metrics-ift.jsonl", "metrics-l4r.jsonl", "per-user-l4r.jsonl"):
        assert (b / name).read_bytes() == (out2 / "mf" / name).read_bytes(), name


@pytest.mark.parametrize("task,backbone,aug", [("sequential", "sasrec", "sequences.jsonl"),
                                               ("rating", "deepfm", "attributes.jsonl")])
def test_make_all_other_scenarios(task, backbone, aug, raw_tiny, tiny_llm, tmp_path):
    out = tmp_path / "out"
    cmd = ["make", "-C", str(REPO), "all", f"TASK={task}", f"BACKBONE={backbone}", f"OUT={out}", f"RAW={raw_tiny}",
           f"LLM={tiny_llm}", f"PY={sys.executable}", "INSTRUCTIONS=6", "AUG_USERS=8", "AUG_ITEMS=10", "K=5",
           "FT_ARGS=--epochs 1 --batch-size 4 --micro-batch 2 --max-len 384 --warmup 1 --lr 1e-3 --no-grad-checkpointing",
           "BACKBONE_ARGS=--hp epochs=3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = (out / backbone / "results.md").read_text()
    cols = "RMSE | MAE" if task == "rating" else "HR@3 | NDCG@3"
    assert cols in table and "| ours | Llama4Rec |" in table and "| paper |" in table, table
    assert (out / backbone / aug).exists()


def test_pipe_of_stages_with_resume(prepared, backbone_out, tiny_llm, tmp_path):
    cands = backbone_out / "candidates.jsonl"
    prompts = tmp_path / "prompts.jsonl"
    l4r("prompt", "--data", prepared, "--candidates", cands, "--embeddings", backbone_out / "embeddings.jsonl",
        "--tasks", "listwise,pointwise", "-o", prompts)
    out = tmp_path / "completions.jsonl"
    first = l4r("llm", prompts, "--model", tiny_llm, "--batch-size", "4", "--max-new-tokens", "24", "-o", out)
    full = records(out)
    assert [c["id"] for c in full] == [p["id"] for p in records(prompts)]
    assert "hallucinated" in first.stderr
    # interrupt: keep a third of the answers as the partial file, then rerun
    partial = Path(str(out) + ".partial")
    partial.write_text("".join(orjson.dumps(c).decode() + "\n" for c in full[: len(full) // 3]) + '{"id": "torn')
    out.unlink()
    again = l4r("llm", prompts, "--model", tiny_llm, "--batch-size", "4", "--max-new-tokens", "24", "-o", out)
    assert f"resuming: {len(full) // 3} answered" in again.stderr
    assert [c["id"] for c in records(out)] == [c["id"] for c in full] and not partial.exists()
    # the rest of the pipe, through stdin/stdout
    shell = (f"{sys.executable} -m l4r aggregate {out} --data {prepared} --candidates {cands} --mode pointwise "
             f"| {sys.executable} -m l4r eval --data {prepared} --k 3,5")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    metrics = {r["metric"]: r["value"] for r in map(orjson.loads, proc.stdout.splitlines()) if not r["group"]}
    assert set(metrics) == {"HR@3", "NDCG@3", "HR@5", "NDCG@5"}


def test_reachable_only_gives_identical_metrics(prepared, backbone_out, tiny_llm, tmp_path):
    cands = backbone_out / "candidates.jsonl"
    values = []
    for flag in ([], ["--reachable-only"]):
        p = tmp_path / f"p{len(flag)}.jsonl"
        c = tmp_path / f"c{len(flag)}.jsonl"
        l4r("prompt", "--data", prepared, "--candidates", cands, "--tasks", "pointwise", "-o", p, *flag)
        l4r("llm", p, "--model", tiny_llm, "--batch-size", "5", "-o", c)
        pred = tmp_path / f"pred{len(flag)}.jsonl"
        l4r("aggregate", c, "--data", prepared, "--candidates", cands, "--mode", "pointwise", "--alpha1", "0.9",
            "-o", pred)
        values.append(l4r("eval", pred, "--data", prepared, "--k", "1,3,5").stdout)
    assert len(records(tmp_path / "p1.jsonl")) < len(records(tmp_path / "p0.jsonl"))
    assert values[0] == values[1]
