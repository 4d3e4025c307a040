"""A small hyper-parameter search for one backbone, chosen on validation only.

Every combination of the --grid values (on top of the model's class `defaults`) is trained once per
seed, each run in its own process with one torch thread: top-k models by benchmarks/backbones.py's
worker, rating models by this script's (l4r.models.rating.train without the train-split model).
A search keeps validation numbers only: the test split is never read into its results, so nothing
here can choose on test. `--test` is the report mode for a setting already chosen: the same runs,
test metrics kept too (top-k HR@5 / NDCG@5, rating RMSE / MAE), written to their own file. One JSON line per (setting, seed) is appended to
--out as soon as it finishes, and a rerun skips the lines already there (a search resumes).
Each line keeps its validation curve (`curve`: [seconds, value] after every epoch), from which
benchmarks/patience.py replays early stopping at any smaller patience.
Prints a table: setting, validation metric mean ± std over seeds (top-k: NDCG@10, higher is better;
rating: RMSE, lower is better), epochs to the best validation, seconds to it; the best row is marked.

    flock /tmp/l4r-cpu.lock python benchmarks/search.py out/ml-100k/data --model mf \\
        --grid init=normal,xavier --grid reg=1e-4,0 --seeds 0,1,2 --out results/ml-100k/backbones/search-mf.jsonl
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not
from l4r.models import PATIENCE  # noqa: E402

HERE = Path(__file__).resolve().parent
RATING = {"deepfm", "nfm", "dcn", "afm", "xdeepfm", "autoint"}
KEEP = ("valid_ndcg10", "valid_rmse", "epochs", "best_epoch", "seconds", "s_to_best", "curve")
TEST = ("test_hr5", "test_ndcg5", "test_hr10", "test_ndcg10", "test_rmse", "test_mae")


def settings(grid: list[str]) -> list[dict[str, str]]:
    """["a=1,2", "b=x"] -> [{"a": "1", "b": "x"}, {"a": "2", "b": "x"}]."""
    axes = []
    for spec in grid:
        key, _, values = spec.partition("=")
        if not values:
            sys.exit(f"--grid takes key=v1,v2,...; got {spec!r}")
        axes.append([(key, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] or [{}]


def rating_worker(model: str, data: str, pairs: list[str], seed: int, patience: int) -> dict:
    """Train one rating model in this process; its validation and test numbers."""
    import torch

    from l4r import data as datamod
    from l4r.models import rating
    from l4r.stages.backbone import parse_hp

    from backbones import curve  # this folder's top-k worker script, first on sys.path

    torch.set_num_threads(1)
    ds = datamod.load(data)
    t = rating.train(model, ds, seed, parse_hp(pairs), patience=patience, held_out=False)
    _, scores = rating.predictions(t, ds)
    best = t.info["best_epoch"]
    return {"valid_rmse": t.info["best_valid_rmse"], "test_rmse": scores["test"][0], "test_mae": scores["test"][1], "epochs": t.info["epochs"], "best_epoch": best,
            "seconds": round(t.seconds, 2),
            "s_to_best": round(sum(h["seconds"] for h in t.info["history"] if h["epoch"] <= best), 2),
            "curve": curve(t.info["history"], "valid_rmse")}


def run_one(model: str, data: str, hp: dict[str, str], seed: int, patience: int, test: bool) -> dict:
    pairs = [f"{k}={v}" for k, v in hp.items()]
    if model in RATING:
        cmd = [sys.executable, __file__, data, "--model", model, "--rating-worker", "--seeds", str(seed),
               "--patience", str(patience), "--out", "-"] + [f"--grid={p}" for p in pairs]
    else:
        cmd = [sys.executable, str(HERE / "backbones.py"), data, "--worker", model, "--seed", str(seed),
               "--patience", str(patience), "--threads", "1"] + [f"--hp={model}:{p}" for p in pairs]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: result[k] for k in KEEP + (TEST if test else ()) if k in result}


def mean_std(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows]
    return f"{statistics.mean(vals):.4f} ± {statistics.pstdev(vals):.4f}"


def summary(model: str, rows: list[dict], test: bool) -> str:
    key = "valid_rmse" if model in RATING else "valid_ndcg10"
    tests = [k for k in (("test_rmse", "test_mae") if model in RATING else ("test_hr5", "test_ndcg5")) if test]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(json.dumps(r["hp"], sort_keys=True), []).append(r)
    stats = []
    for hp, rs in groups.items():
        vals = [r[key] for r in rs]
        stats.append((statistics.mean(vals), statistics.pstdev(vals), len(vals), hp,
                      statistics.mean(r["best_epoch"] for r in rs), statistics.mean(r["s_to_best"] for r in rs),
                      "".join(f" {mean_std(rs, k)} |" for k in tests)))
    best = (min if model in RATING else max)(stats)[3]
    name = "valid RMSE" if model in RATING else "valid NDCG@10"
    head = "".join(f" {k.replace('_', ' ')} |" for k in tests)
    lines = [f"| {model} setting | {name} mean ± std | seeds | best epoch | s to best |{head}",
             "|---|---|---|---|---|" + "---|" * len(tests)]
    for mean, std, n, hp, epoch, secs, cells in sorted(stats, reverse=model not in RATING):
        mark = " **best**" if hp == best and not test else ""
        lines.append(f"| `{hp}`{mark} | {mean:.4f} ± {std:.4f} | {n} | {epoch:.0f} | {secs:.0f} |{cells}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="prepared dataset folder")
    ap.add_argument("--model", required=True)
    ap.add_argument("--grid", action="append", default=[], help="key=v1,v2,... (repeatable; the product is searched)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--patience", type=int, default=PATIENCE)
    ap.add_argument("--out", required=True, help="JSONL of (setting, seed) results; resumed")
    ap.add_argument("--test", action="store_true", help="report mode: keep test metrics too (for a chosen setting)")
    ap.add_argument("--rating-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rating_worker:
        print(json.dumps(rating_worker(args.model, args.data, args.grid, int(args.seeds), args.patience)))
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    done = {(json.dumps(r["hp"], sort_keys=True), r["seed"]) for r in rows}
    for hp in settings(args.grid):
        for seed in (int(s) for s in args.seeds.split(",")):
            if (json.dumps(hp, sort_keys=True), seed) in done:
                continue
            print(f"search: {args.model} {hp} seed {seed} ...", file=sys.stderr, flush=True)
            row = {"model": args.model, "hp": hp, "seed": seed,
                   **run_one(args.model, args.data, hp, seed, args.patience, args.test)}
            with out.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            rows.append(row)
            print(f"search: {json.dumps(row)}", file=sys.stderr, flush=True)
    mine = [r for r in rows if r["model"] == args.model and r["hp"] in settings(args.grid)]
    print(summary(args.model, mine, args.test))


if __name__ == "__main__":
    main()
