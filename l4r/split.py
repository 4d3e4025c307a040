"""Chronological leave-one-out: per user, last = test, second last = valid, rest = train.

A user's events are ordered by (ts, item id) so that ties at one second (415 of ML-100K's
943 users have several items at their last timestamp) split the same way on any machine.
Users with 2 events get train + test, with 1 event train only.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict

from .data import natural
from .errors import DataError


def order_key(rec: dict):
    return (rec.get("ts") if rec.get("ts") is not None else 0, natural(rec["item"]))


def leave_one_out(interactions) -> tuple[list[dict], list[dict], list[dict]]:
    by_user: dict[str, list[dict]] = defaultdict(list)
    for rec in interactions:
        by_user[rec["user"]].append(rec)
    train, valid, test = [], [], []
    for user in sorted(by_user, key=natural):
        events = sorted(by_user[user], key=order_key)
        if len(events) >= 2:
            test.append(events.pop())
        if len(events) >= 2:
            valid.append(events.pop())
        train.extend(events)
    return train, valid, test


def check_protocol(train, valid, test) -> None:
    """Fail loudly when the split breaks leave-one-out."""
    event = lambda r: (r["user"], r["item"], r.get("ts"))
    in_train = {event(r) for r in train}
    users = {r["user"] for r in train}
    held = {}
    for name, part in (("valid", valid), ("test", test)):
        seen = set()
        for r in part:
            if r["user"] in seen:
                raise DataError(f"user {r['user']} has two {name} interactions", name)
            seen.add(r["user"])
            if r["user"] not in users:
                raise DataError(f"user {r['user']} has no training interaction", name)
            if event(r) in in_train:
                raise DataError(f"user {r['user']}: the {name} event is also in train", name)
            if name == "test" and held.get(r["user"]) == event(r):
                raise DataError(f"user {r['user']}: validation and test are the same event", name)
            held[r["user"]] = event(r)


def split_hash(train, valid, test) -> str:
    """A fixed digest of the split, to prove it is the same on any machine."""
    h = hashlib.sha256()
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        for r in part:
            h.update(f"{name}\t{r['user']}\t{r['item']}\n".encode())
    return h.hexdigest()[:16]
