"""Readers that turn a dataset's original files into interaction, item and user records.

Each reader is `read(folder) -> Raw` and lives in its own module; `READERS` names them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Raw:
    interactions: list[dict]
    items: list[dict]
    users: list[dict]
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> count of dirty rows skipped
    repaired: dict[str, int] = field(default_factory=dict)  # reason -> count of dirty fields fixed or blanked


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


def to_int(value: str, path, lineno: int, field: str) -> int:
    """int(value), or a DataError naming file, line and field."""
    from ..errors import DataError

    try:
        return int(value)
    except ValueError:
        raise DataError(f"expected an integer, got {value!r}", str(path), lineno, field) from None


def reader(name: str):
    import importlib

    from ..errors import UsageError

    if name not in READERS:
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(READERS)}")
    return importlib.import_module(READERS[name])
