"""prep: a dataset's original files -> a prepared folder with a leave-one-out split.

Reads: the original files of --dataset in --raw, or an archive there, or (online) the official
archive, downloaded with checksum, progress and resume (l4r.datasets.fetch); offline, a missing
dataset is a usage error that says which files to put where.
Filters: --min-rating, then the iterated --core filter (BookCrossing defaults: ratings >= 1, 5-core,
paper 5.1.1); data without timestamps gets a seeded random history order (--seed, footnote 2).
Writes, into --out: items.jsonl (item), users.jsonl (user), train/valid/test.jsonl
(interaction), stats.json; prints the stats record on stdout.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ..datasets import Raw, fetch, reader
from ..errors import DataError, UsageError
from ..io import atomic_path, log, write_jsonl
from ..split import check_protocol, leave_one_out, random_order, split_hash


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


ARCHIVES = {"ml-1m": "ml-1m.zip", "bookcrossing": "BX-CSV-Dump.zip"}
WHAT = {"ml-1m": "ratings.dat (or ratings.dat.gz), movies.dat, users.dat",
        "bookcrossing": "BX-Book-Ratings.csv, BX-Books.csv, BX-Users.csv (each may be .gz)"}


def find_in(raw: Path, dataset: str, present) -> Path | None:
    """The folder under --raw (or an unzipped archive there) that holds the dataset's files."""
    for folder in (raw, raw / dataset, raw / "_unzipped", raw / "_unzipped" / dataset):
        if folder.is_dir() and present(folder):
            return folder
    unzipped = raw / "_unzipped"
    if unzipped.is_dir():
        for folder in sorted(p for p in unzipped.rglob("*") if p.is_dir()):
            if present(folder):
                return folder
    return None


def check_md5s(folder: Path, sums: dict[str, str]) -> None:
    for name, expect in sums.items():
        got = fetch.md5(folder / name)
        if got != expect:
            raise UsageError(f"{folder / name}: checksum mismatch (md5 {got}, expected {expect}); "
                             "delete the download and retry, or put the original files in --raw")


def locate_download(dataset: str, raw: Path, offline: bool) -> tuple[str, Path]:
    """Return (reader name, folder) for ml-1m or bookcrossing: the files in --raw, an archive
    there, or the official archive downloaded (checksum verified, progress on stderr, resumed)."""
    mod = reader(dataset)
    folder = find_in(raw, dataset, mod.present)
    if folder:
        return dataset, folder
    archive = raw / ARCHIVES[dataset]
    where = (f"put {WHAT[dataset]} (or {ARCHIVES[dataset]}) in {raw}"
             f" (official home: {mod.URL.rsplit('/', 1)[0]}/)")
    if not archive.exists():
        if offline:
            raise UsageError(f"{raw}: no {dataset} files and --offline; {where}")
        try:
            raw.mkdir(parents=True, exist_ok=True)
            log(f"prep: downloading {mod.URL}")
            fetch.download(mod.URL, archive, getattr(mod, "MD5", None))
        except OSError as exc:
            raise UsageError(f"{raw}: no {dataset} files and the download failed ({exc}); {where}") from None
    fetch.unzip(archive, raw / "_unzipped")
    folder = find_in(raw, dataset, mod.present)
    if not folder:
        raise UsageError(f"{archive}: the archive holds no {WHAT[dataset]}; {where}")
    if getattr(mod, "FILE_MD5", None):   # no published archive sum: check each file instead
        check_md5s(folder, mod.FILE_MD5)
    return dataset, folder


def locate(dataset: str, raw: Path, offline: bool) -> tuple[str, Path]:
    """Return (reader name, path) of a dataset's original files."""
    if dataset == "ml-100k":
        return locate_ml100k(raw, offline)
    if dataset in ARCHIVES:
        return locate_download(dataset, raw, offline)
    if dataset in ("csv", "jsonl"):
        if not raw.exists():
            raise UsageError(f"{raw}: no such file or folder; pass the interaction table (or its folder) as --raw")
        return dataset, raw
    reader(dataset)
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


# paper 5.1.1: BookCrossing keeps explicit ratings (1-10; 0 is BX's implicit "interaction") in a 5-core
DEFAULTS = {"bookcrossing": {"min_rating": 1.0, "core": 5}}


def stats_of(raw: Raw, inter, train, valid, test, source: str, settings: dict) -> dict:
    users = {r["user"] for r in inter}
    items = {r["item"] for r in inter}
    return {"dataset": source, "users": len(users), "items": len(items), "interactions": len(inter),
            "density": round(len(inter) / max(1, len(users) * len(items)), 6),
            "train": len(train), "valid": len(valid), "test": len(test),
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
        return mod.read(folder, opts.pop("columns", None), forced=name if name == "jsonl" else None, **opts)
    opts = options or {}
    if any((opts.get("columns") or {}).values()) or any(opts.get(k) for k in ("items", "users", "sep")):
        raise UsageError("--user-col, --item-col, --rating-col, --time-col, --title-col, --items, --users and --sep "
                         "are for --dataset csv or jsonl")
    return mod.read(folder)


def run(dataset: str, raw: Path, out: Path, offline: bool = False, min_rating: float | None = None,
        core: int | None = None, seed: int = 0, options: dict | None = None) -> dict:
    """`options` (csv/jsonl only): columns={user,item,rating,time,title}, items, users, sep."""
    name, folder = locate(dataset, raw, offline)
    data = read_raw(name, folder, options)
    defaults = DEFAULTS.get(dataset, {})
    min_rating = defaults.get("min_rating") if min_rating is None else min_rating
    core = defaults.get("core", 0) if core is None else core
    inter = data.interactions
    if min_rating is not None:
        inter = [r for r in inter if r["rating"] is not None and r["rating"] >= min_rating]
    inter = core_filter(inter, core)
    if not inter:
        raise DataError(f"no interactions left (min rating {min_rating}, {core}-core)", str(folder))
    inter, ordered = order(inter, seed, dataset)
    train, valid, test = leave_one_out(inter)
    check_protocol(train, valid, test, len(inter))
    used = {r["item"] for r in inter}
    items = [r for r in data.items if r["item"] in used]
    known = {r["item"] for r in items}
    items += [{"item": i, "title": f"item {i}", "year": None, "genres": [], "attrs": {}} for i in sorted(used - known)]
    users_used = {r["user"] for r in inter}
    settings = {"min_rating": min_rating, "core": core, "order": ordered}
    stats = stats_of(data, inter, train, valid, test, f"{dataset} ({name} files in {folder})", settings)
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
