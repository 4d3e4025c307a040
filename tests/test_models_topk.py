"""Top-k backbones (l4r.models.*) on a tiny synthetic TopKData: shapes, learning, determinism,
checkpoint round trip, history exclusion, and the trainer hooks (n_neg, start_epoch)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from l4r.models import MODELS, load_class, topk
from l4r.seeding import seed_all

TOPK = [name for name, (_, _, fam) in MODELS.items() if fam in ("direct", "sequential")]
SMALL = {"dim": 16, "layers": 2, "max_len": 20, "batch_size": 64, "epochs": 2, "n_neg": 4, "lr": 5e-3}


def tiny_data(n_users: int = 30, n_items: int = 40, seed: int = 0) -> topk.TopKData:
    """Three user groups, each walking its own block of items in order (so both sequence and
    co-occurrence patterns are learnable); the last two steps are valid and test."""
    rng = np.random.default_rng(seed)
    seqs, valid, test = [], [], []
    block = n_items // 3
    for u in range(n_users):
        g = u % 3
        start = int(rng.integers(0, block))
        walk = [g * block + (start + t) % block for t in range(int(rng.integers(6, 12)))]
        seqs.append(walk[:-2])
        valid.append(walk[-2])
        test.append(walk[-1])
    valid[0] = -1                                  # a user without a validation item
    return topk.TopKData(n_users, n_items, seqs, valid, test)


def build(name: str, data, seed: int = 0):
    seed_all(seed)
    cls = load_class(name)
    hp = {**cls.defaults, **SMALL}
    return cls(data, **hp), hp


def first_batch(model, data, hp):
    return next(iter(topk.batches(model, data, np.random.default_rng(0), hp)))


def eval_scores(model, data, hp):
    model.eval()
    with torch.no_grad():
        return topk.masked_scores(model, data, list(range(data.n_users)), "test", hp.get("max_len", 50))


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def data():
    return tiny_data()


def test_all_topk_backbones_registered():
    assert set(TOPK) >= {"mf", "lightgcn", "mixgcf", "sgl", "sasrec", "bert4rec", "cl4srec"}


@pytest.mark.parametrize("name", TOPK)
def test_shapes(name, data):
    model, hp = build(name, data)
    model.eval()
    users = torch.arange(5)
    seqs = topk.pad([data.history(u, "test") for u in range(5)], hp["max_len"]) if model.family == "sequential" else None
    with torch.no_grad():
        assert model.score(users, seqs).shape == (5, data.n_items)
        vec = model.user_vectors(users, seqs)
    assert vec.shape == (5, hp["dim"])
    assert torch.isfinite(vec).all()
    assert topk.user_vectors(model, data, "test", hp.get("max_len", 50)).shape == (data.n_users, hp["dim"])


@pytest.mark.parametrize("name", TOPK)
def test_loss_decreases(name, data):
    model, hp = build(name, data)
    batch = first_batch(model, data, hp)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)

    def measured():                                # same dropout / masks / mixing draws each time
        torch.manual_seed(123)
        with torch.no_grad():
            return model.loss(*batch).item()

    before = measured()
    for _ in range(30):
        loss = model.loss(*batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = measured()
    assert np.isfinite(before) and after < before - 0.05 * abs(before), (before, after)


@pytest.mark.parametrize("name", TOPK)
def test_deterministic_under_seed(name, data):
    runs = []
    for _ in range(2):
        model, hp = build(name, data, seed=7)
        topk.fit(model, data, hp, seed=7)
        runs.append(eval_scores(model, data, hp))
    assert torch.equal(runs[0], runs[1])
    other, hp = build(name, data, seed=8)
    topk.fit(other, data, hp, seed=8)
    assert not torch.equal(runs[0], eval_scores(other, data, hp))


@pytest.mark.parametrize("name", TOPK)
def test_state_dict_round_trip(name, data, tmp_path):
    model, hp = build(name, data, seed=1)
    topk.fit(model, data, hp, seed=1)
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    copy, _ = build(name, data, seed=2)
    copy.load_state_dict(torch.load(path))
    assert torch.equal(eval_scores(model, data, hp), eval_scores(copy, data, hp))


@pytest.mark.parametrize("name", TOPK)
def test_rank_excludes_history(name, data):
    model, hp = build(name, data)
    topk.fit(model, data, hp)
    for split in ("train", "valid", "test"):
        rows = list(topk.rank(model, data, split, 10, hp.get("max_len", 50)))
        assert len(rows) == data.n_users
        for u, items, scores in rows:
            assert not set(items) & set(data.history(u, split)), (split, u)
            assert len(items) == 10 and scores == sorted(scores, reverse=True)


def test_negative_sampler_avoids_seen_items(data):
    users = np.repeat(np.arange(data.n_users), 50)
    neg = topk.sample_negatives(data, np.random.default_rng(3), users, 5)
    assert neg.shape == (len(users), 5)
    for u, row in zip(users, neg):
        assert not set(row.tolist()) & set(data.seqs[u])


def test_mixgcf_gets_candidate_negatives(data):
    model, hp = build("mixgcf", data)
    users, pos, neg = first_batch(model, data, hp)
    assert neg.shape == (len(users), hp["n_neg"])


def test_sgl_views_resampled_each_epoch(data):
    model, hp = build("sgl", data)
    calls = []
    original = model.start_epoch
    model.start_epoch = lambda rng: (calls.append(1), original(rng))
    before = model.views[0].values().clone()
    topk.fit(model, data, {**hp, "epochs": 3})
    assert len(calls) == 3
    after = model.views[0]
    assert before.shape != after.values().shape or not torch.equal(before, after.values())


def test_sequential_models_learn_the_walk():
    """Trained for longer, SASRec finds the next item of a deterministic walk far above chance."""
    data = tiny_data(seed=1)
    model, hp = build("sasrec", data)
    topk.fit(model, data, {**hp, "epochs": 60, "lr": 1e-2}, patience=60)
    assert topk.evaluate(model, data, "test", 5, hp["max_len"])["hr"] > 0.5


def test_cl4srec_views_keep_items_and_padding(data):
    model, hp = build("cl4srec", data)
    seqs = topk.pad([data.seqs[u] for u in range(8)], hp["max_len"])
    views = model.augment(seqs)
    assert views.shape == seqs.shape
    for row, view in zip(seqs, views):
        kept = view[view > 0]
        assert 0 < len(kept) <= (row > 0).sum()
        assert (view[:len(view) - len(kept)] == 0).all()                 # still left-padded
        assert set(kept.tolist()) <= set(row.tolist()) | {model.mask_id}


def test_bert4rec_rows_are_prefix_windows(data):
    """Every training row is the last max_len items of a prefix of the user's history, left-padded."""
    model, hp = build("bert4rec", data)
    assert model.train_len >= max(len(s) for s in data.seqs)
    full = topk.pad(data.seqs, model.train_len)
    torch.manual_seed(0)
    rows = model.windows(full.repeat(20, 1))
    assert rows.shape == (20 * data.n_users, hp["max_len"])
    for r, row in enumerate(rows):
        items = (row[row > 0] - 1).tolist()
        seq = data.seqs[r % data.n_users]
        assert items, r
        assert (row[:len(row) - len(items)] == 0).all()
        ends = [c for c in range(1, len(seq) + 1) if seq[:c][-hp["max_len"]:] == items]
        assert ends, (r, items, seq)


def test_bert4rec_last_only_batches_mask_just_the_last_item(data):
    model, hp = build("bert4rec", data)
    seqs = topk.pad(data.seqs, hp["max_len"])
    masked = model.cloze(seqs, torch.ones(len(seqs), dtype=torch.bool))
    assert masked[:, -1].all() and not masked[:, :-1].any()


def test_mf_init_choices(data):
    normal = load_class("mf")(data, dim=16, init="normal")
    xavier = load_class("mf")(data, dim=16, init="xavier")
    assert abs(normal.item.weight.std().item() - 0.1) < 0.03
    assert abs(xavier.item.weight.std().item() - (2 / (data.n_items + 16)) ** 0.5) < 0.03
    with pytest.raises(Exception, match="init takes normal or xavier"):
        load_class("mf")(data, init="uniform")


def test_is_seen_matches_set_membership():
    keys = np.array([2, 5, 9, 40])
    query = np.array([[0, 2, 3], [5, 9, 41], [40, 39, 1]])
    assert topk.is_seen(keys, query).tolist() == [[False, True, False], [True, True, False], [True, False, False]]
    assert not topk.is_seen(np.zeros(0, dtype=np.int64), query).any()
