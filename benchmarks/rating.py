"""Benchmark the rating backbones: train each model with `l4r backbone` on a prepared folder and
print a markdown table (model, valid RMSE, test RMSE, test MAE, epochs, s/epoch, peak RSS MB).

Reads: a prepared dataset folder (+ optional attribute records via --extra).
Writes: each model's backbone outputs under --out/<model>/ (meta.json, predictions.jsonl, ...);
the table on stdout, progress on stderr.

Each model runs in its own process so its peak resident memory is measured alone (os.wait4).
Example: python benchmarks/rating.py --data out/ml-100k/data --out out/bench-rating
"""
from __future__ import annotations

import argparse
import json
import os
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


def row(model: str, m: dict) -> str:
    per_epoch = m["train_seconds"] / max(1, m["epochs"])
    return (f"| {model} | {m['valid_rmse']:.4f} | {m['test_rmse']:.4f} | {m['test_mae']:.4f} | {m['epochs']} "
            f"(best {m.get('best_epoch', '-')}) | {per_epoch:.2f} | {m['peak_rss_mb']:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="prepared dataset folder")
    ap.add_argument("--out", type=Path, default=None, help="folder for each model's outputs (default: a temp dir)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated rating models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra", type=Path, default=None, help="attribute records (LLM side information)")
    ap.add_argument("--hp", action="append", default=[], help="key=value passed to every model")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (OMP_NUM_THREADS)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="l4r-bench-rating-"))
    lines = ["| model | valid RMSE | test RMSE | test MAE | epochs | s/epoch | peak RSS MB |",
             "|---|---|---|---|---|---|---|"]
    for model in args.models.split(","):
        print(f"bench: {model}", file=sys.stderr, flush=True)
        meta = train(model, args.data, out / model, args.seed, args.extra, args.hp, args.threads)
        lines.append(row(model, meta))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
