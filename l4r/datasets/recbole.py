"""RecBole atomic files (Zhao et al. 2021): NAME.inter, NAME.item, NAME.user, tab-separated,
headers `field:type`. Any dataset published in that format (or one's own) reads here.

Known columns map to l4r fields (user_id, item_id, rating, timestamp; movie_title/title,
release_year/year, class/genre); every other column lands in `attrs`. Ids are strings as written.
The format is clean, so any defect raises DataError naming file, line and field: text that is not
UTF-8, a wrong field count, a rating that is not a finite number on the scale, a timestamp that is
not a non-negative integer, a repeated (user, item) pair, item or user. A BOM, CRLF and blank lines
are fine.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError, UsageError
from ..io import text_lines
from . import Raw, Spec, check_rating, first_time, no_rows, non_negative_int, to_number

TITLE = ("movie_title", "title", "book_title", "name")
YEAR = ("release_year", "year", "year_of_publication")
GENRES = ("class", "genre", "genres", "categories")
SPEC = Spec("recbole", "DATASET.inter (and .item, .user) atomic files", scale=(1, 5))


def _table(path: Path):
    """Yield (lineno, {field: value}) with the `:type` part of headers stripped."""
    names = None
    for lineno, line in text_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if names is None:
            names = [h.split(":")[0] for h in line.split("\t")]
            continue
        row = line.split("\t")
        if len(row) != len(names):
            raise DataError(f"expected {len(names)} tab-separated fields, got {len(row)}", str(path), lineno)
        yield lineno, dict(zip(names, row))
    if names is None:
        raise DataError("empty file: no header", str(path), 1)


def _ids(row: dict, names: tuple, path: Path, lineno: int) -> list[str]:
    """The values of the id columns `names`, each non-empty."""
    for n in names:
        if n not in row:
            raise DataError(f"needs the {' and '.join(names)} columns", str(path), 1, "header")
        if row[n] == "":
            raise DataError("empty", str(path), lineno, n)
    return [row[n] for n in names]


def _pick(row: dict, names) -> str | None:
    return next((row[n] for n in names if n in row and row[n] != ""), None)


def read_inter(path: Path, scale=None) -> list[dict]:
    out, seen = [], {}
    for lineno, row in _table(path):
        user, item = _ids(row, ("user_id", "item_id"), path, lineno)
        first_time(seen, (user, item), f"(user {user}, item {item})", path, lineno)
        rec = {"user": user, "item": item, "rating": None, "ts": None}
        if row.get("rating", "") != "":
            rec["rating"] = check_rating(to_number(row["rating"], path, lineno, "rating"), scale, path, lineno)
        if row.get("timestamp", "") != "":
            rec["ts"] = non_negative_int(row["timestamp"], path, lineno, "timestamp")
        out.append(rec)
    if not out:
        raise no_rows(path)
    return out


def read_items(path: Path) -> list[dict]:
    out, seen = [], {}
    for lineno, row in _table(path):
        item, = _ids(row, ("item_id",), path, lineno)
        first_time(seen, item, f"item {item}", path, lineno)
        title = _pick(row, TITLE) or f"item {item}"
        year = _pick(row, YEAR)
        year = non_negative_int(year, path, lineno, "year") if year else None
        if year and not title.endswith(")"):
            title = f"{title} ({year})"
        genres = (_pick(row, GENRES) or "").split()
        attrs = {k: v for k, v in row.items() if k not in ("item_id", *TITLE, *YEAR, *GENRES)}
        out.append({"item": item, "title": title, "year": year, "genres": genres, "attrs": attrs})
    return out


def read_users(path: Path) -> list[dict]:
    out, seen = [], {}
    for lineno, row in _table(path):
        user, = _ids(row, ("user_id",), path, lineno)
        first_time(seen, user, f"user {user}", path, lineno)
        out.append({"user": user, "attrs": {k: v for k, v in row.items() if k != "user_id"}})
    return out


def read(folder, scale=None) -> Raw:
    folder = Path(folder)
    inter = sorted(folder.glob("*.inter"))
    if not inter:
        raise UsageError(f"{folder}: no RecBole .inter file")
    stem = inter[0].with_suffix("")
    items = read_items(stem.with_suffix(".item")) if stem.with_suffix(".item").exists() else []
    users = read_users(stem.with_suffix(".user")) if stem.with_suffix(".user").exists() else []
    return Raw(read_inter(inter[0], scale), items, users)
