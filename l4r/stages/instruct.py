"""instruct: the instruction-tuning set D_ins (paper 4.5.1), built only from training data.

Each user's last training interaction is the target and the rest the history, so no
validation or test item can appear (they are also removed from candidate lists and
similar-user histories). Users with fewer than 3 training interactions are dropped.
Reads: a prepared dataset, the backbone's candidates (split "train") and embeddings,
optional rating predictions (prediction records, split "train") for the rating task.
Writes: instruction records {id, task, user, instruction, input, output}.

Tasks: listwise (rank the backbone's k' candidates; the target first), pointwise (rate the
target; used to sort candidates), pairwise (P1: prefer the target over a random unseen item),
sequential (P2: pick the next item among the target and random unseen items), rating.
`augment=False` gives the plain IFT instructions (no similar user, no backbone prediction).
"""
from __future__ import annotations

import random
from pathlib import Path

from .. import data as datamod
from ..io import log, read_jsonl
from ..prompts import Templates, fmt_rating
from ..similar import load as load_similar

TASKS = ("listwise", "pointwise", "pairwise", "sequential", "rating")


def load_candidates(path, split: str) -> dict[str, list[str]]:
    return {r["user"]: r["items"] for r in read_jsonl(path, "candidates") if r["split"] == split}


def load_rating_predictions(path, split: str) -> dict[tuple[str, str], float]:
    return {(r["user"], r["item"]): r["rating"] for r in read_jsonl(path, "prediction")
            if r.get("split", split) == split and r.get("item") is not None}


def held_out(ds, user) -> set[str]:
    return {r["item"] for r in (ds.valid.get(user), ds.test.get(user)) if r}


def unseen(ds, user, rng, n, exclude=()) -> list[str]:
    """n random items the user never interacted with (in any split)."""
    seen = {r["item"] for r in ds.train.get(user, [])} | held_out(ds, user) | set(exclude)
    out = []
    while len(out) < n and len(seen) + len(out) < ds.n_items:
        item = ds.item_ids[rng.randrange(ds.n_items)]
        if item not in seen and item not in out:
            out.append(item)
    return out


def build(ds, tpl: Templates, user, task, rng, cands, rating_preds, augment, n_options=10):
    """One instruction dict for (user, task), or None when the user cannot give one."""
    target = ds.target(user, "train")
    banned = held_out(ds, user)
    title = ds.title(target["item"])
    if task in ("listwise", "pointwise"):
        order = [i for i in cands.get(user, []) if i not in banned]
        if target["item"] not in order:
            return None
    if task == "listwise":
        shown = rng.sample(order, len(order))
        ins, inp, q = tpl.listwise(user, "train", shown, order, augment, banned)
        out = "; ".join(tpl.ds.title(i) for i in [target["item"]] + [i for i in order if i != target["item"]])
    elif task == "pointwise":
        pos = order.index(target["item"]) + 1
        ins, inp, q = tpl.rating(user, "train", target["item"], f"ranked {pos} of {len(order)}", augment, banned)
        out = fmt_rating(target.get("rating"))
    elif task == "rating":
        pred = rating_preds.get((user, target["item"]))
        ins, inp, q = tpl.rating(user, "train", target["item"], None if pred is None else f"{pred:.1f}", augment,
                                 banned)
        out = fmt_rating(target.get("rating"))
    elif task == "pairwise":
        pair = [target["item"]] + unseen(ds, user, rng, 1)
        rng.shuffle(pair)
        ins, inp, q = tpl.pairwise(user, "train", pair)
        out = title
    else:
        shown = [target["item"]] + unseen(ds, user, rng, n_options - 1)
        rng.shuffle(shown)
        ins, inp, q = tpl.sequential(user, "train", shown)
        out = title
    return {"id": f"{task}:{user}", "task": task, "user": user, "instruction": ins,
            "input": inp + ("\n" + q if q else ""), "output": out}


def run(data_dir: Path, candidates: Path | None, embeddings: Path | None, tasks: list[str], per_task: int,
        seed: int = 0, augment: bool = True, rating_predictions: Path | None = None, history: int = 10,
        min_interactions: int = 3):
    ds = datamod.load(data_dir)
    similar = load_similar(embeddings) if (embeddings and augment) else {}
    cands = load_candidates(candidates, "train") if candidates else {}
    preds = load_rating_predictions(rating_predictions, "train") if rating_predictions else {}
    scale = ds.stats.get("rating_scale", [1, 5])
    tpl = Templates(ds, similar, history, tuple(scale))
    users = [u for u in ds.user_ids if ds.n_interactions(u) >= min_interactions]
    out = []
    for task in tasks:
        rng = random.Random(f"{seed}:{task}")
        made = [r for u in users if (r := build(ds, tpl, u, task, rng, cands, preds, augment))]
        if per_task and len(made) > per_task:
            made = rng.sample(made, per_task)
        log(f"instruct: {task}: {len(made)} instructions ({len(users)} eligible users)")
        out.extend(made)
    random.Random(seed).shuffle(out)
    return out
