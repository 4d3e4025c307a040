"""RecBole atomic files (Zhao et al. 2021): NAME.inter, NAME.item, NAME.user, tab-separated,
headers `field:type`. Any dataset published in that format (or one's own) reads here.

Known columns map to l4r fields (user_id, item_id, rating, timestamp; movie_title/title,
release_year/year, class/genre); every other column lands in `attrs`.
"""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import DataError, UsageError
from . import Raw

TITLE = ("movie_title", "title", "book_title", "name")
YEAR = ("release_year", "year", "year_of_publication")
GENRES = ("class", "genre", "genres", "categories")


def _table(path: Path):
    """Yield (lineno, {field: value}) with the `:type` part of headers stripped."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        rows = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if not header:
            raise DataError("empty file: no header", str(path), 1)
        names = [h.split(":")[0] for h in header]
        for lineno, row in enumerate(rows, 2):
            if not row:
                continue
            if len(row) != len(names):
                raise DataError(f"expected {len(names)} tab-separated fields, got {len(row)}", str(path), lineno)
            yield lineno, dict(zip(names, row))


def _pick(row: dict, names) -> str | None:
    return next((row[n] for n in names if n in row and row[n] != ""), None)


def read_inter(path: Path) -> list[dict]:
    out = []
    for lineno, row in _table(path):
        if "user_id" not in row or "item_id" not in row:
            raise DataError("needs user_id and item_id columns", str(path), lineno, "header")
        rec = {"user": row["user_id"], "item": row["item_id"], "rating": None, "ts": None}
        for src, dst in (("rating", "rating"), ("timestamp", "ts")):
            if row.get(src, "") != "":
                try:
                    rec[dst] = float(row[src])
                except ValueError:
                    raise DataError(f"expected a number, got {row[src]!r}", str(path), lineno, src) from None
        out.append(rec)
    return out


def read_items(path: Path) -> list[dict]:
    out = []
    for _, row in _table(path):
        title = _pick(row, TITLE) or f"item {row['item_id']}"
        year = _pick(row, YEAR)
        year = int(float(year)) if year and year.replace(".", "", 1).isdigit() else None
        if year and not title.endswith(")"):
            title = f"{title} ({year})"
        genres = (_pick(row, GENRES) or "").split()
        attrs = {k: v for k, v in row.items() if k not in ("item_id", *TITLE, *YEAR, *GENRES)}
        out.append({"item": row["item_id"], "title": title, "year": year, "genres": genres, "attrs": attrs})
    return out


def read_users(path: Path) -> list[dict]:
    return [{"user": row["user_id"], "attrs": {k: v for k, v in row.items() if k != "user_id"}}
            for _, row in _table(path)]


def read(folder) -> Raw:
    folder = Path(folder)
    inter = sorted(folder.glob("*.inter"))
    if not inter:
        raise UsageError(f"{folder}: no RecBole .inter file")
    stem = inter[0].with_suffix("")
    items = read_items(stem.with_suffix(".item")) if stem.with_suffix(".item").exists() else []
    users = read_users(stem.with_suffix(".user")) if stem.with_suffix(".user").exists() else []
    return Raw(read_inter(inter[0]), items, users)
