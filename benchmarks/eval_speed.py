"""Speed of ranking and evaluating at ML-1M's shape: 6,040 users x 3,706 items; prints a markdown table.

A synthetic prepared folder (about 1M training interactions with a popularity skew, one valid and
one test item per user) is written first (not timed). Then, timed:
  rank     - scores = U V^T (dim 64), the history masked, the top 10 of every user (numpy argpartition),
             written as prediction records;
  eval     - `l4r.stages.eval.run` on those records: held-out items, N(u) from train.jsonl,
             HR/NDCG@3,5 overall and in 5 activity groups, per-user rows.
Bar (issue 2): ranking + evaluating in under 5 s.
    flock /tmp/l4r-cpu.lock python benchmarks/eval_speed.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not

USERS, ITEMS, PER_USER, K = 6040, 3706, 165, 10


def synth(folder: Path, rng: np.random.Generator) -> list[np.ndarray]:
    from l4r.io import write_jsonl

    pop = 1 / np.arange(1, ITEMS + 1) ** 0.9
    pop /= pop.sum()
    histories = []
    train, valid, test = [], [], []
    for u in range(USERS):
        n = int(np.clip(rng.lognormal(np.log(PER_USER) - 0.5, 1.0), 20, 1500))
        items = rng.choice(ITEMS, size=min(n, ITEMS // 2), replace=False, p=pop)
        histories.append(items)
        recs = [{"user": str(u + 1), "item": str(i + 1), "rating": 4.0, "ts": t} for t, i in enumerate(items)]
        train += recs[:-2]
        valid.append(recs[-2])
        test.append(recs[-1])
    for name, recs in (("train", train), ("valid", valid), ("test", test)):
        write_jsonl(folder / f"{name}.jsonl", recs)
    return histories


def rank(histories, rng) -> list[dict]:
    u = rng.standard_normal((USERS, 64), dtype=np.float32)
    v = rng.standard_normal((ITEMS, 64), dtype=np.float32)
    scores = u @ v.T
    rows = np.repeat(np.arange(USERS), [len(h) - 1 for h in histories])
    cols = np.concatenate([h[:-1] for h in histories])   # train + valid: everything but the test item
    scores[rows, cols] = -np.inf
    top = np.argpartition(-scores, K, axis=1)[:, :K]
    order = np.take_along_axis(scores, top, 1).argsort(axis=1)[:, ::-1]
    top = np.take_along_axis(top, order, 1) + 1
    return [{"user": str(i + 1), "items": [str(x) for x in row]} for i, row in enumerate(top.tolist())]


def main() -> None:
    from l4r.io import write_jsonl
    from l4r.stages import eval as ev

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        histories = synth(data, rng)
        n_train = sum(len(h) - 2 for h in histories)
        t0 = time.perf_counter()
        preds = rank(histories, rng)
        write_jsonl(Path(tmp) / "pred.jsonl", preds)
        t1 = time.perf_counter()
        recs = ev.run(Path(tmp) / "pred.jsonl", data, ev.Options(split="test", ks=[3, 5], per_user=Path(tmp) / "users.jsonl", groups=5))
        t2 = time.perf_counter()
    hr5 = next(r["value"] for r in recs if r["metric"] == "HR@5" and r["group"] is None)
    total = t2 - t0
    print(f"| shape | training interactions | rank top-{K} | eval (HR/NDCG@3,5, 5 groups, per-user) | total | bar |")
    print("|---|---|---|---|---|---|")
    print(f"| {USERS:,} users x {ITEMS:,} items | {n_train:,} | {t1 - t0:.2f} s | {t2 - t1:.2f} s | {total:.2f} s | "
          f"< 5 s {'ok' if total < 5 else 'MISSED'} |")
    print(f"\n(random scores, so HR@5 is near zero: {hr5:.4f})")


if __name__ == "__main__":
    main()
