"""MovieLens-1M as GroupLens ships it (Harper and Konstan 2015): ratings.dat (or ratings.dat.gz),
movies.dat, users.dat; '::'-separated, latin-1.

Reads those files; returns interaction records (user, item, rating 1-5, ts), item records (title
with year as GroupLens writes it, year, genres) and user records (gender, age group, occupation,
zip). The files are clean, so a bad line means a damaged copy: a wrong number of fields, a
non-integer, a rating off the scale, a negative timestamp or a repeated (user, movie) pair, movie or
user raises DataError naming file, line and field. A file that is not latin-1 text (NUL bytes:
UTF-16 or binary) is refused; a UTF-8 re-encoded copy, a BOM, CRLF and blank lines are accepted.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError, UsageError
from . import Raw, Spec, check_rating, find, first_time, latin1_lines, no_rows, non_negative_int, to_int

URL = "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
MD5 = "c4d9eecfca2ab87c1945afe126590906"
FILES = ("ratings.dat", "movies.dat", "users.dat")
SPEC = Spec("ml-1m", "ratings.dat (or ratings.dat.gz), movies.dat, users.dat (or ml-1m.zip)", ("movie", "movies"),
            (1, 5), "ml-1m.zip", URL)
YEAR = re.compile(r"\((\d{4})\)\s*$")
AGES = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
OCCUPATIONS = ["other", "academic/educator", "artist", "clerical/admin", "college/grad student",
               "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
               "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
               "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer"]


def present(folder: Path) -> bool:
    return all(find(folder, f) for f in FILES)


def lines(path: Path, n_fields: int):
    """Yield (lineno, fields) of a '::'-separated file, plain or gzipped."""
    for lineno, line in latin1_lines(path):
        parts = line.split("::")
        if len(parts) != n_fields:
            raise DataError(f"expected {n_fields} '::'-separated fields, got {len(parts)}", str(path), lineno)
        yield lineno, parts


def read_ratings(path: Path, scale=None) -> list[dict]:
    out, seen = [], {}
    for lineno, (user, item, rating, ts) in lines(path, 4):
        user, item = str(to_int(user, path, lineno, "user id")), str(to_int(item, path, lineno, "movie id"))
        first_time(seen, (user, item), f"(user {user}, movie {item})", path, lineno)
        r = check_rating(float(to_int(rating, path, lineno, "rating")), scale, path, lineno)
        ts = non_negative_int(ts, path, lineno, "timestamp")
        out.append({"user": user, "item": item, "rating": r, "ts": ts})
    if not out:
        raise no_rows(path)
    return out


def read_items(path: Path) -> list[dict]:
    out, seen = [], {}
    for lineno, (item, title, genres) in lines(path, 3):
        m = YEAR.search(title)
        item = str(to_int(item, path, lineno, "movie id"))
        first_time(seen, item, f"movie {item}", path, lineno)
        out.append({"item": item, "title": title.strip(),
                    "year": int(m.group(1)) if m else None,
                    "genres": [g for g in genres.split("|") if g], "attrs": {}})
    return out


def read_users(path: Path) -> list[dict]:
    out, seen = [], {}
    for lineno, (user, gender, age, occupation, zipcode) in lines(path, 5):
        user = str(to_int(user, path, lineno, "user id"))
        first_time(seen, user, f"user {user}", path, lineno)
        age_code = to_int(age, path, lineno, "age")
        if age_code not in AGES:
            raise DataError(f"expected an age code ({', '.join(map(str, AGES))}), got {age_code}", str(path), lineno,
                            "age")
        occ = to_int(occupation, path, lineno, "occupation")
        if not 0 <= occ < len(OCCUPATIONS):
            raise DataError(f"expected an occupation code 0-20, got {occ}", str(path), lineno, "occupation")
        out.append({"user": user,
                    "attrs": {"gender": gender, "age": age_code, "age_group": AGES[age_code],
                              "occupation": OCCUPATIONS[occ], "zip": zipcode}})
    return out


def read(folder, scale=None) -> Raw:
    folder = Path(folder)
    paths = {f: find(folder, f) for f in FILES}
    if not paths["ratings.dat"]:
        raise UsageError(f"{folder}: no ratings.dat (or ratings.dat.gz)")
    items = read_items(paths["movies.dat"]) if paths["movies.dat"] else []
    users = read_users(paths["users.dat"]) if paths["users.dat"] else []
    return Raw(read_ratings(paths["ratings.dat"], scale), items, users)
