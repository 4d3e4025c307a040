"""augment: LLM data augmentation for the conventional model (paper 4.2), three scenarios.

direct (4.2.1, P1): for sampled users, random pairs of never-interacted items are ranked by the
  LLM; each answer becomes a triple record (u, i+, i-) for `backbone --extra` (D' of Eq. 3).
sequential (4.2.2, P2): for sampled users, the LLM picks the most preferred of `options` random
  never-interacted items; it is inserted at a seeded random position of the training sequence.
  Writes sequence records for every user (augmented or not) for `backbone --sequences`.
rating (4.2.3, P3): in-context prompts with worked examples ask for each item's missing
  attributes (movies: director, star; books: genre, pages); the answer starts written ("Director:")
  so that even a small model answers in `Field: value` lines. Writes attribute records {item, attrs}
  for `backbone --extra`. One LLM call per item, reusable across backbones. Reported: how many items
  got attributes, and how many values repeat a worked example's (a small model copies its examples).
Reads: a prepared dataset; runs the LLM through l4r.answering (as `l4r llm` does) (resumable: OUT.completions.jsonl),
or reads `--completions` made elsewhere, or only writes the prompts (`--emit-prompts`).
Answers that cannot be parsed are counted and produce no augmentation; the counts go to stderr and,
with an output file, to OUT.stats.json ({"stats": "augment", prompts, answers, unusable, records;
rating also values, copied}).
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from .. import data as datamod
from ..data import unseen
from ..errors import UsageError
from ..io import log, read_jsonl, write_jsonl, write_text
from ..prompts import ANSWERS, Templates
from ..seeding import rng as seeded

ATTRIBUTES = {
    "movie": (["director", "star"], [
        ("Toy Story (1995)", {"director": "John Lasseter", "star": "Tom Hanks"}),
        ("Titanic (1997)", {"director": "James Cameron", "star": "Leonardo DiCaprio"}),
        ("Fargo (1996)", {"director": "Joel Coen", "star": "Frances McDormand"})]),
    "book": (["genre", "pages"], [
        ("Harry Potter and the Sorcerer's Stone", {"genre": "Fantasy", "pages": "309"}),
        ("The Da Vinci Code", {"genre": "Thriller", "pages": "454"}),
        ("Pride and Prejudice", {"genre": "Romance", "pages": "279"})]),
}
UNKNOWN = {"", "unknown", "n/a", "na", "none", "not available", "unavailable", "-", "?"}
MAX_WORDS = 4   # a name, genre or page count; longer values are prose ("The movie is a classic, ..."), dropped


def sample_users(ds, n: int, rng) -> list[str]:
    users = [u for u in ds.user_ids if ds.train.get(u)]
    return users if not n or n >= len(users) else sorted(rng.sample(users, n), key=ds.user_ids.index)


def direct_prompts(ds, tpl, users, pairs, seed):
    for user in users:
        rng = seeded(seed, "direct", user)
        for k in range(pairs):
            pair = unseen(ds, user, rng, 2)
            if len(pair) < 2:
                continue
            ins, inp, _ = tpl.pairwise(user, "fit", pair)
            yield {"id": f"direct:{user}:{k}", "task": "pairwise", "user": user, "instruction": ins, "input": inp,
                   "candidates": [[i, ds.title(i)] for i in pair], "labels": tpl.tags(pair), "answer": tpl.answer}


def sequential_prompts(ds, tpl, users, options, seed):
    for user in users:
        rng = seeded(seed, "sequential", user)
        shown = unseen(ds, user, rng, options)
        hist = [e["item"] for e in ds.train[user]]
        ins, inp, _ = tpl.sequential(user, "train", shown, hist)
        yield {"id": f"sequential:{user}", "task": "sequential", "user": user, "instruction": ins, "input": inp,
               "candidates": [[i, ds.title(i)] for i in shown], "labels": tpl.tags(shown), "answer": tpl.answer}


def popular_items(ds, n: int) -> list[str]:
    """The n most-interacted items (all when n is 0): where side information helps most rows."""
    if not n or n >= ds.n_items:
        return ds.item_ids
    counts = {}
    for events in ds.train.values():
        for e in events:
            counts[e["item"]] = counts.get(e["item"], 0) + 1
    return sorted(ds.item_ids, key=lambda i: (-counts.get(i, 0), ds.iidx[i]))[:n]


def attribute_prompts(ds, items):
    noun = (ds.stats.get("nouns") or ["item"])[0]
    fields, examples = ATTRIBUTES.get(noun, ATTRIBUTES["movie"])
    shots = "\n\n".join(f"Title: {t}\n" + "\n".join(f"{f.capitalize()}: {a[f]}" for f in fields) for t, a in examples)
    ins = (f"Provide the missing attributes of the {noun} ({', '.join(fields)}), one per line as in the "
           f"examples. Write 'unknown' when you do not know.")
    for item in items:
        yield {"id": f"attribute:{item}", "task": "attribute", "user": "", "item": item, "instruction": ins,
               "input": f"{shots}\n\nTitle: {ds.title(item)}", "response": f"{fields[0].capitalize()}:",
               "fields": fields}


def example_values(noun: str) -> set[str]:
    """The worked examples' values (any field): an answer repeating one is likely copied."""
    return {v for _, attrs in ATTRIBUTES.get(noun, ATTRIBUTES["movie"])[1] for v in attrs.values()}


