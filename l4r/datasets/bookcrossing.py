"""Book-Crossing (Ziegler et al. 2005) as its BX-CSV dump ships it: BX-Book-Ratings.csv,
BX-Books.csv, BX-Users.csv (each may be .gz); ';'-separated, every field quoted, latin-1, CRLF,
quotes inside fields escaped with a backslash.

Returns interaction records (user, item = ISBN as written, rating 0-10, ts None: the dump has no
time, prep orders each history by a seeded random permutation), item records (title, year; author
and publisher in attrs) and user records (location, age in attrs).

The dump is known to be dirty, so dirty rows are skipped or repaired and COUNTED by reason in
Raw.skipped / Raw.repaired (prep reports them in stats.json), never crashed on:
- a rating whose ISBN is not in BX-Books.csv is skipped (it has no title to show an LLM); with
  prep's defaults (ratings >= 1, iterated 5-core) this reproduces the paper's Table 1 exactly:
  6,851 users, 9,085 items, 115,219 ratings (docs/benchmarks.md, "Data preparation");
- rows with the wrong number of fields, a non-number user id or a rating outside 0-10 are skipped;
- a line break inside a field is joined, HTML entities (&amp;) are unescaped, a year of 0 or after
  the dump (2004) and an age outside 5-100 become null.
Rating 0 is BX's implicit interaction; it is kept here and dropped by prep's default
--min-rating 1 for this dataset. A wrong header raises DataError naming file and line 1, and so
does a ratings file with no usable row (naming the ratings file). A UTF-8 BOM is dropped.
"""
from __future__ import annotations

import csv
import gzip
import html
import re
from collections import Counter
from pathlib import Path

from ..errors import DataError, UsageError
from ..io import log
from . import Raw, Spec, find

URL = "http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip"
FILES = ("BX-Book-Ratings.csv", "BX-Books.csv", "BX-Users.csv")
# paper 5.1.1: ratings 1-10 (0 is BX's implicit "interaction", dropped by min_rating) in a 5-core
SPEC = Spec("bookcrossing", "BX-Book-Ratings.csv, BX-Books.csv, BX-Users.csv (each may be .gz; or BX-CSV-Dump.zip)",
            ("book", "books"), (1, 10), "BX-CSV-Dump.zip", URL, {"min_rating": 1.0, "core": 5})
# md5 of each original (uncompressed) CSV of the dump: checks a download whose archive has no published sum
FILE_MD5 = {"BX-Book-Ratings.csv": "7ab62f5bddcc82f47cbed0615530805a",
       "BX-Books.csv": "9677a949b798e73183459863aabe5e84",
       "BX-Users.csv": "0751152d3155082e55fea545fe70b04d"}
HEADERS = {"BX-Book-Ratings.csv": ("User-ID", "ISBN", "Book-Rating"),
           "BX-Books.csv": ("ISBN", "Book-Title", "Book-Author", "Year-Of-Publication", "Publisher"),
           "BX-Users.csv": ("User-ID", "Location", "Age")}
LAST_YEAR = 2004
SPACE = re.compile(r"\s*[\r\n]+\s*")


class Tally:
    """Counts of skipped rows and repaired fields by reason, with the first line of each."""

    def __init__(self):
        self.skipped, self.repaired, self.first = Counter(), Counter(), {}

    def skip(self, file: str, why: str, lineno: int) -> None:
        key = f"{file}: {why}"
        self.skipped[key] += 1
        self.first.setdefault(key, lineno)

    def repair(self, file: str, why: str, lineno: int) -> None:
        key = f"{file}: {why}"
        self.repaired[key] += 1
        self.first.setdefault(key, lineno)

    def report(self) -> None:
        for kind, counts in (("skipped", self.skipped), ("repaired", self.repaired)):
            for key, n in sorted(counts.items()):
                log(f"prep: {key}: {n:,} rows {kind} (first at line {self.first[key]})")


def present(folder: Path) -> bool:
    return all(find(folder, f) for f in FILES)


def text(path: Path) -> str:
    """The whole file as text: latin-1 as shipped; a UTF-8 re-encoded copy is accepted."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"damaged gzip file ({exc})", str(path)) from None
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4096]:
        raise DataError("NUL bytes: not latin-1 text (a UTF-16 or binary file?)", str(path), 1)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def digits(value: str) -> bool:
    """0-9 only: latin-1 has other characters that str.isdigit() accepts (superscript two)."""
    return value.isascii() and value.isdigit()


def rows(path: Path, name: str):
    """Yield (first line, fields, header width) for each data row; check the header's first columns."""
    import io

    reader = csv.reader(io.StringIO(text(path), newline=""), delimiter=";", quotechar='"',
                        escapechar="\\", doublequote=False)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError("empty file: no header", str(path), 1)
        if header[:len(HEADERS[name])] != list(HEADERS[name]):
            raise DataError(f"expected the columns {';'.join(HEADERS[name])}, got {';'.join(header)}",
                            str(path), 1, "header")
        while True:
            start = reader.line_num + 1   # a row may span lines (a line break inside quotes)
            fields = next(reader, None)
            if fields is None:
                return
            if fields:
                yield start, fields, len(header)
    except csv.Error as exc:
        raise DataError(f"unreadable CSV ({exc})", str(path), reader.line_num) from None


