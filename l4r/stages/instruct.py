"""instruct: the instruction-tuning set D_ins (paper 4.5.1), built only from training data.

Each user's last training interaction is the target and the rest the history, so no
validation or test item can appear (they are also removed from candidate lists and
similar-user histories). Users with fewer than 3 training interactions are dropped.
Reads: a prepared dataset, the backbone's candidates (split "train") and embeddings,
optional rating predictions (prediction records, split "train") for the rating task.
Writes: instruction records {id, task, user, instruction, input, output}.

No target leakage: `l4r backbone` makes its split-"train" candidates and rating predictions
with a model that never trained on the target (each user's last training item held out), so
the target sits where a backbone would put an unseen item, as at test time. Listwise
instructions need the target among the candidates (as test prompts do, `--reachable-only`);
the log reports how many users qualify and the target's mean rank there.

Tasks: listwise (rank the backbone's k' candidates; the target first), pointwise (rate the
target; used to sort candidates), pairwise (P1: prefer the target over a random unseen item),
sequential (P2: pick the next item among the target and random unseen items), rating.
Answers (`answer`): "labels" (candidates shown as `A. title`; the output names labels, which
the llm stage scores from the next-token distribution) or "titles" (the paper's generated titles).
`augment=False` gives the plain IFT instructions (no similar user, no backbone prediction).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from .. import data as datamod
from ..data import held_out, load_candidates, load_rating_predictions, unseen
from ..errors import UsageError
from ..io import log
from ..prompts import ANSWERS, Templates, fmt_rating
from ..seeding import rng as seeded
from ..similar import load as load_similar

TASKS = ("listwise", "pointwise", "pairwise", "sequential", "rating")


def build(ds, tpl: Templates, user, task, rng, cands, rating_preds, augment, n_options=10):
    """One instruction dict for (user, task), or None when the user cannot give one."""
    target = ds.target(user, "train")
    banned = held_out(ds, user)
    item = target["item"]
    if task in ("listwise", "pointwise"):
        order = [i for i in cands.get(user, []) if i not in banned]
        if item not in order:
            return None
    if task == "listwise":
        shown = rng.sample(order, len(order))
        ins, inp, q = tpl.listwise(user, "train", shown, order, augment, banned)
        out = tpl.target(shown, [item] + [i for i in order if i != item])
    elif task == "pointwise":
        pos = order.index(item) + 1
        ins, inp, q = tpl.rating(user, "train", item, f"ranked {pos} of {len(order)}", augment, banned)
        out = fmt_rating(target.get("rating"))
    elif task == "rating":
        pred = rating_preds.get((user, item))
        ins, inp, q = tpl.rating(user, "train", item, None if pred is None else f"{pred:.1f}", augment, banned)
        out = fmt_rating(target.get("rating"))
    else:
        shown = [item] + unseen(ds, user, rng, 1 if task == "pairwise" else n_options - 1)
        rng.shuffle(shown)
        ins, inp, q = tpl.pairwise(user, "train", shown) if task == "pairwise" else \
            tpl.sequential(user, "train", shown)
        out = tpl.target(shown, [item])
    return {"id": f"{task}:{user}", "task": task, "user": user, "instruction": ins,
            "input": inp + ("\n" + q if q else ""), "output": out}


def target_ranks(ds, users, cands) -> dict:
    """Where the instruction target sits in its candidate list: how often it is there, mean rank."""
    ranks = [cands[u].index(t["item"]) + 1 for u in users
             if u in cands and (t := ds.target(u, "train")) and t["item"] in cands[u]]
    with_list = sum(u in cands for u in users)
    return {"users": with_list, "target_in_list": len(ranks),
            "mean_rank": round(sum(ranks) / len(ranks), 2) if ranks else None}


@dataclass
class Options:
    """What `l4r instruct` builds (checked when made): `tasks` from TASKS, at most `per_task` each
    (0: all), from the backbone's split-"train" `candidates`, user `embeddings` (the similar user)
    and `rating_predictions`."""
    candidates: Path | None = None
    embeddings: Path | None = None
    rating_predictions: Path | None = None
    tasks: tuple[str, ...] = ("listwise", "pointwise", "pairwise")
    per_task: int = 5000
    seed: int = 0
    augment: bool = True
    history: int = 10
    min_interactions: int = 3
    answer: str = "labels"

    def __post_init__(self):
        bad = [t for t in self.tasks if t not in TASKS]
        if bad:
            raise UsageError(f"--tasks: unknown task(s) {', '.join(bad)}; known: {', '.join(TASKS)}")
        if self.answer not in ANSWERS:
            raise UsageError(f"--answer must be one of {', '.join(ANSWERS)}, got {self.answer!r}")
        if self.per_task < 0:
            raise UsageError("--per-task must be >= 0")


def run(data_dir: Path, opts: Options) -> list[dict]:
    ds = datamod.load(data_dir)
    seed, augment = opts.seed, opts.augment
    similar = load_similar(opts.embeddings) if (opts.embeddings and augment) else {}
    cands = load_candidates(opts.candidates, "train", ds) if opts.candidates else {}
    preds = load_rating_predictions(opts.rating_predictions, "train") if opts.rating_predictions else {}
    tpl = Templates(ds, similar, opts.history, ds.scale, opts.answer)
    users = [u for u in ds.user_ids if ds.n_interactions(u) >= opts.min_interactions]
    if cands:
        where = target_ranks(ds, users, cands)
        log(f"instruct: the target is in {where['target_in_list']} of {where['users']} training candidate "
            f"lists (mean rank {where['mean_rank']})")
    out = []
    for task in opts.tasks:
        rng = seeded(seed, task)
        made = [r for u in users if (r := build(ds, tpl, u, task, rng, cands, preds, augment))]
        if opts.per_task and len(made) > opts.per_task:
            made = rng.sample(made, opts.per_task)
        log(f"instruct: {task}: {len(made)} instructions ({len(users)} eligible users)")
        out.extend(made)
    random.Random(seed).shuffle(out)
    return out
