"""MovieLens-100K as GroupLens ships it (Harper and Konstan 2015): u.data, u.item, u.user, u.genre.

Also accepts the folder inside `ml-100k.zip`. Titles keep GroupLens' form ("Birds, The (1963)").
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import DataError
from . import Raw, to_int

FILES = ("u.data", "u.item", "u.user")
URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
MD5 = "0e33842e24a9c977be4e0107933c0723"
YEAR = re.compile(r"\((\d{4})\)\s*$")


def present(folder: Path) -> bool:
    return all((folder / f).exists() for f in FILES)


def _lines(path: Path):
    with open(path, encoding="latin-1") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\r\n")
            if line:
                yield lineno, line


def read_ratings(path: Path) -> list[dict]:
    out = []
    for lineno, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 4:
            raise DataError(f"expected 4 tab-separated fields, got {len(parts)}", str(path), lineno)
        user, item, rating, ts = parts
        out.append({"user": str(to_int(user, path, lineno, "user id")), "item": str(to_int(item, path, lineno, "item id")),
                    "rating": float(to_int(rating, path, lineno, "rating")), "ts": to_int(ts, path, lineno, "timestamp")})
    return out


def read_items(path: Path, genre_names: list[str]) -> list[dict]:
    out = []
    for lineno, line in _lines(path):
        parts = line.split("|")
        if len(parts) < 5 + len(genre_names):
            raise DataError(f"expected {5 + len(genre_names)} '|'-separated fields, got {len(parts)}", str(path), lineno)
        flags = parts[5:5 + len(genre_names)]
        genres = [g for g, f in zip(genre_names, flags) if f == "1"]
        m = YEAR.search(parts[1])
        year = int(m.group(1)) if m else (int(parts[2][-4:]) if parts[2][-4:].isdigit() else None)
        out.append({"item": str(to_int(parts[0], path, lineno, "item id")), "title": parts[1].strip(),
                    "year": year, "genres": genres, "attrs": {}})
    return out


def read_users(path: Path) -> list[dict]:
    out = []
    for lineno, line in _lines(path):
        parts = line.split("|")
        if len(parts) != 5:
            raise DataError(f"expected 5 '|'-separated fields, got {len(parts)}", str(path), lineno)
        user, age, gender, occupation, zipcode = parts
        out.append({"user": str(to_int(user, path, lineno, "user id")),
                    "attrs": {"age": to_int(age, path, lineno, "age"), "gender": gender,
                              "occupation": occupation, "zip": zipcode}})
    return out


def read_genres(path: Path) -> list[str]:
    if not path.exists():
        return ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                "War", "Western"]
    return [line.split("|")[0] for _, line in _lines(path)]


def read(folder) -> Raw:
    folder = Path(folder)
    genres = read_genres(folder / "u.genre")
    return Raw(read_ratings(folder / "u.data"), read_items(folder / "u.item", genres), read_users(folder / "u.user"))
