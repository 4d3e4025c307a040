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
from pathlib import Path

from ..datasets import READERS, Raw, fetch, reader, spec
from ..errors import DataError, UsageError
from ..io import atomic_path, log, write_jsonl
from ..split import check_protocol, leave_one_out, random_order, short_users, split_hash


DEFAULT_RAW = Path("data/raw")


def downloadable() -> list[str]:
    return [n for n in READERS if spec(n).url]


def raw_folder(dataset: str, raw: Path | None, download: bool, offline: bool) -> tuple[Path, bool]:
    """(the folder of original files, whether prep may download into it). A path the user names
    must exist unless --download; the default data/raw/DATASET is where downloads go."""
    default = DEFAULT_RAW / dataset
    raw = default if raw is None else raw
    if download and offline:
        raise UsageError("--download and --offline contradict each other")
    if download and not spec(dataset).url:
        raise UsageError(f"--download: prep can download {', '.join(downloadable())}, not {dataset}")
    named = raw.resolve() != default.resolve()
    if named and not download and not raw.exists():
        raise UsageError(f"{raw}: no such file or folder; {what_to_put(dataset)}")
    return raw, (download or not named) and not offline


def what_to_put(dataset: str) -> str:
    if spec(dataset).url:
        return f"put {spec(dataset).files} there, or pass --download to fetch them into it"
    if dataset in ("csv", "jsonl"):
        return "pass the interaction table (or its folder) as --raw"
    return f"put the original {dataset} files there"


def find_in(root: Path, dataset: str, present, deep: bool = False) -> Path | None:
    """The folder that holds the dataset's files: root, root/DATASET, or (deep) any folder below."""
    folders = [root, root / dataset]
    if deep:
        folders += sorted(p for p in root.rglob("*") if p.is_dir())
    return next((f for f in folders if f.is_dir() and present(f)), None)


def unpack(archive: Path, tmp: Path, dataset: str, present) -> Path:
    """Unzip into the temporary folder `tmp`; return the folder inside that holds the files."""
    fetch.unzip(archive, tmp / archive.stem)
    folder = find_in(tmp / archive.stem, dataset, present, deep=True)
    if not folder:
        raise UsageError(f"{archive}: the archive holds no {spec(dataset).files}")
    return folder


def locate_ml100k(raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, folder, where the files came from) for ML-100K, fetching it if allowed."""
    from ..datasets import ml100k

    for folder in (raw, raw / "ml-100k"):
        if ml100k.present(folder):
            return "ml-100k", folder, str(folder)
    for archive in (raw / "ml-100k.zip", raw.parent / "ml-100k.zip"):
        if archive.exists():
            return "ml-100k", unpack(archive, tmp, "ml-100k", ml100k.present), str(archive)
    if list((raw / "recbole-ml-100k").glob("*.inter")):
        return "recbole", raw / "recbole-ml-100k", str(raw / "recbole-ml-100k")
    if may_fetch:
        raw.mkdir(parents=True, exist_ok=True)
        log(f"prep: no ML-100K files in {raw}: downloading {ml100k.URL} into it")
        try:
            archive = fetch.download(ml100k.URL, raw / "ml-100k.zip", ml100k.MD5)
            return "ml-100k", unpack(archive, tmp, "ml-100k", ml100k.present), str(archive)
        except OSError as exc:
            log(f"prep: official download failed ({exc}); trying the copy in the RecBole wheel")
        copy = fetch.recbole_copy("ml-100k", raw)
        if copy:
            return "recbole", copy, str(copy)
    raise UsageError(f"{raw}: no ML-100K files; put {spec('ml-100k').files} there"
                     + ("" if may_fetch else ", or let prep download them (see --download)"))


def check_md5s(folder: Path, sums: dict[str, str]) -> None:
    for name, expect in sums.items():
        got = fetch.md5(folder / name)
        if got != expect:
            raise UsageError(f"{folder / name}: checksum mismatch (md5 {got}, expected {expect}); "
                             "delete the download and retry, or put the original files in --raw")


def locate_download(dataset: str, raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, folder, where the files came from) for ml-1m or bookcrossing: the files in
    --raw, an archive there, or the official archive downloaded (checksum verified, resumed)."""
    mod = reader(dataset)
    folder = find_in(raw, dataset, mod.present)
    if folder:
        return dataset, folder, str(folder)
    archive = raw / spec(dataset).archive
    where = f"put {spec(dataset).files} in {raw} (official home: {mod.URL.rsplit('/', 1)[0]}/)"
    if not archive.exists():
        if not may_fetch:
            raise UsageError(f"{raw}: no {dataset} files; {where}")
        try:
            raw.mkdir(parents=True, exist_ok=True)
            log(f"prep: no {dataset} files in {raw}: downloading {mod.URL} into it")
            fetch.download(mod.URL, archive, getattr(mod, "MD5", None))
        except OSError as exc:
            raise UsageError(f"{raw}: no {dataset} files and the download failed ({exc}); {where}") from None
    folder = unpack(archive, tmp, dataset, mod.present)
    if getattr(mod, "FILE_MD5", None):   # no published archive sum: check each file instead
        check_md5s(folder, mod.FILE_MD5)
    return dataset, folder, str(archive)


def locate(dataset: str, raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, path of the original files, where they came from); archives unpack into `tmp`."""
    if dataset == "ml-100k":
        return locate_ml100k(raw, may_fetch, tmp)
    if spec(dataset).url:
        return locate_download(dataset, raw, may_fetch, tmp)
    if not raw.exists():
        raise UsageError(f"{raw}: no such file or folder; {what_to_put(dataset)}")
    return dataset, raw, str(raw)


def in_archive(exc: DataError, tmp: Path, archive: str) -> DataError:
    """`exc` naming ARCHIVE/member instead of the temporary unpacked copy, which is gone after prep."""
    file = Path(exc.file)
    if not file.is_relative_to(tmp):
        return exc
    return DataError(exc.what, f"{archive}/{file.relative_to(tmp / Path(archive).stem)}", exc.line, exc.field)


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


def run(dataset: str, raw: Path | None, out: Path, offline: bool = False, min_rating: float | None = None,
        core: int | None = None, seed: int = 0, options: dict | None = None, download: bool = False) -> dict:
    """`raw` None: data/raw/DATASET. `options` (csv/jsonl only): columns={user,item,rating,time,title},
    items, users, sep. `download`: fetch the dataset into a named --raw (created) when missing."""
    reader(dataset)
    raw, may_fetch = raw_folder(dataset, raw, download, offline)
    with tempfile.TemporaryDirectory(prefix="l4r-prep-") as tmp:
        name, folder, source = locate(dataset, raw, may_fetch, Path(tmp))
        try:
            data = read_raw(name, folder, options)
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
