"""Chronological leave-one-out: per user, last = test, second last = valid, rest = train
(paper 5.1.3). Reads and returns interaction records.

A user's events are ordered by (ts, item id) so that ties at one second (415 of ML-100K's
943 users have several items at their last timestamp) split the same way on any machine.
Users with 2 events get train + test, with 1 event train only.
Data without time (BookCrossing) first gets a synthetic ts: each user's events in a random
permutation seeded by (seed, user), so the split is the same on any machine for one seed and
does not change for a user when other users are filtered out (paper footnote 2).
"""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict

from .data import natural
from .errors import DataError


def order_key(rec: dict):
    return (rec.get("ts") if rec.get("ts") is not None else 0, natural(rec["item"]))


def by_user(interactions) -> dict[str, list[dict]]:
    users: dict[str, list[dict]] = defaultdict(list)
    for rec in interactions:
        users[rec["user"]].append(rec)
    return users


def random_order(interactions, seed: int) -> list[dict]:
    """Copies of the records with ts = position in a per-user permutation seeded by (seed, user)."""
    out = []
    for user, events in sorted(by_user(interactions).items(), key=lambda kv: natural(kv[0])):
        events = sorted(events, key=lambda r: natural(r["item"]))
        random.Random(f"{seed}/{user}").shuffle(events)
        out.extend({**r, "ts": t} for t, r in enumerate(events))
    return out


def leave_one_out(interactions) -> tuple[list[dict], list[dict], list[dict]]:
    train, valid, test = [], [], []
    users = by_user(interactions)
    for user in sorted(users, key=natural):
        events = sorted(users[user], key=order_key)
        if len(events) >= 2:
            test.append(events.pop())
        if len(events) >= 2:
            valid.append(events.pop())
        train.extend(events)
    return train, valid, test


def check_protocol(train, valid, test, total: int | None = None) -> None:
    """Fail loudly when the split breaks leave-one-out.

    Checks: at most one valid and one test event per user; every held-out user has training
    events; no valid or test item is in the user's training history (whatever its time); valid
    and test items differ; no training event is newer than the user's valid or test event, nor
    valid newer than test (ts order); a user with 2+ events has a test event and with 3+ events a
    valid one too; and, given `total`, that no interaction was lost or duplicated.
    """
    event = lambda r: (r["user"], r["item"], r.get("ts"))
    ts = lambda r: r.get("ts") if r.get("ts") is not None else 0
    in_train = {(r["user"], r["item"]) for r in train}
    n_train, last = defaultdict(int), {}
    for r in train:
        n_train[r["user"]] += 1
        last[r["user"]] = max(last.get(r["user"], ts(r)), ts(r))
    held = {}
    for name, part in (("valid", valid), ("test", test)):
        seen = set()
        for r in part:
            user = r["user"]
            if user in seen:
                raise DataError(f"user {user} has two {name} interactions", name)
            seen.add(user)
            if user not in n_train:
                raise DataError(f"user {user} has no training interaction", name)
            if (user, r["item"]) in in_train:
                raise DataError(f"user {user}: the {name} item {r['item']} is also in train", name)
            if ts(r) < last[user]:
                raise DataError(f"user {user}: the {name} event is older than a training event", name)
            if name == "test" and user in held and held[user][1] == r["item"]:
                raise DataError(f"user {user}: validation and test are the same item {r['item']}", name)
            if name == "test" and user in held and ts(r) < (held[user][2] or 0):
                raise DataError(f"user {user}: the test event is older than the validation event", name)
            held.setdefault(user, event(r))
    tested = {r["user"] for r in test}
    validated = {r["user"] for r in valid}
    for user, n in n_train.items():
        if (n >= 2 or user in validated) and user not in tested:
            raise DataError(f"user {user} has {n + (user in validated)} events but no test event", "test")
        if n >= 2 and user not in validated:
            raise DataError(f"user {user} has {n + 1} events but no validation event", "valid")
    if total is not None and len(train) + len(valid) + len(test) != total:
        raise DataError(f"the split holds {len(train) + len(valid) + len(test)} interactions, "
                        f"the data {total}", "split")


def short_users(train, valid, test) -> dict[str, int]:
    """Users too short for a full leave-one-out split: 1 event (train only, never evaluated) and
    2 events (train and test, no validation item). Both stay in training."""
    n = defaultdict(int)
    for r in (*train, *valid, *test):
        n[r["user"]] += 1
    return {"train_only": sum(c == 1 for c in n.values()), "no_valid": sum(c == 2 for c in n.values())}


def split_hash(train, valid, test) -> str:
    """A fixed digest of the split, to prove it is the same on any machine."""
    h = hashlib.sha256()
    for name, part in (("train", train), ("valid", valid), ("test", test)):
        for r in part:
            h.update(f"{name}\t{r['user']}\t{r['item']}\n".encode())
    return h.hexdigest()[:16]
