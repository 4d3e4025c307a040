"""The prepared dataset folder that `l4r prep` writes and most stages read.

Layout of DIR: items.jsonl, users.jsonl, train.jsonl, valid.jsonl, test.jsonl (interaction
records, each user's train part in chronological order), stats.json.
`Dataset` holds it in memory with dense integer indices for the models.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import UsageError
from .io import read_jsonl

SPLITS = ("train", "valid", "test")


@dataclass
class Dataset:
    items: dict[str, dict]
    users: dict[str, dict]
    train: dict[str, list[dict]]          # user -> chronological interactions
    valid: dict[str, dict]                # user -> the one validation interaction
    test: dict[str, dict]
    stats: dict = field(default_factory=dict)
    user_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.user_ids:
            self.user_ids = sorted(self.users | dict.fromkeys(self.train), key=natural)
        if not self.item_ids:
            self.item_ids = sorted(self.items, key=natural)
        self.uidx = {u: i for i, u in enumerate(self.user_ids)}
        self.iidx = {it: i for i, it in enumerate(self.item_ids)}

    @property
    def scale(self) -> tuple[float, float]:
        """The rating scale prep recorded (1-5 when it recorded none)."""
        lo_hi = self.stats.get("rating_scale") or [1, 5]
        return lo_hi[0], lo_hi[1]

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def history(self, user: str, split: str) -> list[dict]:
        """What the model may see when predicting `split` for `user`: for "train" (the instruction
        target is the last training item) train minus it; "fit" all of train (augmentation feeds
        the training set); "valid" train; "test" train + valid."""
        hist = list(self.train.get(user, []))
        if split == "train":
            return hist[:-1]
        if split == "test" and user in self.valid:
            hist.append(self.valid[user])
        return hist

    def target(self, user: str, split: str) -> dict | None:
        if split == "train":
            return self.train[user][-1] if self.train.get(user) else None
        return (self.valid if split == "valid" else self.test).get(user)

    def title(self, item: str) -> str:
        rec = self.items.get(item)
        return rec["title"] if rec else f"item {item}"

    def n_interactions(self, user: str) -> int:
        """N(u) of the paper's Eq. 5: the user's training interactions."""
        return len(self.train.get(user, []))


def natural(key: str):
    """Sort ids numerically when they are numbers, else as text."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def load(folder) -> Dataset:
    d = Path(folder)
    if not (d / "train.jsonl").exists():
        raise UsageError(f"{d}: not a prepared dataset folder (run `l4r prep --out {d}` first)")
    items = {r["item"]: r for r in read_jsonl(d / "items.jsonl", "item")} if (d / "items.jsonl").exists() else {}
    users = {r["user"]: r for r in read_jsonl(d / "users.jsonl", "user")} if (d / "users.jsonl").exists() else {}
    train: dict[str, list[dict]] = {}
    for r in read_jsonl(d / "train.jsonl", "interaction"):
        train.setdefault(r["user"], []).append(r)
    valid = {r["user"]: r for r in read_jsonl(d / "valid.jsonl", "interaction")}
    test = {r["user"]: r for r in read_jsonl(d / "test.jsonl", "interaction")}
    for recs in (train.values()):
        for r in recs:
            if r["item"] not in items:
                items[r["item"]] = {"item": r["item"], "title": f"item {r['item']}"}
    for r in list(valid.values()) + list(test.values()):
        items.setdefault(r["item"], {"item": r["item"], "title": f"item {r['item']}"})
    stats = json.loads((d / "stats.json").read_text()) if (d / "stats.json").exists() else {}
    return Dataset(items, users, train, valid, test, stats)


# --- shared loaders of other stages' outputs, and helpers of the instruction / augmentation stages ----

def load_candidates(path, split: str, ds: Dataset | None = None) -> dict[str, list[str]]:
    """user -> the backbone's ranked items for `split`; with `ds`, every item must be in the catalogue."""
    from .errors import DataError
    from .io import _name

    out = {}
    for lineno, rec in read_jsonl(path, "candidates", with_lines=True):
        if rec["split"] != split:
            continue
        if ds is not None:
            for item in rec["items"]:
                if item not in ds.items:
                    raise DataError(f"item {item!r} is not in the dataset's catalogue", _name(path), lineno, "items")
        out[rec["user"]] = rec["items"]
    return out


def load_rating_predictions(path, split: str) -> dict[tuple[str, str], float]:
    return {(r["user"], r["item"]): r["rating"] for r in read_jsonl(path, "prediction")
            if r.get("split", split) == split and r.get("item") is not None}


def held_out(ds: Dataset, user: str) -> set[str]:
    """The user's validation and test items: never an instruction target, candidate or augmentation."""
    return {r["item"] for r in (ds.valid.get(user), ds.test.get(user)) if r}


def unseen(ds: Dataset, user: str, rng, n: int, exclude=()) -> list[str]:
    """n random items the user never interacted with (in any split)."""
    seen = {r["item"] for r in ds.train.get(user, [])} | held_out(ds, user) | set(exclude)
    out = []
    while len(out) < n and len(seen) + len(out) < ds.n_items:
        item = ds.item_ids[rng.randrange(ds.n_items)]
        if item not in seen and item not in out:
            out.append(item)
    return out


def shard_of(key: str, shard: tuple[int, int] | None) -> bool:
    """Deterministic split of work: crc32(key) mod N == K."""
    if not shard:
        return True
    import zlib

    k, n = shard
    return zlib.crc32(key.encode()) % n == k
