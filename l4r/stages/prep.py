"""prep: a dataset's original files -> a prepared folder with a leave-one-out split.

Reads: the original files of --dataset in --raw, or an archive there (unpacked into a temporary
folder: prep never writes into --raw), or the official archive, downloaded with checksum, progress
and resume (l4r.datasets.fetch) into the default folder data/raw/DATASET, or into --raw with
--download. A --raw that does not exist is a usage error, as is a missing dataset offline; both say
which files to put where. Bad input follows docs/input-policy.md.
Filters: --min-rating, then the iterated --core filter (BookCrossing defaults: ratings >= 1, 5-core,
paper 5.1.1); data without timestamps gets a seeded random history order (--seed, footnote 2).
Writes, into --out: items.jsonl (item), users.jsonl (user), train/valid/test.jsonl
(interaction), stats.json; prints the stats record on stdout.
"""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..datasets import Raw, reader, spec
from ..datasets.locate import in_archive, locate, raw_folder
from ..errors import DataError, UsageError
from ..io import atomic_path, log, write_jsonl
from ..split import check_protocol, leave_one_out, random_order, short_users, split_hash


def core_filter(inter: list[dict], k: int) -> list[dict]:
    """Iterated k-core: drop users and items with fewer than k interactions until none are left."""
    while k > 1:
        users = Counter(r["user"] for r in inter)
        items = Counter(r["item"] for r in inter)
        kept = [r for r in inter if users[r["user"]] >= k and items[r["item"]] >= k]
        if len(kept) == len(inter):
            break
        inter = kept
    return inter


def rating_scale(dataset: str, inter: list[dict]) -> list[int] | None:
    """[low, high] of the dataset's ratings (prompts, scoring and aggregation use it): the format's
    own scale (BookCrossing 1-10, paper 5.1.1), else the integer range observed."""
    if spec(dataset).scale:
        return list(spec(dataset).scale)
    values = [r["rating"] for r in inter if r.get("rating") is not None]
    if not values:
        return None
    import math

    return [math.floor(min(values)), math.ceil(max(values))]


def stats_of(raw: Raw, inter, train, valid, test, source: str, settings: dict) -> dict:
    users = {r["user"] for r in inter}
    items = {r["item"] for r in inter}
    return {**source, "users": len(users), "items": len(items), "interactions": len(inter),
            "density": round(len(inter) / max(1, len(users) * len(items)), 6),
            "train": len(train), "valid": len(valid), "test": len(test),
            "short_users": short_users(train, valid, test),
            "split_hash": split_hash(train, valid, test), **settings,
            "skipped": raw.skipped, "repaired": raw.repaired}


def order(inter: list[dict], seed: int, dataset: str) -> tuple[list[dict], str]:
    """Keep timestamps; without any, order each history by a seeded random permutation."""
    timed = sum(r.get("ts") is not None for r in inter)
    if timed == len(inter):
        return inter, "timestamp"
    if timed:
        raise DataError(f"{len(inter) - timed:,} of {len(inter):,} interactions have no timestamp; "
                        "give every interaction one or none", dataset)
    log(f"prep: {dataset} has no timestamps: each history is a random permutation (seed {seed})")
    return random_order(inter, seed), f"random permutation (seed {seed})"


def read_raw(name: str, folder: Path, options: dict | None) -> Raw:
    mod = reader(name)
    if name in ("csv", "jsonl"):
        opts = dict(options or {})
        return mod.read(folder, opts.pop("columns", None), forced=name if name == "jsonl" else None,
                        scale=spec(name).scale, **opts)
    opts = options or {}
    if any((opts.get("columns") or {}).values()) or any(opts.get(k) for k in ("items", "users", "sep")):
        raise UsageError("--user-col, --item-col, --rating-col, --time-col, --title-col, --items, --users and --sep "
                         "are for --dataset csv or jsonl")
    return mod.read(folder, scale=spec(name).scale)


@dataclass
class Options:
    """How `l4r prep` reads and filters (checked when made): never the network when `offline`;
    `download` fetches into a named --raw; `min_rating` and `core` default to the dataset's spec
    (BookCrossing: ratings >= 1, 5-core); `seed` orders histories without timestamps; `table`
    (csv/jsonl only): columns={user,item,rating,time,title}, items, users, sep."""
    offline: bool = False
    download: bool = False
    min_rating: float | None = None
    core: int | None = None
    seed: int = 0
    table: dict | None = None

    def __post_init__(self):
        if self.core is not None and self.core < 0:
            raise UsageError("--core must be >= 0")


def run(dataset: str, raw: Path | None, out: Path, opts: Options = Options()) -> dict:
    """`raw` None: data/raw/DATASET."""
    reader(dataset)
    min_rating, core, seed = opts.min_rating, opts.core, opts.seed
    raw, may_fetch = raw_folder(dataset, raw, opts.download, opts.offline)
    with tempfile.TemporaryDirectory(prefix="l4r-prep-") as tmp:
        name, folder, source = locate(dataset, raw, may_fetch, Path(tmp))
        try:
            data = read_raw(name, folder, opts.table)
        except DataError as exc:
            raise in_archive(exc, Path(tmp), source) from None
    defaults = spec(dataset).defaults
    min_rating = defaults.get("min_rating") if min_rating is None else min_rating
    core = defaults.get("core", 0) if core is None else core
    inter = data.interactions
    if min_rating is not None:
        inter = [r for r in inter if r["rating"] is not None and r["rating"] >= min_rating]
    inter = core_filter(inter, core)
    if not inter:
        raise DataError(f"no interactions left after --min-rating {min_rating} and --core {core}", source)
    inter, ordered = order(inter, seed, dataset)
    train, valid, test = leave_one_out(inter)
    check_protocol(train, valid, test, len(inter))
    used = {r["item"] for r in inter}
    items = [r for r in data.items if r["item"] in used]
    known = {r["item"] for r in items}
    items += [{"item": i, "title": f"item {i}", "year": None, "genres": [], "attrs": {}} for i in sorted(used - known)]
    users_used = {r["user"] for r in inter}
    settings = {"min_rating": min_rating, "core": core, "order": ordered,
                "rating_scale": rating_scale(dataset, inter), "nouns": list(spec(dataset).nouns)}
    where = {"dataset": dataset, "source": f"{name} files in {source}"}
    stats = stats_of(data, inter, train, valid, test, where, settings)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "items.jsonl", items)
    write_jsonl(out / "users.jsonl", [u for u in data.users if u["user"] in users_used])
    for part, recs in (("train", train), ("valid", valid), ("test", test)):
        write_jsonl(out / f"{part}.jsonl", recs)
    with atomic_path(out / "stats.json") as tmp:
        tmp.write_text(json.dumps(stats, indent=1))
    log(f"prep: {stats['users']} users, {stats['items']} items, {stats['interactions']} interactions "
        f"-> {out} (split {stats['split_hash']})")
    return stats
