"""MovieLens-1M as GroupLens ships it (Harper and Konstan 2015): ratings.dat (or ratings.dat.gz),
movies.dat, users.dat; '::'-separated, latin-1.

Reads those files; returns interaction records (user, item, rating 1-5, ts), item records (title
with year as GroupLens writes it, year, genres) and user records (gender, age group, occupation,
zip). A line with the wrong number of fields or a non-number where one belongs raises DataError
naming file and line: the files are clean, so a bad line means a damaged copy. A file that is not
latin-1 text (NUL bytes: UTF-16 or binary) is refused; a UTF-8 re-encoded copy is accepted.
"""
from __future__ import annotations

import gzip
import re
from pathlib import Path

from ..errors import DataError, UsageError
from . import Raw, find, to_int

URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
MD5 = "c4d9eecfca2ab87c1945afe126590906"
FILES = ("ratings.dat", "movies.dat", "users.dat")
YEAR = re.compile(r"\((\d{4})\)\s*$")
AGES = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
OCCUPATIONS = ["other", "academic/educator", "artist", "clerical/admin", "college/grad student",
               "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
               "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
               "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer"]


def present(folder: Path) -> bool:
    return all(find(folder, f) for f in FILES)


def decode(raw: bytes, path: Path, lineno: int) -> str:
    """One line as text: UTF-8 when it is valid UTF-8, else latin-1; NUL bytes mean a wrong encoding."""
    if b"\x00" in raw:
        raise DataError("NUL byte: not latin-1 text (a UTF-16 or binary file?)", str(path), lineno)
    if raw.isascii():
        return raw.decode("ascii")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def lines(path: Path, n_fields: int):
    """Yield (lineno, fields) of a '::'-separated file, plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                raw = raw.rstrip(b"\r\n")
                if not raw:
                    continue
                parts = decode(raw, path, lineno).split("::")
                if len(parts) != n_fields:
                    raise DataError(f"expected {n_fields} '::'-separated fields, got {len(parts)}", str(path), lineno)
                yield lineno, parts
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"damaged gzip file ({exc})", str(path)) from None


def read_ratings(path: Path) -> list[dict]:
    out = []
    for lineno, (user, item, rating, ts) in lines(path, 4):
        r = to_int(rating, path, lineno, "rating")
        if not 1 <= r <= 5:
            raise DataError(f"expected a rating 1-5, got {r}", str(path), lineno, "rating")
        out.append({"user": str(to_int(user, path, lineno, "user id")),
                    "item": str(to_int(item, path, lineno, "movie id")),
                    "rating": float(r), "ts": to_int(ts, path, lineno, "timestamp")})
    return out


def read_items(path: Path) -> list[dict]:
    out = []
    for lineno, (item, title, genres) in lines(path, 3):
        m = YEAR.search(title)
        out.append({"item": str(to_int(item, path, lineno, "movie id")), "title": title.strip(),
                    "year": int(m.group(1)) if m else None,
                    "genres": [g for g in genres.split("|") if g], "attrs": {}})
    return out


def read_users(path: Path) -> list[dict]:
    out = []
    for lineno, (user, gender, age, occupation, zipcode) in lines(path, 5):
        age_code = to_int(age, path, lineno, "age")
        occ = to_int(occupation, path, lineno, "occupation")
        if not 0 <= occ < len(OCCUPATIONS):
            raise DataError(f"expected an occupation code 0-20, got {occ}", str(path), lineno, "occupation")
        out.append({"user": str(to_int(user, path, lineno, "user id")),
                    "attrs": {"gender": gender, "age": age_code, "age_group": AGES.get(age_code),
                              "occupation": OCCUPATIONS[occ], "zip": zipcode}})
    return out


def read(folder) -> Raw:
    folder = Path(folder)
    paths = {f: find(folder, f) for f in FILES}
    if not paths["ratings.dat"]:
        raise UsageError(f"{folder}: no ratings.dat (or ratings.dat.gz)")
    items = read_items(paths["movies.dat"]) if paths["movies.dat"] else []
    users = read_users(paths["users.dat"]) if paths["users.dat"] else []
    return Raw(read_ratings(paths["ratings.dat"]), items, users)
