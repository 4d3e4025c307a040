"""Benchmark the rating backbones: train each model with `l4r backbone` on a prepared folder and
print a markdown table (model, valid RMSE, test RMSE, test MAE, epochs, s/epoch, peak RSS MB).
With several --seeds (the paper averages five runs) each cell is the mean, +- the standard deviation
for the errors; epochs is the mean of the epochs run (best-epoch mean in brackets).

Reads: a prepared dataset folder (+ optional attribute records via --extra).
Writes: each run's backbone outputs under --out/<model>/seed<N>/ (meta.json, predictions.jsonl, ...);
the table on stdout, progress on stderr.

Each model runs in its own process so its peak resident memory is measured alone (os.wait4).
Example: python benchmarks/rating.py --data out/ml-100k/data --out out/bench-rating --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MODELS = ["deepfm", "nfm", "dcn", "afm", "xdeepfm", "autoint"]


def train(model: str, data: Path, out: Path, seed: int, extra: Path | None, hp: list[str], threads: int) -> dict:
    """Run one backbone in a child process; return its meta.json plus the child's peak RSS (MB)."""
    cmd = [sys.executable, "-m", "l4r", "backbone", "--model", model, "--data", str(data), "--out", str(out),
           "--seed", str(seed)]
    cmd += ["--extra", str(extra)] if extra else []
    for pair in hp:
        cmd += ["--hp", pair]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{model}: l4r backbone failed (exit {os.waitstatus_to_exitcode(status)})")
    meta = json.loads((out / "meta.json").read_text())
    meta["peak_rss_mb"] = usage.ru_maxrss / 1024            # Linux reports kilobytes
    return meta


def cell(metas: list[dict], key: str) -> str:
    xs = [m[key] for m in metas]
    mean = statistics.fmean(xs)
    return f"{mean:.4f} +- {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{mean:.4f}"


def row(model: str, metas: list[dict]) -> str:
    epochs = statistics.fmean(m["epochs"] for m in metas)
    best = statistics.fmean(m.get("best_epoch", m["epochs"]) for m in metas)
    per_epoch = sum(m["train_seconds"] for m in metas) / max(1, sum(m["epochs"] for m in metas))
    peak = max(m["peak_rss_mb"] for m in metas)
    return (f"| {model} | {cell(metas, 'valid_rmse')} | {cell(metas, 'test_rmse')} | {cell(metas, 'test_mae')} "
            f"| {epochs:.1f} ({best:.1f}) | {per_epoch:.2f} | {peak:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="prepared dataset folder")
    ap.add_argument("--out", type=Path, default=None, help="folder for each model's outputs (default: a temp dir)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated rating models")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds; the table shows their mean")
    ap.add_argument("--extra", type=Path, default=None, help="attribute records (LLM side information)")
    ap.add_argument("--hp", action="append", default=[], help="key=value passed to every model")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP_NUM_THREADS)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="l4r-bench-rating-"))
    lines = ["| model | valid RMSE | test RMSE | test MAE | epochs (best) | s/epoch | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        print(f"bench: {model}", file=sys.stderr, flush=True)
        metas = [train(model, args.data, out / model / f"seed{seed}", seed, args.extra, args.hp, args.threads)
                 for seed in map(int, args.seeds.split(","))]
        lines.append(row(model, metas))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
