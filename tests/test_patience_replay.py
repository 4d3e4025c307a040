"""benchmarks/patience.py replays early stopping from a longer run's validation curve: the replay at a
smaller patience must give what l4r's trainers do when run with that patience (top-k: topk.fit)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from l4r.models import load_class, topk
from l4r.seeding import seed_all
from test_models_topk import SMALL, tiny_data

spec = importlib.util.spec_from_file_location("patience", Path(__file__).resolve().parents[1] / "benchmarks/patience.py")
patience = importlib.util.module_from_spec(spec)
spec.loader.exec_module(patience)


def train(p: int) -> dict:
    data = tiny_data(seed=2)
    seed_all(0)
    cls = load_class("mf")
    hp = {**cls.defaults, **SMALL, "epochs": 40, "lr": 5e-2}
    return topk.fit(cls(data, **hp), data, hp, seed=0, patience=p)


def test_replay_matches_a_shorter_run():
    long = train(40)
    curve = [[h["seconds"], h["valid_ndcg10"]] for h in long["history"]]
    for p in (1, 2, 3):
        short = train(p)
        best, value, epochs, _ = patience.replay(curve, p, higher=True)
        assert (best, epochs) == (max(short["history"], key=lambda h: h["valid_ndcg10"])["epoch"], short["epochs"])
        assert value == short["best_valid_ndcg10"]
    assert train(1)["epochs"] < long["epochs"]        # the replay had something to cut


def test_replay_rules():
    up = [[i, v] for i, v in enumerate([0.1, 0.3, 0.2, 0.2, 0.3, 0.4, 0.1], start=1)]
    assert patience.replay(up, 2, higher=True)[:3] == (2, 0.3, 4)        # a tie is not a new best
    assert patience.replay(up, 4, higher=True)[:3] == (6, 0.4, 7)        # ran out of curve
    down = [[i, v] for i, v in enumerate([1.0, 0.9, 0.899995, 0.95, 0.8], start=1)]
    assert patience.replay(down, 2, higher=False)[:3] == (2, 0.9, 4)     # RMSE must drop by more than 1e-5
