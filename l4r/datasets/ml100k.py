"""MovieLens-100K as GroupLens ships it (Harper and Konstan 2015): u.data, u.item, u.user, u.genre.

Also accepts the folder inside `ml-100k.zip`. Titles keep GroupLens' form ("Birds, The (1963)").
The files are clean, so any defect raises DataError naming file, line and field: a wrong field
count, a non-integer, a rating off the scale, a negative timestamp, a repeated (user, item) pair,
item or user. latin-1 as shipped; a UTF-8 copy, a BOM, CRLF and blank lines read the same.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from . import Raw, Spec, check_rating, first_time, latin1_lines, no_rows, non_negative_int, to_int

FILES = ("u.data", "u.item", "u.user")
URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
MD5 = "0e33842e24a9c977be4e0107933c0723"
SPEC = Spec("ml-100k", "u.data, u.item, u.user (or ml-100k.zip)", ("movie", "movies"), (1, 5), "ml-100k.zip", URL)
YEAR = re.compile(r"\((\d{4})\)\s*$")


def present(folder: Path) -> bool:
    return all((folder / f).exists() for f in FILES)


def read_ratings(path: Path, scale=None) -> list[dict]:
    out, seen = [], {}
    for lineno, line in latin1_lines(path):
        parts = line.split("\t")
        if len(parts) != 4:
            raise DataError(f"expected 4 tab-separated fields, got {len(parts)}", str(path), lineno)
        user, item = str(to_int(parts[0], path, lineno, "user id")), str(to_int(parts[1], path, lineno, "item id"))
        first_time(seen, (user, item), f"(user {user}, item {item})", path, lineno)
        rating = check_rating(float(to_int(parts[2], path, lineno, "rating")), scale, path, lineno)
        ts = non_negative_int(parts[3], path, lineno, "timestamp")
        out.append({"user": user, "item": item, "rating": rating, "ts": ts})
    if not out:
        raise no_rows(path)
    return out


def read_items(path: Path, genre_names: list[str]) -> list[dict]:
    out, seen = [], {}
    for lineno, line in latin1_lines(path):
        parts = line.split("|")
        if len(parts) < 5 + len(genre_names):
            raise DataError(f"expected {5 + len(genre_names)} '|'-separated fields, got {len(parts)}", str(path), lineno)
        flags = parts[5:5 + len(genre_names)]
        genres = [g for g, f in zip(genre_names, flags) if f == "1"]
        m = YEAR.search(parts[1])
        year = int(m.group(1)) if m else (int(parts[2][-4:]) if parts[2][-4:].isdigit() else None)
        item = str(to_int(parts[0], path, lineno, "item id"))
        first_time(seen, item, f"item {item}", path, lineno)
        out.append({"item": item, "title": parts[1].strip(),
                    "year": year, "genres": genres, "attrs": {}})
    return out


def read_users(path: Path) -> list[dict]:
    out, seen = [], {}
    for lineno, line in latin1_lines(path):
        parts = line.split("|")
        if len(parts) != 5:
            raise DataError(f"expected 5 '|'-separated fields, got {len(parts)}", str(path), lineno)
        user, age, gender, occupation, zipcode = parts
        user = str(to_int(user, path, lineno, "user id"))
        first_time(seen, user, f"user {user}", path, lineno)
        out.append({"user": user,
                    "attrs": {"age": to_int(age, path, lineno, "age"), "gender": gender,
                              "occupation": occupation, "zip": zipcode}})
    return out


def read_genres(path: Path) -> list[str]:
    if not path.exists():
        return ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                "War", "Western"]
    return [line.split("|")[0] for _, line in latin1_lines(path)]


def read(folder, scale=None) -> Raw:
    folder = Path(folder)
    genres = read_genres(folder / "u.genre")
    return Raw(read_ratings(folder / "u.data", scale), read_items(folder / "u.item", genres),
               read_users(folder / "u.user"))
