"""`l4r finetune` on CPU, several settings side by side: tokens/s, share of the matmul peak, peak memory.

    flock /tmp/l4r-cpu.lock python benchmarks/finetune_speed.py out/ft-bench/mf/instructions-l4r.jsonl \\
        --before ../l4r-before

Each row is one `l4r finetune` process on the same seeded sample (--sample, --max-len, --steps, global
batch 8 as the Makefile's FT_ARGS). tokens/s counts the non-padding tokens of steps 2.. of
train_log.jsonl (step 1 also builds the kernels); peak memory is the process's maximum RSS
(train_meta.json). "% of peak" = 6 x parameters x tokens/s over the matmul GFLOP/s of this CPU
measured in the same run (2048x2048, in the row's dtype and in bfloat16, the faster one).
`--before DIR` adds a first row run from DIR, a checkout of an older commit
(`git worktree add ../l4r-before COMMIT`), with the flags that commit knew.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.dtype_speed import gflops  # noqa: E402

BASE = ["--batch-size", "8", "--lr", "1e-4", "--warmup", "2", "--no-grad-checkpointing"]
ROWS = {  # name: (flags after BASE, dtype of its matmuls)
    "ZeRO-3, float32, micro 4": (["--zero-stage", "3", "--dtype", "float32", "--micro-batch", "4"], "float32"),
    "ZeRO-3, bf16 autocast, micro 4": (["--zero-stage", "3", "--dtype", "bfloat16", "--micro-batch", "4"], "bfloat16"),
    "ZeRO-0, float32, micro 4": (["--zero-stage", "0", "--dtype", "float32", "--micro-batch", "4"], "float32"),
    "ZeRO-0, bf16 autocast, micro 4, not grouped": (["--zero-stage", "0", "--dtype", "bfloat16", "--micro-batch", "4",
                                                     "--no-group-by-length"], "bfloat16"),
    "ZeRO-0, bf16 autocast, micro 4": (["--zero-stage", "0", "--dtype", "bfloat16", "--micro-batch", "4"], "bfloat16"),
    "ZeRO-0, bf16 autocast, micro 1": (["--zero-stage", "0", "--dtype", "bfloat16", "--micro-batch", "1"], "bfloat16"),
    "ZeRO-0, bf16 autocast, micro 8": (["--zero-stage", "0", "--dtype", "bfloat16", "--micro-batch", "8"], "bfloat16"),
}
BEFORE = (["--micro-batch", "4"], "float32")


def finetune(src: Path, ins: Path, out: Path, flags: list[str], common: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(src)}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "l4r", "finetune", str(ins), "--out", str(out), *common, *BASE, *flags]
    proc = subprocess.run(cmd, env=env, cwd=src, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    meta = json.loads((out / "train_meta.json").read_text())
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steady = log[1:] or log
    meta["steady_tokens_per_s"] = sum(r["tokens"] for r in steady) / sum(r["seconds"] for r in steady)
    meta["losses"] = [r["loss"] for r in log]
    meta.setdefault("params", 134515008)  # SmolLM2-135M, for a --before commit that did not record it
    return meta


def row(name: str, meta: dict, dtype: str, peaks: dict) -> str:
    flops = 6 * meta["params"] * meta["steady_tokens_per_s"] / 1e9
    return (f"| {name} | {meta['seconds_per_step']:.1f} | {meta['steady_tokens_per_s']:.0f} | {flops:.0f} | "
            f"{100 * flops / peaks[dtype]:.0f}% | {100 * flops / max(peaks.values()):.0f}% | "
            f"{meta['peak_memory_mb']:,.0f} | {meta['losses'][0]:.3f} -> {meta['losses'][-1]:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instructions", type=Path, help="instruction records (l4r instruct)")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--sample", type=int, default=48)
    ap.add_argument("--max-len", type=int, default=768)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--before", type=Path, help="a checkout of an older commit: its row comes first")
    ap.add_argument("--rows", default=";".join(ROWS), help="names of ROWS, separated by ;")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    here = Path(__file__).resolve().parents[1]
    common = ["--model", a.model, "--sample", str(a.sample), "--max-len", str(a.max_len), "--max-steps", str(a.steps),
              "--epochs", "1", "--seed", "0"]
    peaks = {d: gflops(torch, getattr(torch, d)) for d in ("float32", "bfloat16")}
    print(f"{a.threads} threads (OMP_NUM_THREADS), load before {os.getloadavg()[0]:.2f}, {a.sample} instructions, "
          f"--max-len {a.max_len}, {a.steps} steps of 8; matmul 2048x2048: float32 {peaks['float32']:.0f}, "
          f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s\n")
    print("| setting | s/step | tokens/s (steps 2..) | GFLOP/s (6 N) | % of own-dtype peak | % of bf16 peak "
          "| peak RSS MiB | loss, first -> last step |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    jobs = [(f"before ({a.before.name}): ZeRO-3, float32, micro 4", a.before.resolve(), *BEFORE)] if a.before else []
    jobs += [(name, here, *ROWS[name]) for name in a.rows.split(";") if name]
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, src, flags, dtype) in enumerate(jobs):
            t = time.time()
            meta = finetune(src, a.instructions.resolve(), Path(tmp) / str(i), flags, common, a.threads)
            print(row(name, meta, dtype, peaks), flush=True)
            print(f"{name}: {time.time() - t:.0f} s with load and save", file=sys.stderr)
    print(f"\nload after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
