"""Early stopping replayed at smaller patiences, from runs that kept their validation curves.

Reads: search.py JSONL rows with a `curve` ([seconds, validation value] after every epoch; top-k
NDCG@10, higher is better; rating RMSE, lower is better), typically a report run with a long
`--patience`. Training is deterministic under its seed, so the first epochs of a run with patience
P_long are exactly the run with any P <= P_long: replaying the curve with P gives that run's best
epoch, its validation value and the epochs it trains, without training again. The rule replayed is
l4r's own (l4r.models.EarlyStopping); the replay is exact up to the curve's rounding (6 decimals).
Prints one row per (model, P): mean best validation value, mean best epoch, mean epochs trained,
mean seconds trained, and in how many runs P found the longest patience's best.

    python3 benchmarks/patience.py results/ml-100k/backbones/report-*-patience30.jsonl --patience 10,15,20,30
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not
from l4r.models import RMSE_MIN_GAIN, EarlyStopping  # noqa: E402


def replay(curve: list[list[float]], patience: int, higher: bool) -> tuple[int, float, int, float]:
    """(best epoch, best value, epochs trained, seconds trained) had training stopped after `patience`
    evaluations in a row without a new best. Epochs count from 1."""
    rule = EarlyStopping(patience, higher, 0.0 if higher else RMSE_MIN_GAIN)
    for epoch, (seconds, value) in enumerate(curve, start=1):
        rule.update(epoch, value)
        if rule.stop:
            return rule.best_epoch, rule.best, epoch, seconds
    return rule.best_epoch, rule.best, len(curve), curve[-1][0] if curve else 0.0


def table(rows: list[dict], patiences: list[int]) -> str:
    lines = ["| model | patience | runs | valid mean | best epoch | epochs trained | s trained | found the longest run's best |",
             "|---|---|---|---|---|---|---|---|"]
    for model in sorted({r["model"] for r in rows}):
        runs = [r for r in rows if r["model"] == model]
        higher = "valid_rmse" not in runs[0]
        for p in patiences:
            out = [replay(r["curve"], p, higher) for r in runs]
            full = [replay(r["curve"], max(patiences), higher)[0] for r in runs]
            found = sum(o[0] == f for o, f in zip(out, full))
            lines.append(f"| {model} | {p} | {len(runs)} | {statistics.mean(o[1] for o in out):.4f} | "
                         f"{statistics.mean(o[0] for o in out):.0f} | {statistics.mean(o[2] for o in out):.0f} | "
                         f"{statistics.mean(o[3] for o in out):.0f} | {found} of {len(runs)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path, help="search.py JSONL files whose rows have a curve")
    ap.add_argument("--patience", default="10,15,20,30", help="patiences to replay (none above the runs' own)")
    args = ap.parse_args()
    rows = [json.loads(line) for f in args.files for line in f.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r.get("curve")]
    if not rows:
        raise SystemExit("no rows with a curve in " + ", ".join(map(str, args.files)))
    print(table(rows, sorted(int(p) for p in args.patience.split(","))))


if __name__ == "__main__":
    main()