def clean(value: str, name: str, lineno: int, tally: Tally) -> str:
    if "\n" in value or "\r" in value:
        value = SPACE.sub(" ", value)
        tally.repair(name, "line break inside a field joined", lineno)
    if "&" in value and ";" in value:
        unescaped = html.unescape(value)
        if unescaped != value:
            tally.repair(name, "HTML entity unescaped", lineno)
            value = unescaped
    return value.strip()


def read_books(path: Path, tally: Tally) -> list[dict]:
    name, out, seen = "BX-Books.csv", [], set()
    for lineno, f, width in rows(path, name):
        if len(f) != width:
            tally.skip(name, "wrong number of fields", lineno)
            continue
        isbn = f[0].strip()
        if not isbn or isbn in seen:
            tally.skip(name, "empty or repeated ISBN", lineno)
            continue
        seen.add(isbn)
        year = int(f[3]) if digits(f[3]) else None
        if year is None or not 0 < year <= LAST_YEAR:
            tally.repair(name, f"year not in 1-{LAST_YEAR} set to null", lineno)
            year = None
        title = clean(f[1], name, lineno, tally) or f"ISBN {isbn}"
        out.append({"item": isbn, "title": title, "year": year, "genres": [],
                    "attrs": {"author": clean(f[2], name, lineno, tally),
                              "publisher": clean(f[4], name, lineno, tally)}})
    return out


def read_users(path: Path, tally: Tally) -> list[dict]:
    name, out = "BX-Users.csv", []
    for lineno, f, width in rows(path, name):
        if len(f) != width or not digits(f[0]):
            tally.skip(name, "wrong number of fields or user id not a number", lineno)
            continue
        age = int(f[2]) if digits(f[2]) else None
        if f[2] != "NULL" and (age is None or not 5 <= age <= 100):
            tally.repair(name, "age not in 5-100 set to null", lineno)
            age = None
        out.append({"user": f[0], "attrs": {"location": clean(f[1], name, lineno, tally), "age": age}})
    return out


def read_ratings(path: Path, books: set[str], tally: Tally, scale=None) -> list[dict]:
    """Ratings 0 (implicit) or on `scale` (default 1-10); ISBNs of BX-Books.csv only."""
    name, out, seen = "BX-Book-Ratings.csv", [], set()
    low, high = scale or (1, 10)
    for lineno, f, width in rows(path, name):
        if len(f) != width:
            tally.skip(name, "wrong number of fields", lineno)
            continue
        user, isbn, rating = f[0], f[1], f[2]
        if not digits(user):
            tally.skip(name, "user id not a number", lineno)
        elif not digits(rating) or not (int(rating) == 0 or low <= int(rating) <= high):
            tally.skip(name, f"rating not 0-{high}", lineno)
        elif isbn not in books:
            tally.skip(name, "ISBN not in BX-Books.csv", lineno)
        elif (user, isbn) in seen:
            tally.skip(name, "repeated user and ISBN", lineno)
        else:
            seen.add((user, isbn))
            out.append({"user": user, "item": isbn, "rating": float(rating), "ts": None})
    return out


def no_ratings(path: Path, tally: Tally) -> DataError:
    skipped = sum(n for key, n in tally.skipped.items() if key.startswith("BX-Book-Ratings.csv"))
    if not skipped:
        return DataError("no ratings: the file has no data lines", str(path))
    return DataError(f"no usable ratings: all {skipped:,} rows were skipped (reasons above)", str(path))


def read(folder, scale=None) -> Raw:
    folder = Path(folder)
    paths = {f: find(folder, f) for f in FILES}
    if not paths["BX-Book-Ratings.csv"] or not paths["BX-Books.csv"]:
        raise UsageError(f"{folder}: needs BX-Book-Ratings.csv and BX-Books.csv (or .gz)")
    tally = Tally()
    items = read_books(paths["BX-Books.csv"], tally)
    users = read_users(paths["BX-Users.csv"], tally) if paths["BX-Users.csv"] else []
    inter = read_ratings(paths["BX-Book-Ratings.csv"], {it["item"] for it in items}, tally, scale)
    tally.report()
    if not inter:
        raise no_ratings(paths["BX-Book-Ratings.csv"], tally)
    return Raw(inter, items, users, dict(tally.skipped), dict(tally.repaired))
