"""Results table of one `make all` run beside the paper's rows:
`l4r report --dataset ml-100k --backbone mf --dir out/ml-100k/mf --timings out/ml-100k/mf/timings.jsonl`.

Reads metrics-{base,ift,l4r}.jsonl (metric records from `l4r eval`), per-user-*.jsonl for a paired
t-test of Llama4Rec against the best baseline, and the stage timings. Prints markdown on stdout.
"""
from __future__ import annotations

from pathlib import Path

from ..data import per_user_values
from ..io import read_jsonl
from .paper import RATING_COLS, TOPK_COLS, paper_row
from .tables import overall, pvalue

METHODS = [("base", "Base"), ("ift", "IFT"), ("l4r", "Llama4Rec")]
# rating: the LLM's rating read as its greedy digit instead of the expected value (shown when present)
GREEDY = [("ift-greedy", "IFT (greedy digit)"), ("l4r-greedy", "Llama4Rec (greedy digit)")]


def per_user(path: Path, metric: str) -> dict[str, float]:
    return per_user_values(path, metric) if path.exists() else {}


def table(dataset: str, backbone: str, d: Path) -> list[str]:
    found = {key: overall(d / f"metrics-{key}.jsonl") for key, _ in METHODS if (d / f"metrics-{key}.jsonl").exists()}
    rating = any("RMSE" in m for m in found.values())
    cols = RATING_COLS if rating else TOPK_COLS
    lower_better = rating
    lines = [f"| {backbone} | method | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for key, name in METHODS + GREEDY:
        if (d / f"metrics-{key}.jsonl").exists() and key not in found:
            found[key] = overall(d / f"metrics-{key}.jsonl")
        if key in found:
            lines.append(f"| ours | {name} | " + " | ".join(f"{found[key].get(c, float('nan')):.4f}" for c in cols) + " |")
    if "l4r" in found:
        base = [k for k in ("base", "ift") if k in found]
        cells = []
        for c in cols:
            best = (min if lower_better else max)(found[k].get(c, float("nan")) for k in base)
            gain = (best - found["l4r"][c]) / best if lower_better else (found["l4r"][c] - best) / best if best else 0
            best_key = (min if lower_better else max)(base, key=lambda k: found[k].get(c, 0))
            p = pvalue(per_user(d / "per-user-l4r.jsonl", c), per_user(d / f"per-user-{best_key}.jsonl", c))
            cells.append(f"{gain * 100:+.2f}%" + (f" (p={p:.3f})" if p is not None else ""))
        lines.append("| ours | Impro. | " + " | ".join(cells) + " |")
    for _, name in METHODS:
        row = paper_row(backbone, name, dataset)
        if row:
            lines.append(f"| paper | {name} | " + " | ".join(f"{v:.4f}" for v in row) + " |")
    return lines


def llm_notes(d: Path) -> list[str]:
    """How each LLM row was answered (labels scored, titles generated), from the llm stats files."""
    import json

    lines = []
    for key, name in METHODS[1:]:
        stats = d / f"completions-{key}.jsonl.stats.json"
        if stats.exists():
            s = json.loads(stats.read_text())
            ways = ", ".join(f"{n} {w}" for w, n in sorted((s.get("answer") or {}).items())) or "generated"
            lines.append(f"- {name}: {s['prompts']} prompts answered by {ways} ({s['seconds']:.0f} s; "
                         f"{s.get('hallucinated', 0)} hallucinated, {s.get('duplicates', 0)} duplicate items; "
                         f"status {s['status']})")
    return ["", "LLM answers (labels: ranked by the label probabilities; generate: titles written and matched "
            "back; scale: ratings scored):"] + lines if lines else []


def timings(path: Path) -> list[str]:
    if not path.exists():
        return []
    rows = list(read_jsonl(path))
    total = sum(r["seconds"] for r in rows)
    return ["", "| stage | seconds |", "|---|---|"] + [f"| {r['stage']} | {r['seconds']:.1f} |" for r in rows] + \
        [f"| **total** | **{total:.1f}** |"]


def results(dataset: str, backbone: str, d: Path, timings_path: Path | None = None) -> str:
    out = [f"## {backbone} on {dataset} (test split, all users)", ""] + table(dataset, backbone, d)
    out += llm_notes(d)
    if timings_path:
        out += timings(timings_path)
    return "\n".join(out) + "\n"
