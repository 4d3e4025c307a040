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
from dataclasses import dataclass
from pathlib import Path

from .data import load_candidates, load_rating_predictions
from .errors import UsageError
from .io import log


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



@dataclass(frozen=True)
class Setting:
    """One way to aggregate (checked when made): top-k `mode` (listwise, pointwise) and `utility`
    (position, score); `scheme` adaptive (Eq. 7), uniform (alpha1 for all), llm (alpha 1), rec
    (alpha 0); `c` the utility step C; rating `use` (expected or the greedy rating)."""
    mode: str = "listwise"
    alpha1: float = 0.5
    alpha2: float = 0.1
    scheme: str = "adaptive"
    c: float = 1.0
    use: str = "expected"
    utility: str = "position"

    def __post_init__(self):
        allowed = {"mode": ("listwise", "pointwise"), "scheme": ("adaptive", "uniform", "llm", "rec"),
                   "use": ("expected", "rating"), "utility": ("position", "score")}
        for flag, values in allowed.items():
            if getattr(self, flag) not in values:
                raise UsageError(f"--{flag} must be one of {', '.join(values)}, got {getattr(self, flag)!r}")
        if not 0 <= self.alpha2 < 1 or not 0 <= self.alpha1 <= 1:
            raise UsageError("need 0 <= alpha1 <= 1 and 0 <= alpha2 < 1")


def llm_orders(completions, mode: str, split: str) -> dict[str, tuple[list[str], dict[str, float] | None]]:
    """user -> (the LLM's ranking of its candidates, its own score per item or None): listwise
    answers (log p when ranked by label probabilities), or pointwise expected ratings."""
    out = {}
    if mode == "listwise":
        for c in completions:
            if c["task"] == "listwise" and c.get("split", split) == split and c["status"] == "ok":
                probs = c.get("probs")
                util = {i: math.log(max(p, 1e-12)) for i, p in zip(c["items"], probs)} if probs else None
                out[c["user"]] = (c["items"], util)
        return out
    scores: dict[str, list[tuple[float, str]]] = {}
    for c in completions:
        if c["task"] == "pointwise" and c.get("split", split) == split and c["status"] == "ok":
            value = c.get("expected") if c.get("expected") is not None else c.get("rating")
            scores.setdefault(c["user"], []).append((value, c["item"]))
    return {u: ([item for _, item in sorted(v, key=lambda t: -t[0])], {item: value for value, item in v})
            for u, v in scores.items()}


def not_ok(completions, task: str, split: str) -> dict[str, int]:
    """Completions of this task and split that give no answer, by status (unparseable, failed, ...)."""
    counts: dict[str, int] = {}
    for c in completions:
        if c["task"] == task and c.get("split", split) == split and c["status"] != "ok":
            counts[c["status"]] = counts.get(c["status"], 0) + 1
    return counts


def run_topk(ds, completions, candidates: Path, split: str, setting: Setting, say=log):
    """Prediction records {user, items, scores, split}: each user's candidates re-ranked by U."""
    mode, scheme, utility = setting.mode, setting.scheme, setting.utility
    cands = load_candidates(candidates, split, ds)
    orders = llm_orders(completions, mode, split)
    if utility == "score" and any(u is None for _, u in orders.values()):
        raise UsageError("--utility score needs the LLM's probabilities (completions from `l4r llm` ranking by "
                         "labels, or pointwise); these were generated: use --utility position")
    alpha = alphas({u: ds.n_interactions(u) for u in ds.user_ids}, setting.alpha1, setting.alpha2, scheme)
    missing = 0
    for user in ds.user_ids:
        if user not in cands:
            continue
        order, util = orders.get(user, (None, None))
        missing += order is None
        items, scores = merge_topk(cands[user], order, alpha[user], setting.c, util if utility == "score" else None)
        yield {"user": user, "items": items, "scores": scores, "split": split}
    bad = not_ok(completions, mode, split)
    unknown = sorted(set(orders) - set(cands))
    if unknown:
        bad["unknown user (no candidates)"] = len(unknown)
    say(f"aggregate: {len(orders) - len(unknown)} users re-ranked by the LLM ({mode}, {scheme}, utility {utility}); "
        f"{missing} kept the backbone order" + (f"; LLM answers not used, by reason: {bad}" if bad else ""))


def run_rating(ds, completions, predictions: Path, split: str, setting: Setting, say=log):
    """Prediction records {user, item, rating, split} for every held-out rating."""
    scheme, use = setting.scheme, setting.use
    preds = load_rating_predictions(predictions, split)
    llm = {(c["user"], c["item"]): c.get(use) if c.get(use) is not None else c.get("rating")
           for c in completions if c["task"] == "rating" and c.get("split", split) == split and c["status"] == "ok"}
    alpha = alphas({u: ds.n_interactions(u) for u in ds.user_ids}, setting.alpha1, setting.alpha2, scheme)
    missing = 0
    for user in ds.user_ids:
        target = ds.target(user, split)
        if target is None or (user, target["item"]) not in preds:
            continue
        u_llm = llm.get((user, target["item"]))
        missing += u_llm is None
        yield {"user": user, "item": target["item"], "split": split,
               "rating": round(merge_rating(u_llm, preds[(user, target["item"])], alpha[user]), 5)}
    bad = not_ok(completions, "rating", split)
    say(f"aggregate: rating ({scheme}); {missing} held-out ratings without an LLM answer kept the backbone's"
        + (f" (LLM answers without a rating: {bad})" if bad else ""))
