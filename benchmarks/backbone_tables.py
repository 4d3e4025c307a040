"""The tables of docs/backbones.md, from the result files in results/<dataset>/backbones/.

Reads: times.jsonl (benchmarks/peer_times.sh: l4r and RecBole runs back to back), report-<model>.jsonl
(benchmarks/search.py --test: a chosen setting over seeds, validation and test; these ran with
patience 10, report-<model>-patience<P>.jsonl with --patience P) and recbole.jsonl
(benchmarks/recbole_peer.py over seeds). Writes markdown on stdout:
- time to the best validation epoch, l4r beside RecBole (seconds; RecBole's with an epoch cap is a
  lower bound, marked >=, valid only while its last epoch was its best so far, which is checked);
- quality over seeds: mean ± population std of each metric.

    python benchmarks/backbone_tables.py results/ml-100k/backbones
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def cell(rows: list[dict], key: str) -> str:
    vals = [r[key] for r in rows if key in r]
    if not vals:
        return "-"
    return f"{statistics.mean(vals):.4f} ± {statistics.pstdev(vals):.4f}" if len(vals) > 1 else f"{vals[0]:.4f}"


def recbole_time(r: dict) -> str:
    """RecBole's seconds to its best epoch; with a cap that it reached still improving, a lower bound."""
    capped = r.get("epoch_cap") and r["epochs"] >= r["epoch_cap"]
    if capped and r["best_epoch"] == r["epochs"]:
        return f">= {r['s_to_best']:.0f} (best so far at its cap, epoch {r['epochs']})"
    if capped:
        return f"unknown (capped at {r['epochs']} epochs, best {r['best_epoch']}: no bound)"
    return f"{r['s_to_best']:.1f} (epoch {r['best_epoch']} of {r['epochs']})"


def time_to(curve: list, value: float) -> str:
    """Seconds until a validation curve first reaches `value`."""
    hit = next((t for t, v in curve if v >= value), None)
    return f"{hit:.1f}" if hit is not None else "never"


def times_table(rows: list[dict]) -> str:
    ours = {r["model"]: r for r in rows if r.get("side") == "l4r"}
    theirs = {r["model"].lower(): r for r in rows if r.get("side") == "recbole"}
    peer = {"mf": "bpr"}
    lines = ["| model | l4r s to best (epoch of total) | l4r valid N@10 | RecBole s to best | RecBole valid N@10 | ratio "
             "| l4r s to RecBole's best N@10 |", "|---|---|---|---|---|---|---|"]
    for name, r in ours.items():
        t = theirs.get(peer.get(name, name))
        ratio = f"{r['s_to_best'] / t['s_to_best']:.2f}" if t and t["s_to_best"] else "-"
        if t and t.get("epoch_cap") and t["epochs"] >= t["epoch_cap"]:
            ratio = f"<= {ratio}" if t["best_epoch"] == t["epochs"] else "-"
        reach = time_to(r["curve"], t["valid_ndcg10"]) if t and "curve" in r else "-"
        lines.append(f"| {name} | {r['s_to_best']:.1f} ({r['best_epoch']} of {r['epochs']}) | {r['valid_ndcg10']:.4f} | "
                     f"{recbole_time(t)} | {t['valid_ndcg10']:.4f} | {ratio} | {reach} |" if t else
                     f"| {name} | {r['s_to_best']:.1f} ({r['best_epoch']} of {r['epochs']}) | {r['valid_ndcg10']:.4f} "
                     "| - | - | - | - |")
    return "\n".join(lines)


def paper(name: str, dataset: str) -> str:
    """The paper's Base row for this backbone (Tables 2-4): H@5 / N@5, or RMSE / MAE."""
    from l4r.report.paper import paper_row

    row = paper_row(name, "Base", dataset)
    return "-" if not row else " / ".join(f"{v:.4f}" for v in (row[2:] if len(row) == 4 else row))


def quality_table(folder: Path) -> str:
    dataset = folder.parent.name.removesuffix("-half")  # a partial copy: the paper's rows are the full data's
    keys = ["valid_ndcg10", "test_hr5", "test_ndcg5", "test_hr10", "test_ndcg10"]
    rkeys = ["valid_rmse", "test_rmse", "test_mae"]
    lines = ["| model | seeds | " + " | ".join(keys) + " | paper Base H@5 / N@5 |", "|---|---|" + "---|" * (len(keys) + 1)]
    rating = ["| model | seeds | " + " | ".join(rkeys) + " | paper Base RMSE / MAE |", "|---|---|" + "---|" * (len(rkeys) + 1)]
    for path in sorted(folder.glob("report-*.jsonl")):
        rows = read(path)
        name = path.stem.removeprefix("report-")
        base = name.split("-patience")[0]  # report-<model>-patience<P>: the same model at another patience
        if rows and "test_rmse" in rows[0]:
            rating.append(f"| {name} | {len(rows)} | " + " | ".join(cell(rows, k) for k in rkeys) + f" | {paper(base, dataset)} |")
        elif rows:
            lines.append(f"| {name} | {len(rows)} | " + " | ".join(cell(rows, k) for k in keys) + f" | {paper(base, dataset)} |")
    peers: dict[str, list[dict]] = {}
    for r in read(folder / "recbole.jsonl"):
        peers.setdefault(r["model"], []).append(r)
    for name, rows in peers.items():
        lines.append(f"| RecBole {name} | {len(rows)} | " + " | ".join(cell(rows, k) for k in keys) + " | |")
    return "\n".join(lines) + "\n\n" + "\n".join(rating)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path, help="results/<dataset>/backbones")
    args = ap.parse_args()
    print("### Time to the best validation epoch\n")
    print(times_table(read(args.folder / "times.jsonl")))
    print("\n### Quality over seeds\n")
    print(quality_table(args.folder))


if __name__ == "__main__":
    main()
