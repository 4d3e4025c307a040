"""Markdown tables and significance, shared by the results table of one run (results.py) and the
study report (study.py): number formats, table rows, relative improvement, the paired t-test
over users, and a metric file's overall values."""
from __future__ import annotations

import math
from pathlib import Path

from .. import metrics as M
from ..io import read_jsonl



def f4(x) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def mean_std(vals: list[float]) -> str:
    if not vals:
        return ""
    sd = M.std(vals)
    return f4(M.mean(vals)) + ("" if sd is None else f" ± {sd:.4f}")


def lower_better(metric: str) -> bool:
    return metric in ("RMSE", "MAE")


def row(cells_: list[str]) -> str:
    return "| " + " | ".join(cells_) + " |"


def header(names: list[str]) -> list[str]:
    return [row(names), "|" + "---|" * len(names)]


def change(value: float, ref: float, lower: bool) -> float:
    """Relative improvement of `value` over `ref` (positive = better)."""
    if not ref:
        return float("nan")
    return (ref - value) / ref if lower else (value - ref) / ref


def pct(x: float) -> str:
    return "" if math.isnan(x) else f"{x * 100:+.2f}%"



def overall(path: Path) -> dict[str, float]:
    return {r["metric"]: r["value"] for r in read_jsonl(path, "metric") if not r.get("group")}


def pvalue(a: dict, b: dict) -> float | None:
    """Paired t-test over the users both runs hold (None with fewer than two)."""
    users = sorted(set(a) & set(b))
    if len(users) < 2:
        return None
    return M.paired_ttest([a[u] for u in users], [b[u] for u in users])[1]
