"""`make experiment` end to end on the tiny fixture with a tiny local Llama: every section of the
report has numbers; the validation-selected setting is the one applied to test; a second run
recomputes nothing, and a fresh output folder restores the kept cells (KEEP) without rerunning any.
Also the selection module on its own and l4r.keep."""
import json
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from conftest import l4r

from l4r.stages import select

REPO = Path(__file__).resolve().parents[1]
FT = "--epochs 1 --batch-size 4 --micro-batch 2 --max-len 384 --warmup 1 --lr 1e-3 --no-grad-checkpointing"
SECTIONS = ["Main results", "Ablation", "Hyper-parameters", "Scaling", "Long tail", "Cost", "Rounds"]


def records(path):
    return [orjson.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def sections(report: str) -> dict[str, str]:
    """'## Title' -> the text up to the next '## '."""
    parts = re.split(r"^## ", report, flags=re.M)[1:]
    return {p.splitlines()[0]: p for p in parts}


def test_make_experiment_writes_every_section(raw_tiny, tiny_llm, tmp_path):
    out = tmp_path / "out"
    kept = tmp_path / "kept"
    cmd = ["make", "-C", str(REPO), "experiment", f"OUT={out}", f"RAW={raw_tiny}", f"LLM={tiny_llm}", f"KEEP={kept}",
           f"PY={sys.executable}", "TASKS=direct rating", "DIRECT_BACKBONES=mf", "RATING_BACKBONES=deepfm",
           "ABLATE=mf deepfm", "SEEDS=1", "ROUNDS=2", "SCALE_INSTRUCTIONS=4 6", f"SCALE_LLMS={tiny_llm}",
           "INSTRUCTIONS=6", "AUG_USERS=8", "AUG_ITEMS=10", "K=5", "LLM_BATCH=8", f"FT_ARGS={FT}",
           "BACKBONE_ARGS=--hp epochs=3 --hp dim=16"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = (out / "report.md").read_text()
    found = sections(report)
    for name in SECTIONS:
        title = next((t for t in found if t.startswith(name)), None)
        assert title, f"no section {name!r} in:\n{report}"
        assert re.search(r"\| \**\d+\.\d+", found[title]), f"section {title!r} has no numbers:\n{found[title]}"
    cell = out / "exp" / "direct" / "mf" / "s0"
    # the setting chosen on validation is the one the test predictions used
    chosen = json.loads((cell / "selected-l4r.json").read_text())
    assert (cell / "selected-l4r.args").read_text().split() == [
        "--mode", chosen["mode"], "--utility", chosen["utility"], "--alpha1", str(chosen["alpha1"]),
        "--alpha2", str(chosen["alpha2"])]
    grid = records(cell / "grid-l4r.jsonl")
    # 2 splits x 2 modes x 2 utilities (position; the LLM's log p / expected rating) x 5 x 5 alphas
    assert {r["split"] for r in grid} == {"valid", "test"} and len(grid) == 2 * 2 * 2 * 25
    assert {r["utility"] for r in grid} == {"position", "score"}
    tested = next(r for r in grid if r["split"] == "test" and r["mode"] == chosen["mode"]
                  and r["utility"] == chosen["utility"]
                  and (r["alpha1"], r["alpha2"]) == (chosen["alpha1"], chosen["alpha2"]))
    metrics = {r["metric"]: r["value"] for r in records(cell / "metrics-l4r.jsonl") if r["group"] is None}
    assert abs(metrics["NDCG@5"] - tested["metrics"]["NDCG@5"]) < 1e-6
    # ablations, rounds and scaling cells exist
    for name in ("noda", "nopa", "uniform", "aug"):
        assert (cell / f"metrics-{name}.jsonl").exists(), name
    assert (cell / "round2" / "metrics-l4r.jsonl").exists()
    assert len(records(cell / "round2" / "triples.jsonl")) >= len(records(cell / "triples.jsonl"))
    assert (out / "exp" / "rating" / "deepfm" / "s0" / "metrics-l4r-greedy.jsonl").exists()
    # resumable: a second run finds every cell done
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "finetune" not in again.stderr and "cell" not in again.stdout
    # a missing cell is made even when the report already exists and looks newer (here: restored from KEEP)
    (cell / "cell.done").unlink()
    (out / "report.md").touch()
    missing = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 0 and "restored" in missing.stderr and (cell / "cell.done").exists()
    # kept: the report's inputs only (no models, data, prompts or completions); a fresh OUT restores them
    names = {p.name for p in kept.rglob("*") if p.is_file()}
    assert "metrics-l4r.jsonl" in names and "grid-l4r.jsonl" in names and "timings.jsonl" in names
    assert not [n for n in names if n.startswith(("completions-", "prompts-", "pred-")) and n.endswith(".jsonl")]
    assert not [n for n in names if n.endswith((".safetensors", ".bin", ".pt"))]
    assert (kept / "direct" / "mf" / "s0" / "round2" / "metrics-l4r.jsonl").exists()
    moved = [a.replace(f"OUT={out}", f"OUT={tmp_path / 'moved'}") for a in cmd]
    restored = subprocess.run(moved, capture_output=True, text=True, timeout=300)
    assert restored.returncode == 0, restored.stderr[-4000:]
    assert "restored" in restored.stderr and "[l4r] finetune" not in restored.stderr
    assert "backbone --model" not in restored.stdout and "prep" not in restored.stdout
    assert (tmp_path / "moved" / "report.md").read_text() == report.replace(str(out), str(tmp_path / "moved"))
    # a kept cell made under other settings (here: mf's cell without its ablation) is refused, not mixed in
    other = [a.replace(f"OUT={out}", f"OUT={tmp_path / 'other'}").replace("ABLATE=mf deepfm", "ABLATE=deepfm")
             for a in cmd]
    other = subprocess.run(other, capture_output=True, text=True, timeout=300)
    assert other.returncode != 0 and "kept under other settings" in other.stderr and "ABLATION=0" in other.stderr


def test_make_study_settings_and_report_place():
    """`make study` (dry run): each dataset's CPU-sized settings; with the default OUT the report and
    figures go to docs/ and the cells to results/, a partial ML-1M copy named apart from the full one."""
    def dry(*args):
        return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), "-n", "study", *args], capture_output=True, text=True,
                              timeout=60)
    ml1m = dry("DATASET=ml-1m", "RAW=../shared/data/raw/ml-1m-partial").stdout.splitlines()[0]
    assert "TASKS=direct DIRECT_BACKBONES=mf ABLATE= SEEDS=1" in ml1m
    assert "REPORT=docs/report-ml-1m-half.md FIGURES=docs/figures/ml-1m-half" in ml1m
    books = dry("DATASET=bookcrossing", "OUT=/tmp/l4r-elsewhere").stdout.splitlines()[0]
    assert 'TASKS="direct rating"' in books and "REPORT=" not in books   # another OUT: report stays in OUT
    bad = dry("DATASET=nope")
    assert bad.returncode != 0 and "no CPU-sized study for DATASET=nope" in bad.stderr
