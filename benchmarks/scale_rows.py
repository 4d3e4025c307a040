"""Scoring a 1-10 rating scale: one row per token prefix (the layout before; "10" is "1","0", so two
rows per prompt) against one row per branch of the choices' token tree (the prompt plus "1", logits
kept at both positions: one row per prompt), on real rating prompts, in one process.

    flock /tmp/l4r-cpu.lock python benchmarks/scale_rows.py \\
        out/bookcrossing/exp/rating/deepfm/s0/prompts-ift.jsonl out/bookcrossing/exp/rating/deepfm/s0/llm-ift

Prints a markdown table: prompts/s of each layout over the first --n prompts, as `l4r llm` batches them
(`score_plan` and `score_one`, batches of 16, after one warm-up batch; the two layouts alternate --reps times), and
the largest difference between their probabilities, and, for scale, between two batchings of the same
layout (batches of 16 against 8: the same numbers, only the padding differs). In float32 both are
rounding (about 1e-5); in bfloat16 (`--dtype auto` on a CPU with bf16 matmuls) a different batch
moves a probability by up to a few hundredths either way.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def one_row_per_prefix(plan: dict) -> dict:
    """The plan as the scorer laid it out before: every token prefix its own row, read at its end."""
    prefixes = list(plan["read"])
    return {**plan, "leaves": prefixes, "keep": 1, "read": {c: (i, 0) for i, c in enumerate(prefixes)}}


def timed(engine, prompts, batch_size: int = 16) -> tuple[float, list[list[float]]]:
    from l4r.answering import score_one, score_plan

    t = time.time()
    probs = [r["probs"] for batch in score_plan(prompts, batch_size) for r in score_one(engine, batch)]
    return len(prompts) / (time.time() - t), probs


def largest_difference(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for p, q in zip(a, b) for x, y in zip(p, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("prompts", type=Path, help="rating prompts (l4r prompt, task rating)")
    ap.add_argument("model", help="the LLM (a tuned folder or smollm2)")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="auto", help="auto (bf16 where the CPU has it), float32, bfloat16")
    a = ap.parse_args()
    import torch
    from l4r.answering import scale_choices
    from l4r.backends.hf import HFBackend

    torch.set_num_threads(a.threads)
    prompts = [p for p in map(json.loads, a.prompts.read_text().splitlines()) if p.get("task") == "rating"][: a.n]
    engine = HFBackend(a.model, device="cpu", dtype=a.dtype)
    choices = scale_choices(prompts[0])
    layouts = {"one row per branch (now)": engine.plan(choices)}
    layouts["one row per token prefix (before)"] = one_row_per_prefix(layouts["one row per branch (now)"])
    timed(engine, prompts[:16], 16)
    speed = {k: [] for k in layouts}
    probs = {}
    print(f"{a.threads} torch threads, {len(prompts)} prompts, choices {choices[0]}-{choices[-1]}, "
          f"load before {os.getloadavg()[0]:.2f}\n")
    for _ in range(a.reps):
        for name, plan in layouts.items():
            engine._plans[tuple(choices)] = plan
            s, probs[name] = timed(engine, prompts, 16)
            speed[name].append(s)
    now, before = probs.values()
    diff = largest_difference(now, before)
    engine._plans[tuple(choices)] = layouts["one row per branch (now)"]
    batching = largest_difference(now, timed(engine, prompts, 8)[1])
    print("| layout | rows per prompt | prompts/s (each rep) |")
    print("|---|---:|---|")
    for name, plan in layouts.items():
        print(f"| {name} | {len(plan['leaves'])} | {', '.join(f'{s:.2f}' for s in speed[name])} |")
    print(f"\n{a.dtype} weights ({engine.model.dtype}). Largest probability difference between the layouts: "
          f"{diff:.5f}; between batches of 16 and 8 in the layout of now: {batching:.5f}; "
          f"load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
