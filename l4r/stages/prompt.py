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

from dataclasses import dataclass
from pathlib import Path

from .. import data as datamod
from ..data import load_candidates, load_rating_predictions, shard_of
from ..errors import UsageError
from ..io import log
from ..prompts import ANSWERS, Templates
from ..seeding import rng
from ..similar import load as load_similar


def topk_prompts(ds, tpl, cands, split, opts: Options):
    tasks, augment, reachable_only, seed = opts.tasks, opts.augment, opts.reachable_only, opts.seed
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


@dataclass
class Options:
    """What `l4r prompt` writes (checked when made): the backbone's `candidates` (top-k tasks), its
    user `embeddings` (the similar user) and `rating_predictions` (rating), for `split` ("valid",
    "test" or "valid,test"), `tasks` (listwise, pointwise, rating)."""
    candidates: Path | None = None
    embeddings: Path | None = None
    rating_predictions: Path | None = None
    split: str = "test"
    tasks: tuple[str, ...] = ("listwise",)
    augment: bool = True
    reachable_only: bool = False
    seed: int = 0
    history: int = 10
    shard: tuple[int, int] | None = None
    answer: str = "labels"

    def __post_init__(self):
        if not self.split or any(s not in ("valid", "test") for s in self.split.split(",")):
            raise UsageError(f"--split must be valid, test or valid,test; got {self.split!r}")
        bad = [t for t in self.tasks if t not in ("listwise", "pointwise", "rating")]
        if bad:
            raise UsageError(f"--tasks: unknown task(s) {', '.join(bad)}; known: listwise, pointwise, rating")
        if {"listwise", "pointwise"} & set(self.tasks) and self.candidates is None:
            raise UsageError("--candidates is needed for listwise and pointwise prompts")
        if self.answer not in ANSWERS:
            raise UsageError(f"--answer must be one of {', '.join(ANSWERS)}, got {self.answer!r}")


def run(data_dir: Path, opts: Options) -> list[dict]:
    """Prompt records of one split, or of several (`split` a comma list, e.g. "valid,test"), in that order."""
    ds = datamod.load(data_dir)
    similar = load_similar(opts.embeddings) if (opts.embeddings and opts.augment) else {}
    tpl = Templates(ds, similar, opts.history, ds.scale, opts.answer)
    recs = []
    for one in opts.split.split(","):
        part = split_prompts(ds, tpl, one, opts)
        part = [r for r in part if shard_of(r["user"], opts.shard)]
        log(f"prompt: {len(part)} prompts for split {one}")
        recs += part
    return recs


def split_prompts(ds, tpl, split: str, opts: Options) -> list[dict]:
    recs = []
    if "rating" in opts.tasks:
        preds = load_rating_predictions(opts.rating_predictions, split) if opts.rating_predictions else {}
        recs += list(rating_prompts(ds, tpl, preds, split, opts.augment))
    if {"listwise", "pointwise"} & set(opts.tasks):
        cands = load_candidates(opts.candidates, split, ds)
        recs += list(topk_prompts(ds, tpl, cands, split, opts))
    return recs
