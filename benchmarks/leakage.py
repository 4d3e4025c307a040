"""Where the instruction target sits in its training candidates, before and after the leakage fix.

An instruction's target is the user's last training item. Before, its candidate list (and the
"Conventional Model Prediction") came from the backbone trained on all of train, the target
included; now it comes from the same model trained without each user's last item (l4r backbone's
train-split model). Test prompts rank the test item with a model that never saw it, so the
honest training lists should look like the test lists: the target as rare and as low.

Prints a markdown table: lists where the target is among the top-k', and its mean rank there,
for training instructions (before: full-train model; after: without the last item) and for test.

    flock /tmp/l4r-cpu.lock python benchmarks/leakage.py out/ml-100k/data --model mf --k 10
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not


def where(ranked: dict[int, list[int]], target) -> tuple[int, int, float | None]:
    ranks = [items.index(target(u)) + 1 for u, items in ranked.items() if target(u) >= 0 and target(u) in items]
    users = sum(target(u) >= 0 for u in ranked)
    return users, len(ranks), (sum(ranks) / len(ranks) if ranks else None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--model", default="mf")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    import torch

    from l4r import data as datamod
    from l4r.models import load_class, topk
    from l4r.seeding import seed_all
    from l4r.stages.backbone import without_last

    torch.set_num_threads(1)
    seed_all(a.seed)
    ds = datamod.load(a.data)
    data = topk.from_dataset(ds)
    cls = load_class(a.model)
    params = dict(cls.defaults)
    model = cls(data, **params)
    info = topk.fit(model, data, params, seed=a.seed)
    held_model, held = without_last(cls, data, params, info, a.seed)
    rows = {
        "training instructions, before (model trained on the target)":
            (dict((u, i) for u, i, _ in topk.rank(model, data, "train", a.k)), lambda u: data.target(u, "train")),
        "training instructions, after (model without the last item)":
            (dict((u, i) for u, i, _ in topk.rank(held_model, held, "valid", a.k)), lambda u: data.target(u, "train")),
        "validation prompts (model never saw the item)":
            (dict((u, i) for u, i, _ in topk.rank(model, data, "valid", a.k)), lambda u: data.target(u, "valid")),
    }
    print(f"{a.model}, k' = {a.k}, seed {a.seed}, {info['epochs']} epochs\n")
    print("| candidate lists | users | target in list | share | mean rank there |")
    print("|---|---:|---:|---:|---:|")
    for name, (ranked, target) in rows.items():
        users, hits, mean = where(ranked, target)
        print(f"| {name} | {users} | {hits} | {hits / max(1, users):.3f} | "
              f"{'-' if mean is None else f'{mean:.2f}'} |")


if __name__ == "__main__":
    main()
