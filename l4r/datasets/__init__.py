"""Readers that turn a dataset's original files into interaction, item and user records.

Each reader is `read(folder, scale=None) -> Raw` and lives in its own module with its `SPEC` (what
prep and the prompts need to know: files, archive, rating scale, nouns, defaults); `READERS` names
them and `spec(name)` gives a dataset's spec. `scale` is the [low, high] a rating must lie in. What a reader does
with bad input is the policy in docs/input-policy.md: clean formats raise DataError(file, line,
field), BookCrossing's dirty rows are skipped and counted in Raw.skipped / Raw.repaired.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import DataError


@dataclass
class Raw:
    interactions: list[dict]
    items: list[dict]
    users: list[dict]
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> count of dirty rows skipped
    repaired: dict[str, int] = field(default_factory=dict)  # reason -> count of dirty fields fixed or blanked


@dataclass(frozen=True)
class Spec:
    """A dataset as prep and the prompts see it; code reads these fields, never the name's spelling."""
    name: str
    files: str                                  # what to put in --raw (for messages)
    nouns: tuple[str, str] = ("item", "items")  # what prompts call an item: movie/movies, book/books
    scale: tuple[int, int] | None = None        # the ratings' scale; None: the integer range observed
    archive: str | None = None                  # the official archive's file name
    url: str | None = None
    defaults: dict = field(default_factory=dict)  # prep's defaults (paper 5.1.1: BookCrossing min_rating, core)


READERS = {
    "ml-100k": "l4r.datasets.ml100k",
    "recbole": "l4r.datasets.recbole",
    "ml-1m": "l4r.datasets.ml1m",
    "bookcrossing": "l4r.datasets.bookcrossing",
    "csv": "l4r.datasets.csv",
    "jsonl": "l4r.datasets.csv",
}


def find(folder, name: str):
    """`name` or `name.gz` in folder, else None."""
    for p in (folder / name, folder / f"{name}.gz"):
        if p.exists():
            return p
    return None


INTEGER = re.compile(r"-?[0-9]+")
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
BOM = "\ufeff"


def to_int(value: str, path, lineno: int, field: str) -> int:
    """int(value) of plain digits (an optional minus), or a DataError naming file, line and field."""
    if not INTEGER.fullmatch(value):
        raise DataError(f"expected an integer, got {value!r}", str(path), lineno, field)
    return int(value)


def to_number(value: str, path, lineno: int, field: str) -> float:
    """A finite decimal number written as text ("nan", "inf", "1_0" and "true" are not numbers)."""
    if not NUMBER.fullmatch(value.strip()):
        raise DataError(f"expected a number, got {value!r}", str(path), lineno, field)
    number = float(value)
    if not math.isfinite(number):
        raise DataError(f"expected a finite number, got {value!r}", str(path), lineno, field)
    return number


def non_negative_int(value: str, path, lineno: int, field: str) -> int:
    """A whole number >= 0 such as a timestamp in seconds since 1970 ("874965758" or "874965758.0")."""
    number = to_number(value, path, lineno, field)
    if number < 0 or not number.is_integer():
        raise DataError(f"expected a non-negative integer, got {value!r}", str(path), lineno, field)
    return int(number)


def check_rating(rating: float, scale, path, lineno: int, field: str = "rating") -> float:
    """`rating` when it lies on the dataset's scale [low, high] (None: any number)."""
    if scale and not scale[0] <= rating <= scale[1]:
        raise DataError(f"expected a rating {scale[0]}-{scale[1]}, got {rating:g}", str(path), lineno, field)
    return rating


def first_time(seen: dict, key, what: str, path, lineno: int) -> None:
    """Note `key` at `lineno`; a clean format never repeats one, so a repeat is a DataError."""
    if key in seen:
        raise DataError(f"repeated {what}; first at line {seen[key]}", str(path), lineno)
    seen[key] = lineno


def text_line(raw: bytes, path, lineno: int) -> str:
    """One line of a latin-1 format: UTF-8 when it is valid UTF-8 (a re-encoded copy), else latin-1;
    a UTF-8 BOM on line 1 is dropped; NUL bytes mean another encoding (UTF-16) or a binary file."""
    if b"\x00" in raw:
        raise DataError("NUL byte: not latin-1 text (a UTF-16 or binary file?)", str(path), lineno)
    if lineno == 1 and raw.startswith(BOM.encode()):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def latin1_lines(path):
    """Yield (lineno, text) of the non-blank lines of a latin-1 file, plain or gzipped."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                raw = raw.rstrip(b"\r\n")
                if raw.strip():
                    yield lineno, text_line(raw, path, lineno)
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataError(f"damaged gzip file ({exc})", str(path)) from None


def no_rows(path) -> DataError:
    return DataError("no interactions: the file has no data lines", str(path))


def spec(name: str) -> Spec:
    """The spec of dataset `name` (csv and jsonl share a reader and differ only in name)."""
    import dataclasses

    return dataclasses.replace(reader(name).SPEC, name=name)


def reader(name: str):
    import importlib

    from ..errors import UsageError

    if name not in READERS:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(READERS)}")
    return importlib.import_module(READERS[name])
