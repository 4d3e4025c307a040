"""float32 vs bfloat16 on this CPU: a square matmul, and `l4r llm`'s label scoring of labelled prompts.

    flock /tmp/l4r-cpu.lock python benchmarks/dtype_speed.py out/ml-100k/mf/prompts-l4r.jsonl out/ml-100k/mf/llm-l4r

Prints a markdown table: GFLOP/s of a 2048x2048 matmul, label-scoring prompts/s (the first --n prompts,
batches of 16, after one warm-up batch), and the top label probabilities of the first prompt in each
dtype (how far bf16 moves them). `l4r llm --dtype auto` picks bf16 where the CPU has AMX-BF16.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gflops(torch, dtype, n=2048, reps=10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.time()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.time() - t) / 1e9


def scoring(model: str, prompts: list[dict], dtype: str) -> tuple[float, list[float]]:
    from l4r.backends.hf import HFBackend
    from l4r.prompts import render_prompt

    engine = HFBackend(model, device="cpu", dtype=dtype)
    texts, tags = ["".join(render_prompt(p)) for p in prompts], prompts[0]["labels"]
    engine.score(texts[:4], [""] * 4, tags)
    t = time.time()
    answers = []
    for i in range(0, len(texts), 16):
        answers += engine.score(texts[i:i + 16], [""] * len(texts[i:i + 16]), tags)
    return len(texts) / (time.time() - t), answers[0].probs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prompts", type=Path, help="labelled listwise prompts (l4r prompt --answer labels)")
    ap.add_argument("model", help="the LLM (a tuned folder or smollm2)")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    prompts = [p for p in map(json.loads, a.prompts.read_text().splitlines()) if p.get("labels")][: a.n]
    print(f"{a.threads} torch threads, {len(prompts)} prompts, load before {os.getloadavg()[0]:.2f}\n")
    print("| dtype | matmul GFLOP/s | label scoring prompts/s | top-4 label probabilities, first prompt |")
    print("|---|---:|---:|---|")
    for name in ("float32", "bfloat16"):
        speed, probs = scoring(a.model, prompts, name)
        print(f"| {name} | {gflops(torch, getattr(torch, name)):.0f} | {speed:.2f} | "
              f"{', '.join(f'{p:.3f}' for p in probs[:4])} |")


if __name__ == "__main__":
    main()
