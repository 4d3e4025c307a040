"""One's own data as a plain table: datasets "csv" and "jsonl".

Reads an interaction table (CSV/TSV with a header, or JSONL; .gz is transparent, UTF-8) with a
user, item, optional rating and optional timestamp column, named by prep's --user-col, --item-col,
--rating-col, --time-col (defaults user, item, rating, timestamp); optional item and user tables
(--items, --users; or items.* / users.* beside the interactions) keyed by the same columns, with
--title-col (default title), `year` and `genres` ('|'-separated) read as such and every other
column kept in attrs. Returns interaction, item and user records. A timestamp may be a number
(seconds, a fraction allowed) or an ISO date, not before 1970. A rating or timestamp column named by
flag must exist; the default names are optional (no timestamp: prep orders each history by a seeded
random permutation). One's own table is held to the clean-format policy (docs/input-policy.md): any
bad line raises DataError naming file, line and column: text that is not UTF-8, a wrong field count,
an empty or non-string id, a rating that is not a finite number (NaN, "inf", true are not), a
negative time, a repeated (user, item) pair, item or user. A BOM, CRLF, blank lines, quoted
separators and string ids are fine.
"""
from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

import orjson

from ..errors import DataError, UsageError
from ..io import text_lines
from . import Raw, Spec, check_rating, first_time, no_rows, non_negative_int, to_number

DEFAULTS = {"user": "user", "item": "item", "rating": "rating", "time": "timestamp", "title": "title"}
SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json")
SPEC = Spec("csv", "the interaction table (or its folder)")


def table_file(folder: Path, stem: str) -> Path | None:
    for suffix in SUFFIXES:
        for p in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix}.gz"):
            if p.exists():
                return p
    return None


def kind_of(path: Path, forced: str | None) -> str:
    if forced == "jsonl":
        return "jsonl"
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return "jsonl" if name.endswith((".jsonl", ".json")) else "csv"


def delimited_rows(path: Path, sep: str | None):
    """Yield (lineno, {column: value}) of a CSV/TSV file with a header line."""
    if sep is None:
        sep = "\t" if ".tsv" in path.name or ".txt" in path.name else ","
    current = [0]   # the physical line the csv reader has read up to

    def feed():
        for n, line in text_lines(path):
            current[0] = n
            yield line

    reader = csv.reader(feed(), delimiter=sep)
    try:
        header = next(reader, None)
        if not header:
            raise DataError("empty file: no header line", str(path), 1)
        header = [h.strip() for h in header]
        for fields in reader:
            if not fields or fields == [""]:
                continue
            if len(fields) != len(header):
                raise DataError(f"expected {len(header)} fields separated by {sep!r}, got {len(fields)}",
                                str(path), current[0])
            yield current[0], dict(zip(header, fields)), header
    except csv.Error as exc:
        raise DataError(f"unreadable CSV ({exc})", str(path), current[0]) from None


def json_rows(path: Path):
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        try:
            rec = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"not valid JSON ({exc.msg})", str(path), lineno) from None
        if not isinstance(rec, dict):
            raise DataError("a line must be a JSON object", str(path), lineno)
        yield lineno, rec, list(rec)


def rows(path: Path, kind: str, sep: str | None):
    return json_rows(path) if kind == "jsonl" else delimited_rows(path, sep)


def need(row: dict, col: str, header: list, path: Path, lineno: int) -> str:
    """The non-empty text of a required id column (JSON: a string or an integer)."""
    if col not in row:
        raise DataError(f"no such column (columns: {', '.join(map(str, header))}); name it with a --*-col flag",
                        str(path), lineno, col)
    value = row[col]
    if isinstance(value, bool) or not isinstance(value, (str, int, type(None))):
        raise DataError(f"expected a string or integer id, got {orjson.dumps(value).decode()}", str(path), lineno, col)
    if value is None or str(value).strip() == "":
        raise DataError("empty", str(path), lineno, col)
    return str(value).strip()


