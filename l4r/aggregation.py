"""Adaptive aggregation (paper 4.4).

Long-tail coefficient (Eq. 5):   l_u = log(N(u) + 1), N(u) = the user's training interactions.
Adaptive weight (Eq. 7):         alpha_u = max((l_max - l_u) / (l_max - l_min), alpha2) * alpha1
  (when every user has the same N(u), the ratio is taken as 0, so alpha_u = alpha2 * alpha1).
Final utility (Eq. 6):           U = alpha_u * U_llm + (1 - alpha_u) * U_rec
Top-k (4.4.2): U_rec = -s * C for backbone position s = 1..k'; the LLM's order gives U_llm = -p * C
for its position p (candidates the LLM did not rank follow in backbone order): utility "position".
Utility "score" takes the LLM's own number instead: U_llm = log p(item) for a ranking read from
the label probabilities, the expected rating for pointwise (a candidate without one gets the
lowest U_llm of the list).
"""
from __future__ import annotations

import math


def long_tail(n: int) -> float:
    return math.log(n + 1)


def alphas(counts: dict[str, int], alpha1: float, alpha2: float, scheme: str = "adaptive") -> dict[str, float]:
    """alpha_u for every user; scheme "uniform" gives alpha1 to all, "llm" 1, "rec" 0."""
    if scheme == "uniform":
        return {u: alpha1 for u in counts}
    if scheme in ("llm", "rec"):
        return {u: 1.0 if scheme == "llm" else 0.0 for u in counts}
    ells = {u: long_tail(n) for u, n in counts.items()}
    hi, lo = max(ells.values(), default=0.0), min(ells.values(), default=0.0)
    span = hi - lo
    return {u: max((hi - l) / span if span > 0 else 0.0, alpha2) * alpha1 for u, l in ells.items()}


def positions(llm_order: list[str], backbone: list[str]) -> dict[str, int]:
    """1-based LLM position of each backbone item; unranked items follow in backbone order."""
    order = [i for i in llm_order if i in backbone] + [i for i in backbone if i not in llm_order]
    return {item: p for p, item in enumerate(order, 1)}


def merge_topk(backbone: list[str], llm_order: list[str] | None, alpha: float, c: float = 1.0,
               llm_utility: dict[str, float] | None = None):
    """Re-rank backbone's list by U = alpha * U_llm + (1 - alpha) * U_rec; ties keep backbone order.
    U_llm is -position * C, or `llm_utility[item]` when given."""
    llm_pos = positions(llm_order or [], backbone) if llm_order is not None else None
    if llm_utility is not None:
        floor = min(llm_utility.values(), default=0.0)
        llm_u = {item: llm_utility.get(item, floor) for item in backbone}
    elif llm_pos is not None:
        llm_u = {item: -llm_pos[item] * c for item in backbone}
    scored = []
    for s, item in enumerate(backbone, 1):
        u_rec = -s * c
        u = u_rec if llm_pos is None else alpha * llm_u[item] + (1 - alpha) * u_rec
        scored.append((u, -s, item))
    scored.sort(reverse=True)
    return [item for _, _, item in scored], [round(u, 6) for u, _, _ in scored]


def merge_rating(u_llm: float | None, u_rec: float, alpha: float) -> float:
    return u_rec if u_llm is None else alpha * u_llm + (1 - alpha) * u_rec
