"""prompt: test-time prompts for the LLM, with prompt augmentation (paper 4.3).

Reads: a prepared dataset, the backbone's candidates (the chosen split), its user embeddings
(the most similar user, Eq. 4), optional rating predictions (rating task).
Writes: prompt records. listwise: one per user (re-rank the k' candidates, shown in a seeded
shuffle; the backbone's order is the "Conventional Model Prediction"); pointwise: one per
(user, candidate), sharing the prefix up to the candidate line; rating: one per held-out
interaction. `augment=False` gives the IFT prompts. `answer` "labels" shows the candidates as
`A. title` and records their `labels` (the llm stage ranks by the label probabilities);
"titles" asks for generated titles (the paper's form). The held-out item is never shown, except
as one of the backbone's own candidates.

`reachable_only` skips users whose held-out item is not among their k' candidates: re-ranking
cannot change their HR/NDCG (a miss either way), so metrics are identical (tested) and the LLM
work shrinks to those users. The skip reads the held-out item; it only ever saves work.
"""
from __future__ import annotations

from pathlib import Path

from .. import data as datamod
from ..data import load_candidates, load_rating_predictions, shard_of
from ..io import log
from ..prompts import Templates
from ..seeding import rng
from ..similar import load as load_similar


def topk_prompts(ds, tpl, cands, split, tasks, augment, reachable_only, seed):
    skipped, ranks = 0, []
    for user in ds.user_ids:
        order = cands.get(user)
        if not order:
            continue
        target = ds.target(user, split)
        if reachable_only and (target is None or target["item"] not in order):
            skipped += 1
            continue
        if target is not None and target["item"] in order:
            ranks.append(order.index(target["item"]) + 1)
        shown = rng(seed, user).sample(order, len(order))
        scale = list(tpl.scale)
        if "listwise" in tasks:
            ins, inp, _ = tpl.listwise(user, split, shown, order, augment)
            yield {"id": f"{split}:listwise:{user}", "task": "listwise", "user": user, "split": split,
                   "instruction": ins, "input": inp, "query": "", "answer": tpl.answer,
                   "candidates": [[i, ds.title(i)] for i in shown], "labels": tpl.tags(shown)}
        if "pointwise" in tasks:
            for pos, item in enumerate(order, 1):
                ins, inp, q = tpl.rating(user, split, item, f"ranked {pos} of {len(order)}", augment)
                yield {"id": f"{split}:pointwise:{user}:{item}", "task": "pointwise", "user": user, "split": split,
                       "instruction": ins, "input": inp, "query": q, "item": item, "scale": scale}
    if reachable_only:
        log(f"prompt: {skipped} users skipped (held-out item not among their candidates: a miss either way)")
    if ranks:
        log(f"prompt: the {split} item is among the candidates of {len(ranks)} users (mean rank "
            f"{sum(ranks) / len(ranks):.2f})")


def rating_prompts(ds, tpl, preds, split, augment):
    for user in ds.user_ids:
        target = ds.target(user, split)
        if target is None:
            continue
        pred = preds.get((user, target["item"]))
        ins, inp, q = tpl.rating(user, split, target["item"], None if pred is None else f"{pred:.1f}", augment)
        yield {"id": f"{split}:rating:{user}:{target['item']}", "task": "rating", "user": user, "split": split,
               "instruction": ins, "input": inp, "query": q, "item": target["item"], "scale": list(tpl.scale)}


def run(data_dir: Path, candidates: Path | None, embeddings: Path | None, split: str, tasks: list[str],
        augment: bool = True, reachable_only: bool = False, seed: int = 0, history: int = 10,
        rating_predictions: Path | None = None, shard: tuple[int, int] | None = None, answer: str = "labels"):
    """Prompt records of one split, or of several (`split` a comma list, e.g. "valid,test"), in that order."""
    ds = datamod.load(data_dir)
    similar = load_similar(embeddings) if (embeddings and augment) else {}
    tpl = Templates(ds, similar, history, ds.scale, answer)
    recs = []
    for one in split.split(","):
        part = split_prompts(ds, tpl, candidates, one, tasks, augment, reachable_only, seed, rating_predictions)
        part = [r for r in part if shard_of(r["user"], shard)]
        log(f"prompt: {len(part)} prompts for split {one}")
        recs += part
    return recs


def split_prompts(ds, tpl, candidates, split, tasks, augment, reachable_only, seed, rating_predictions):
    recs = []
    if "rating" in tasks:
        preds = load_rating_predictions(rating_predictions, split) if rating_predictions else {}
        recs += list(rating_prompts(ds, tpl, preds, split, augment))
    if {"listwise", "pointwise"} & set(tasks):
        cands = load_candidates(candidates, split, ds)
        recs += list(topk_prompts(ds, tpl, cands, split, tasks, augment, reachable_only, seed))
    return recs
