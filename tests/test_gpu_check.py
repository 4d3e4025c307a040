"""benchmarks/gpu_check.sh in MODE=cpu: every part (random model, `l4r llm` labels / pointwise / titles,
`l4r finetune` under torchrun with DeepSpeed ZeRO-3) runs on a tiny Llama with the committed ML-100K
inputs, and the results land in OUT/gpu_check.jsonl and OUT/gpu_check.md. No GPU, no network."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env.update(MODE="cpu", OUT=str(tmp_path / "out"), WORK=str(tmp_path / "work"), N="2", FT_STEPS="1",
               MAX_NEW="4", OMP_NUM_THREADS="1", BUDGET_S="150")
    proc = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_check.sh")], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    recs = {r["part"]: r for r in map(json.loads, (tmp_path / "out/gpu_check.jsonl").read_text().splitlines())}
    assert recs["env"]["mode"] == "cpu" and recs["env"]["measured_peak_tflops"] > 0
    assert recs["model"]["layers"] == 2 and recs["model"]["attention"] == "sdpa"
    for part in ("labels", "pointwise", "titles"):
        r = recs[part]
        assert (r["status"], r["prompts"]) == ("ok", 2), r
        assert r["prompts_per_s"] > 0 and r["pct_measured_peak"] > 0 and "--device cpu" in r["command"]
    assert recs["titles"]["completion_tokens"] > 0
    ft = recs["finetune"]
    if importlib.util.find_spec("deepspeed"):
        assert (ft["status"], ft["steps"], ft["zero_stage"]) == ("ok", 1, 3), ft
        assert ft["tokens_per_s"] > 0 and ft["projected_h_16gpu"] > 0
    else:
        assert ft["status"] == "skipped" and "deepspeed" in ft["note"]
    md = (tmp_path / "out/gpu_check.md").read_text()
    for part in ("| labels |", "| pointwise |", "| titles |", "| finetune |", "17 instructions/s", "1.94 h"):
        assert part in md
    assert not list((tmp_path / "work").glob("ft"))  # the fine-tuned copy is removed after its part
