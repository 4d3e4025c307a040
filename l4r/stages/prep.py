"""prep: a dataset's original files -> a prepared folder with a leave-one-out split.

Reads: the original files of --dataset in --raw (or fetches them, see l4r.datasets.fetch).
Writes, into --out: items.jsonl (item), users.jsonl (user), train/valid/test.jsonl
(interaction), stats.json; prints the stats record on stdout.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..datasets import Raw, fetch, reader
from ..errors import UsageError
from ..io import atomic_path, log, write_jsonl
from ..split import check_protocol, leave_one_out, split_hash


def locate_ml100k(raw: Path, offline: bool) -> tuple[str, Path]:
    """Return (reader name, folder) for ML-100K, fetching it if needed and possible."""
    from ..datasets import ml100k

    for folder in (raw, raw / "ml-100k"):
        if ml100k.present(folder):
            return "ml-100k", folder
    for archive in (raw / "ml-100k.zip", raw.parent / "ml-100k.zip"):
        if archive.exists():
            fetch.unzip(archive, archive.parent / "_unzipped")
            return "ml-100k", archive.parent / "_unzipped" / "ml-100k"
    if list((raw / "recbole-ml-100k").glob("*.inter")):
        return "recbole", raw / "recbole-ml-100k"
    if not offline:
        raw.mkdir(parents=True, exist_ok=True)
        try:
            archive = fetch.download(ml100k.URL, raw / "ml-100k.zip", ml100k.MD5)
            fetch.unzip(archive, raw / "_unzipped")
            return "ml-100k", raw / "_unzipped" / "ml-100k"
        except OSError as exc:
            log(f"prep: official download failed ({exc}); trying the copy in the RecBole wheel")
        copy = fetch.recbole_copy("ml-100k", raw)
        if copy:
            return "recbole", copy
    raise UsageError(f"{raw}: no ML-100K files; put u.data, u.item, u.user (or ml-100k.zip) there, "
                     "or run online so prep can fetch them")


def locate(dataset: str, raw: Path, offline: bool) -> tuple[str, Path]:
    if dataset == "ml-100k":
        return locate_ml100k(raw, offline)
    if not raw.exists():
        raise UsageError(f"{raw}: no such folder; put the original {dataset} files there")
    return dataset, raw


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


def stats_of(raw: Raw, inter, train, valid, test, source: str) -> dict:
    users = {r["user"] for r in inter}
    items = {r["item"] for r in inter}
    return {"dataset": source, "users": len(users), "items": len(items), "interactions": len(inter),
            "density": round(len(inter) / max(1, len(users) * len(items)), 6),
            "train": len(train), "valid": len(valid), "test": len(test),
            "split_hash": split_hash(train, valid, test), "skipped": raw.skipped}


def run(dataset: str, raw: Path, out: Path, offline: bool = False, min_rating: float | None = None,
        core: int = 0) -> dict:
    name, folder = locate(dataset, raw, offline)
    data = reader(name).read(folder)
    inter = data.interactions
    if min_rating is not None:
        inter = [r for r in inter if r["rating"] is not None and r["rating"] >= min_rating]
    inter = core_filter(inter, core)
    train, valid, test = leave_one_out(inter)
    check_protocol(train, valid, test)
    used = {r["item"] for r in inter}
    items = [r for r in data.items if r["item"] in used]
    known = {r["item"] for r in items}
    items += [{"item": i, "title": f"item {i}", "year": None, "genres": [], "attrs": {}} for i in sorted(used - known)]
    users_used = {r["user"] for r in inter}
    stats = stats_of(data, inter, train, valid, test, f"{dataset} ({name} files in {folder})")
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