def parse_attributes(text: str, fields: list[str]) -> dict[str, str]:
    """`Field: value` lines -> {field: normalised value}; unknown-like values and prose (more than
    MAX_WORDS words) are dropped."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^\s*[-*]?\s*([A-Za-z ]+?)\s*[:=]\s*(.+?)\s*$", line)
        if not m:
            continue
        key = m.group(1).strip().lower()
        key = {"lead star": "star", "actor": "star", "lead actor": "star", "page length": "pages",
               "page count": "pages"}.get(key, key)
        value = " ".join(m.group(2).strip().strip(".\"'").split())
        if key in fields and key not in out and value.lower() not in UNKNOWN and len(value.split()) <= MAX_WORDS:
            if key == "pages":
                digits = re.search(r"\d+", value)
                if not digits:
                    continue
                value = digits.group()
            out[key] = value.title() if value.islower() or value.isupper() else value
    return out


def to_triples(completions, prompts):
    by_id = {p["id"]: p for p in prompts}
    for c in completions:
        p = by_id.get(c["id"])
        if not p or c["status"] != "ok" or not c.get("items"):
            continue
        pos = c["items"][0]
        neg = next(i for i, _ in p["candidates"] if i != pos)
        yield {"user": c["user"], "pos": pos, "neg": neg}


def to_sequences(ds, completions, seed):
    chosen = {c["user"]: c["items"][0] for c in completions if c["status"] == "ok" and c.get("items")}
    for user in ds.user_ids:
        seq = [e["item"] for e in ds.train.get(user, [])]
        if user in chosen and seq:
            pos = seeded(seed, "insert", user).randint(0, len(seq) - 1)   # keep the last item last
            seq = seq[:pos] + [chosen[user]] + seq[pos:]
        yield {"user": user, "items": seq}


def to_attributes(completions, prompts):
    fields = {p["id"]: p["fields"] for p in prompts}
    for c in completions:
        attrs = parse_attributes(c["text"], fields.get(c["id"], []))
        yield {"item": c["item"], "attrs": attrs}


@dataclass
class Options:
    """What `l4r augment` does (checked when made): the scenario `task`, the LLM (`model`, `backend`,
    `engine` options), how many `users` (0: all) with `pairs` each (direct) or `options` items offered
    (sequential), how many popular `items` (rating, 0: all); `emit_prompts` only writes the prompts,
    `completions` reads answers made elsewhere."""
    task: str = "direct"
    model: str = "smollm2"
    backend: str = "hf"
    users: int = 0
    pairs: int = 1
    options: int = 10
    items: int = 0
    seed: int = 0
    batch_size: int = 16
    history: int = 10
    answer: str = "labels"
    emit_prompts: bool = False
    completions: Path | None = None
    engine: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.task not in ("direct", "sequential", "rating"):
            raise UsageError(f"--task must be direct, sequential or rating, got {self.task!r}")
        if self.answer not in ANSWERS:
            raise UsageError(f"--answer must be one of {', '.join(ANSWERS)}, got {self.answer!r}")


def make_prompts(ds, opts: Options) -> list[dict]:
    tpl = Templates(ds, None, opts.history, ds.scale, opts.answer)
    rng = random.Random(opts.seed)
    if opts.task == "rating":
        return list(attribute_prompts(ds, popular_items(ds, opts.items)))
    users = sample_users(ds, opts.users, rng)
    if opts.task == "direct":
        return list(direct_prompts(ds, tpl, users, opts.pairs, opts.seed))
    return list(sequential_prompts(ds, tpl, users, opts.options, opts.seed))


def run(data_dir: Path, out: str, opts: Options) -> int:
    from .. import answering

    ds = datamod.load(data_dir)
    task, completions = opts.task, opts.completions
    prompts = make_prompts(ds, opts)
    if opts.emit_prompts:
        return write_jsonl(out, prompts)
    if completions is None:
        work = Path(str(out) + ".work")
        work.mkdir(parents=True, exist_ok=True)
        write_jsonl(work / "prompts.jsonl", prompts)
        completions = work / "completions.jsonl"
        if not completions.exists():
            answering.run(work / "prompts.jsonl", str(completions),
                          answering.Options(backend=opts.backend, model=opts.model, batch_size=opts.batch_size,
                                            engine=opts.engine))
    done = list(read_jsonl(completions, "completion"))
    stats = {"stats": "augment", "task": task, "prompts": len(prompts), "answers": len(done),
             "unusable": sum(c["status"] != "ok" for c in done)}
    if task == "direct":
        records = list(to_triples(done, prompts))
    elif task == "sequential":
        records = list(to_sequences(ds, done, opts.seed))
    else:
        records = list(to_attributes(done, prompts))
        examples = example_values((ds.stats.get("nouns") or ["item"])[0])
        values = [v for r in records for v in r["attrs"].values()]
        stats.update(unusable=sum(not r["attrs"] for r in records), values=len(values),
                     copied=sum(v in examples for v in values))
        log(f"augment: rating: {stats['values']} attribute values; {stats['copied']} repeat a worked "
            "example's value")
    stats["records"] = len(records)
    log(f"augment: {task}: {len(prompts)} prompts, {len(done)} answers, {stats['unusable']} unusable, "
        f"{len(records)} records")
    n = write_jsonl(out, records)
    if str(out) != "-":
        write_text(Path(str(out) + ".stats.json"), json.dumps(stats, indent=1))
    return n
