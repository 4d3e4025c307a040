"""aggregate: combine the LLM's answers with the backbone's by adaptive aggregation (paper 4.4).

Reads: completion records (from `l4r llm`), the backbone's candidates (top-k) or rating
predictions (rating), and the prepared dataset for N(u).
Writes: prediction records — top-k: {user, items, scores} for every user with candidates;
rating: {user, item, rating} for every held-out interaction.
Users without an LLM answer (skipped, or unparseable) keep the backbone's answer; they are
counted on stderr.
Modes (top-k): listwise (the LLM's order) or pointwise (candidates sorted by the LLM's expected
rating). Utility: position (the paper's -p*C) or score (log p of the label ranking, the expected
rating). Completions that give no answer (unparseable, failed) are counted by status. Schemes: adaptive (Eq. 7), uniform (alpha1 for all: the w/o-AA ablation), llm (alpha 1:
the IFT row), rec (alpha 0: the backbone alone).
"""
from __future__ import annotations

from pathlib import Path

from .. import data as datamod
from ..aggregation import alphas, merge_rating, merge_topk
from ..data import load_candidates, load_rating_predictions
from ..errors import UsageError
from ..io import log, read_jsonl


def llm_orders(completions, mode: str, split: str) -> dict[str, tuple[list[str], dict[str, float] | None]]:
    """user -> (the LLM's ranking of its candidates, its own score per item or None): listwise
    answers (log p when ranked by label probabilities), or pointwise expected ratings."""
    import math

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


def run_topk(ds, completions, candidates: Path, split, mode, alpha1, alpha2, scheme, c, say=log,
             utility: str = "position"):
    cands = load_candidates(candidates, split, ds)
    orders = llm_orders(completions, mode, split)
    if utility == "score" and any(u is None for _, u in orders.values()):
        raise UsageError("--utility score needs the LLM's probabilities (completions from `l4r llm` ranking by "
                         "labels, or pointwise); these were generated: use --utility position")
    alpha = alphas({u: ds.n_interactions(u) for u in ds.user_ids}, alpha1, alpha2, scheme)
    missing = 0
    for user in ds.user_ids:
        if user not in cands:
            continue
        order, util = orders.get(user, (None, None))
        missing += order is None
        items, scores = merge_topk(cands[user], order, alpha[user], c, util if utility == "score" else None)
        yield {"user": user, "items": items, "scores": scores, "split": split}
    bad = not_ok(completions, mode, split)
    say(f"aggregate: {len(orders)} users re-ranked by the LLM ({mode}, {scheme}, utility {utility}); {missing} "
        f"kept the backbone order" + (f" (LLM answers without a ranking: {bad})" if bad else ""))


def run_rating(ds, completions, predictions: Path, split, alpha1, alpha2, scheme, use, say=log):
    preds = load_rating_predictions(predictions, split)
    llm = {(c["user"], c["item"]): c.get(use) if c.get(use) is not None else c.get("rating")
           for c in completions if c["task"] == "rating" and c.get("split", split) == split and c["status"] == "ok"}
    alpha = alphas({u: ds.n_interactions(u) for u in ds.user_ids}, alpha1, alpha2, scheme)
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


def run(completions_path, data_dir: Path, split: str, task: str = "topk", mode: str = "listwise",
        candidates: Path | None = None, predictions: Path | None = None, alpha1: float = 0.5,
        alpha2: float = 0.1, scheme: str = "adaptive", c: float = 1.0, use: str = "expected",
        utility: str = "position"):
    ds = datamod.load(data_dir)
    completions = list(read_jsonl(completions_path, "completion")) if completions_path else []
    if task == "rating":
        return list(run_rating(ds, completions, predictions, split, alpha1, alpha2, scheme, use))
    return list(run_topk(ds, completions, candidates, split, mode, alpha1, alpha2, scheme, c, utility=utility))
