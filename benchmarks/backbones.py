"""Benchmark the top-k backbones on one prepared dataset folder.

Reads: a folder written by `l4r prep` (items/users/train/valid/test interaction records).
Writes: a markdown table on stdout (model, valid NDCG@10, test HR@5, NDCG@5, HR@10, epochs run,
seconds per epoch incl. the validation pass, peak RSS); with --json, one result object per model to that file.
Each model trains in its own process (so peak RSS is that model's) with its class `defaults`
(overridable with --hp model:key=value), Adam, early stopping on validation NDCG@10, and is then
scored by full ranking on the test split with train + valid items excluded:
HR@k = share of users whose test item ranks in the top k; NDCG@k = mean 1 / log2(rank + 2) over hits.

    flock /tmp/l4r-cpu.lock python benchmarks/backbones.py out/ml-100k/data > table.md
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not
from l4r.models import PATIENCE  # noqa: E402

MODELS = ["mf", "lightgcn", "mixgcf", "sgl", "sasrec", "bert4rec", "cl4srec"]


def parse_hp(pairs: list[str]) -> dict[str, list[str]]:
    """["sasrec:dim=64", ...] -> {"sasrec": ["dim=64"]}."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        model, _, kv = pair.partition(":")
        if not kv:
            sys.exit(f"--hp takes model:key=value, got {pair!r}")
        out.setdefault(model, []).append(kv)
    return out


def worker(model_name: str, data_dir: str, hp_pairs: list[str], seed: int, patience: int, threads: int) -> dict:
    """Train one model in this process and return its measurements."""
    import torch

    from l4r import data as datamod
    from l4r.models import load_class, topk
    from l4r.seeding import seed_all
    from l4r.stages.backbone import parse_hp as parse_values

    torch.set_num_threads(threads)
    seed_all(seed)
    data = topk.from_dataset(datamod.load(data_dir))
    cls = load_class(model_name)
    hp = {**cls.defaults, **parse_values(hp_pairs)}
    model = cls(data, **hp)
    t0 = time.time()
    info = topk.fit(model, data, hp, seed=seed, patience=patience)
    seconds = time.time() - t0
    best = max(info["history"], key=lambda h: h["valid_ndcg10"])["epoch"]
    max_len = hp.get("max_len", 50)
    at5, at10 = (topk.evaluate(model, data, "test", k, max_len) for k in (5, 10))
    return {"model": model_name, "hp": hp, "valid_ndcg10": info["best_valid_ndcg10"],
            "test_hr5": at5["hr"], "test_ndcg5": at5["ndcg"], "test_hr10": at10["hr"],
            "test_ndcg10": at10["ndcg"], "users": at5["users"], "epochs": info["epochs"],
            "best_epoch": best, "seconds": round(seconds, 2),
            "s_to_best": round(sum(h["seconds"] for h in info["history"] if h["epoch"] <= best), 2),
            "s_per_epoch": seconds / max(1, info["epochs"]),
            "curve": curve(info["history"]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def curve(history: list[dict], key: str = "valid_ndcg10") -> list[list[float]]:
    """[[seconds since the start, validation value], ...] at the end of every evaluated epoch
    (benchmarks/patience.py replays early stopping on it)."""
    out, total = [], 0.0
    for h in history:
        total += h["seconds"]
        out.append([round(total, 2), round(h[key], 6)])
    return out


def table(results: list[dict]) -> str:
    lines = ["| model | valid N@10 | test H@5 | test N@5 | test H@10 | epochs (best) | s/epoch | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['valid_ndcg10']:.4f} | {r['test_hr5']:.4f} | {r['test_ndcg5']:.4f} | "
                     f"{r['test_hr10']:.4f} | {r['epochs']} ({r['best_epoch']}) | {r['s_per_epoch']:.2f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="prepared dataset folder")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated backbones")
    ap.add_argument("--hp", action="append", default=[], help="model:key=value override (repeatable)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--patience", type=int, default=PATIENCE)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per model (on a shared machine 1 avoids OpenMP contention)")
    ap.add_argument("--json", help="also write the results here (JSON list)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    hp = parse_hp(args.hp)
    if args.worker:
        print(json.dumps(worker(args.worker, args.data, hp.get(args.worker, []), args.seed, args.patience,
                                args.threads)))
        return
    results = []
    for name in args.models.split(","):
        cmd = [sys.executable, __file__, args.data, "--worker", name, "--seed", str(args.seed),
               "--patience", str(args.patience), "--threads", str(args.threads)] + [f"--hp={p}" for p in args.hp]
        print(f"backbones: {name} ...", file=sys.stderr, flush=True)
        done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"backbones: {json.dumps({k: v for k, v in results[-1].items() if k != 'hp'})}", file=sys.stderr,
              flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    print(table(results))


if __name__ == "__main__":
    main()
