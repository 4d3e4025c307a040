"""The prepared dataset folder that `l4r prep` writes and most stages read.

Layout of DIR: items.jsonl, users.jsonl, train.jsonl, valid.jsonl, test.jsonl (interaction
records, each user's train part in chronological order), stats.json.
`Dataset` holds it in memory with dense integer indices for the models.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, UsageError
from .io import parse_line, read_jsonl, text_lines
from .schema import check

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



def load_targets(data: Path, split: str) -> dict[str, dict]:
    """user -> the held-out interaction of `split` (split train: each user's last training event)."""
    if split not in SPLITS:
        raise UsageError(f"--split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not (Path(data) / "train.jsonl").exists():
        raise UsageError(f"{data}: not a prepared dataset folder (run `l4r prep --out {data}` first)")
    path = Path(data) / f"{split}.jsonl"
    out: dict[str, dict] = {}
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        r = check(parse_line(line, str(path), lineno), "interaction", str(path), lineno)
        if split != "train" and r["user"] in out:
            raise DataError("a second held-out interaction for this user", str(path), lineno, "user")
        out[r["user"]] = r
    return out


def train_counts(data: Path) -> dict[str, int]:
    """N(u): training interactions per user (reads only the user field, for speed)."""
    path = Path(data) / "train.jsonl"
    counts: dict[str, int] = {}
    for lineno, line in text_lines(path):
        if line.strip():
            user = parse_line(line, str(path), lineno).get("user")
            if not isinstance(user, str):
                raise DataError("missing or not a string", str(path), lineno, "user")
            counts[user] = counts.get(user, 0) + 1
    return counts


def per_user_values(path: Path, metric: str) -> dict[str, float]:
    """user -> value of `metric` in a --per-user file (MAE reads AE, RMSE reads SE)."""
    key = {"MAE": "AE", "RMSE": "SE"}.get(metric, metric)
    out = {}
    name = str(path)
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        rec = parse_line(line, name, lineno)
        if not isinstance(rec.get("user"), str):
            raise DataError("missing or not a string (is this a --per-user file?)", name, lineno, "user")
        value = rec.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(f"missing or not a number (per-user metrics here: "
                            f"{', '.join(k for k in rec if '@' in k or k in ('AE', 'SE'))})", name, lineno, key)
        out[rec["user"]] = float(value)
    return out
