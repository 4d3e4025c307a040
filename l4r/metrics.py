"""Evaluation metrics as pure functions (paper 5.1.2), LensKit style: a top-k metric is computed
per user on that user's ranked list and then averaged over users; a rating metric over all
held-out (user, item) pairs. Ranks are 0-based (rank 0 = first in the list). No records here:
l4r.stages.eval reads prediction records and writes metric records.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from .data import natural
from .errors import DataError


def rank_of(items: Sequence[str], target: str) -> int | None:
    """0-based position of `target` in the ranked list, None if it is absent (first occurrence counts)."""
    for i, item in enumerate(items):
        if item == target:
            return i
    return None


def hit_ratio(rank: int | None, k: int) -> float:
    """HR@k for one held-out item: 1 if rank < k else 0 (a missing item is a miss)."""
    return 1.0 if rank is not None and rank < k else 0.0


def ndcg(rank: int | None, k: int) -> float:
    """NDCG@k for one held-out item: 1 / log2(rank + 2) if rank < k else 0.

    The ideal list puts the one relevant item first, so IDCG = 1/log2(2) = 1 and NDCG = DCG.
    Rank 0 -> 1, rank 1 -> 0.6309, rank 2 -> 0.5.
    """
    return 1.0 / math.log2(rank + 2) if rank is not None and rank < k else 0.0


def ndcg_list(items: Sequence[str], relevant: set[str], k: int) -> float:
    """NDCG@k for several relevant items (binary gain):
    DCG = sum over positions i < k with items[i] relevant of 1/log2(i + 2);
    IDCG = sum over i < min(|relevant|, k) of 1/log2(i + 2); NDCG = DCG / IDCG (0 if nothing is relevant)."""
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(items[:k]) if item in relevant)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / idcg if idcg else 0.0


def rmse(errors: Iterable[float]) -> float:
    """RMSE = sqrt(mean((prediction - rating)^2)) over the given errors."""
    errs = list(errors)
    return math.sqrt(sum(e * e for e in errs) / len(errs)) if errs else float("nan")


def mae(errors: Iterable[float]) -> float:
    """MAE = mean(|prediction - rating|) over the given errors."""
    errs = list(errors)
    return sum(abs(e) for e in errs) / len(errs) if errs else float("nan")


def mean(values: Iterable[float]) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else float("nan")


def std(values: Iterable[float]) -> float | None:
    """Sample standard deviation sqrt(sum((x - mean)^2) / (n - 1)); None for fewer than 2 values."""
    vals = list(values)
    if len(vals) < 2:
        return None
    m = mean(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def paired_ttest(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Paired two-sided t-test on d = a - b: t = mean(d) / (std(d) / sqrt(n)), df = n - 1;
    p = 2 * P(T_df > |t|). Returns (t, p); identical samples give (0, 1)."""
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        raise ValueError("a paired t-test needs two samples of the same length >= 2")
    diffs = [x - y for x, y in zip(a, b)]
    if all(d == diffs[0] for d in diffs):
        return (0.0, 1.0) if diffs[0] == 0 else (math.copysign(math.inf, diffs[0]), 0.0)
    res = stats.ttest_rel(a, b)
    return float(res.statistic), float(res.pvalue)


def quantile_bounds(counts: Sequence[int], groups: int) -> list[int]:
    """Upper bounds of `groups` activity groups: bound_i = the (i/groups)-quantile of the counts
    (inverted CDF: the smallest count with at least i/groups of users at or below it). Equal bounds
    merge, so a group never splits users with the same count."""
    if not counts or groups < 1:
        return []
    ordered = sorted(counts)
    n = len(ordered)
    bounds = []
    for i in range(1, groups + 1):
        b = ordered[max(0, math.ceil(i * n / groups) - 1)]
        if not bounds or b > bounds[-1]:
            bounds.append(b)
    return bounds


def group_label(count: int, bounds: Sequence[int]) -> str:
    """`q{i} (N<=bound_i)` for the first bound the count does not exceed."""
    for i, b in enumerate(bounds, 1):
        if count <= b:
            return f"q{i} (N<={b})"
    return f"q{len(bounds)} (N<={bounds[-1]})"



def topk_rows(targets: dict, ranked: dict, ks: list[int]) -> list[dict]:
    rows = []
    for user in sorted(targets, key=natural):
        item = targets[user]["item"]
        rank = rank_of(ranked[user], item) if user in ranked else None
        row = {"user": user, "item": item, "rank": rank, "predicted": user in ranked}
        for k in ks:
            row[f"HR@{k}"] = hit_ratio(rank, k)
            row[f"NDCG@{k}"] = ndcg(rank, k)
        rows.append(row)
    return rows


def rating_rows(targets: dict, rated: dict, source: str) -> list[dict]:
    rows, missing = [], []
    for user in sorted(targets, key=natural):
        t = targets[user]
        if t.get("rating") is None:
            raise DataError(f"user {user}: the held-out interaction has no rating to compare with", source,
                            field="rating")
        pred = rated.get((user, t["item"]))
        if pred is None:
            missing.append((user, t["item"]))
            continue
        err = pred - t["rating"]
        rows.append({"user": user, "item": t["item"], "rating": t["rating"], "prediction": pred,
                     "AE": abs(err), "SE": err * err})
    if missing:
        u, i = missing[0]
        raise DataError(f"{len(missing)} of {len(targets)} held-out interactions have no rating prediction "
                        f"(first: user {u}, item {i}); predict every held-out pair", source, field="rating")
    return rows


def summarise(rows: list[dict], names: list[str], group: str | None) -> list[dict]:
    """Metric records: the mean of each per-user metric (RMSE: sqrt of the mean SE)."""
    out = []
    for name in names:
        if name == "RMSE":
            value = rmse(r["prediction"] - r["rating"] for r in rows)
        elif name == "MAE":
            value = mae(r["prediction"] - r["rating"] for r in rows)
        else:
            value = mean(r[name] for r in rows)
        out.append({"metric": name, "value": round(value, 6), "n": len(rows), "group": group})
    return out


def with_groups(rows: list[dict], counts: dict[str, int], names: list[str], groups: int) -> list[dict]:
    """Tag rows with N(u) and its quantile group; metric records per group (paper Fig. 1's long tail)."""
    for r in rows:
        r["N"], r["group"] = counts.get(r["user"], 0), None
    if groups < 1 or not rows:
        return []
    bounds = quantile_bounds([r["N"] for r in rows], groups)
    by_group: dict[str, list[dict]] = {}
    for r in rows:
        r["group"] = group_label(r["N"], bounds)
        by_group.setdefault(r["group"], []).append(r)
    return [rec for g in sorted(by_group, key=lambda g: int(g[1:g.index(" ")]))
            for rec in summarise(by_group[g], names, g)]