def number(value, path: Path, lineno: int, col: str) -> float | None:
    """A finite number from a JSON number or its text; empty is None; true, NaN and "inf" are errors."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if isinstance(value, str):
        return to_number(value, path, lineno, col)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"expected a number, got {orjson.dumps(value).decode()}", str(path), lineno, col)
    return float(value)


def timestamp(value, path: Path, lineno: int, col: str) -> float | None:
    """Seconds since 1970 (>= 0) from a number or an ISO date (UTC when no zone is given)."""
    try:
        seconds = number(value, path, lineno, col)
    except DataError:
        seconds = iso_date(value, path, lineno, col)
    if seconds is not None and seconds < 0:
        raise DataError(f"expected a time from 1970 on, got {value!r}", str(path), lineno, col)
    return seconds


def iso_date(value, path: Path, lineno: int, col: str) -> float:
    try:
        t = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise DataError(f"expected seconds or an ISO date, got {value!r}", str(path), lineno, col) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def read_interactions(path: Path, kind: str, cols: dict, explicit: set, sep: str | None,
                      scale=None) -> list[dict]:
    out, has, seen = [], {}, {}
    for lineno, row, header in rows(path, kind, sep):
        if not has:
            for key in ("rating", "time"):
                has[key] = cols[key] in header
                if key in explicit and not has[key]:
                    need(row, cols[key], header, path, lineno)
        user, item = need(row, cols["user"], header, path, lineno), need(row, cols["item"], header, path, lineno)
        first_time(seen, (user, item), f"(user {user}, item {item})", path, lineno)
        rec = {"user": user, "item": item, "rating": None, "ts": None}
        if has["rating"]:
            rec["rating"] = number(row.get(cols["rating"]), path, lineno, cols["rating"])
            if rec["rating"] is not None:
                check_rating(rec["rating"], scale, path, lineno, cols["rating"])
        if has["time"]:
            rec["ts"] = timestamp(row.get(cols["time"]), path, lineno, cols["time"])
        out.append(rec)
    if not out:
        raise no_rows(path)
    return out


def year_of(value, path: Path, lineno: int) -> int | None:
    """A year column: empty is None, else a whole number >= 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    return non_negative_int(value if isinstance(value, str) else orjson.dumps(value).decode(), path, lineno, "year")


def read_items(path: Path, kind: str, cols: dict, sep: str | None) -> list[dict]:
    out, seen = [], {}
    for lineno, row, header in rows(path, kind, sep):
        item = need(row, cols["item"], header, path, lineno)
        first_time(seen, item, f"item {item}", path, lineno)
        title = str(row.get(cols["title"]) or "").strip() or f"item {item}"
        genres = row.get("genres", "")
        genres = genres if isinstance(genres, list) else [g for g in str(genres or "").split("|") if g]
        attrs = {k: v for k, v in row.items() if k not in (cols["item"], cols["title"], "year", "genres")}
        out.append({"item": item, "title": title, "year": year_of(row.get("year"), path, lineno), "genres": genres,
                    "attrs": attrs})
    return out


def read_users(path: Path, kind: str, cols: dict, sep: str | None) -> list[dict]:
    out, seen = [], {}
    for lineno, row, header in rows(path, kind, sep):
        user = need(row, cols["user"], header, path, lineno)
        first_time(seen, user, f"user {user}", path, lineno)
        out.append({"user": user, "attrs": {k: v for k, v in row.items() if k != cols["user"]}})
    return out


def read(path, columns: dict | None = None, items=None, users=None, sep: str | None = None,
         forced: str | None = None, scale=None) -> Raw:
    """`path`: the interaction table, or a folder holding interactions.* (+ items.*, users.*)."""
    path = Path(path)
    given = {k: v for k, v in (columns or {}).items() if v}
    cols = {**DEFAULTS, **given}
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        found = table_file(path, "interactions")
        if not found:
            raise UsageError(f"{path}: no interactions.csv/.tsv/.jsonl (or pass the table itself as --raw)")
        path = found
    elif not path.exists():
        raise UsageError(f"{path}: no such file")
    items = Path(items) if items else table_file(folder, "items")
    users = Path(users) if users else table_file(folder, "users")
    for p in (items, users):
        if p is not None and not p.exists():
            raise UsageError(f"{p}: no such file")
    inter = read_interactions(path, kind_of(path, forced), cols, set(given), sep, scale)
    item_recs = read_items(items, kind_of(items, forced), cols, sep) if items else []
    user_recs = read_users(users, kind_of(users, forced), cols, sep) if users else []
    return Raw(inter, item_recs, user_recs)
