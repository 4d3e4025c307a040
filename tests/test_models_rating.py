"""Rating backbones (DeepFM, NFM, DCN, AFM, xDeepFM, AutoInt) and their shared feature pipeline,
on the rating-tiny fixture of tests/raw_fixtures.py (20 users x 15 items, ratings 1..5, item attributes from an "LLM")."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from l4r import data as datamod
from l4r.errors import DataError
from l4r.io import read_jsonl
from l4r.models import MODELS, PATIENCE, load_class, rating
from l4r.stages import backbone
from raw_fixtures import root

TINY = root() / "rating-tiny"
ATTRS = TINY / "attributes.jsonl"
RATING_MODELS = ["deepfm", "nfm", "dcn", "afm", "xdeepfm", "autoint"]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def ds():
    return datamod.load(TINY)


@pytest.fixture(scope="module")
def aug():
    return rating.read_attributes(ATTRS)


def test_registered_as_rating_family():
    for name in RATING_MODELS:
        assert MODELS[name][2] == "rating"
        assert issubclass(load_class(name), rating.RatingModel)


def test_encoding_round_trip(ds):
    enc = rating.build_encoder(ds)
    names = [f["name"] for f in enc.fields]
    assert names == ["user", "item", "user:age", "user:gender", "user:occupation", "user:zip", "item:year",
                     "item:genres", "item:author", "item:publisher"]
    u1 = enc.decode("user", enc.encode("user", "1", ds.users["1"]))
    assert u1 == {"user": "1", "user:age": "18-24", "user:gender": "f", "user:occupation": "engineer",
                  "user:zip": "200"}
    assert enc.decode("user", enc.encode("user", "20", ds.users["20"]))["user:age"] == "56+"
    i3 = enc.decode("item", enc.encode("item", "3", ds.items["3"]))
    assert i3 == {"item": "3", "item:year": "1970s", "item:genres": ["horror", "romance"],
                  "item:author": "ann lee", "item:publisher": "acme"}
    # "Solo Writer" writes one item only: fewer than 2 -> unknown (index 0)
    i15 = enc.encode("item", "15", ds.items["15"])
    assert enc.decode("item", i15)["item:author"] is None
    # unseen user -> every field unknown; the encoder survives serialisation
    assert set(enc.encode("user", "nobody", {"attrs": {"gender": "X"}})) == {0}
    again = rating.Encoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    for u in ds.user_ids:
        assert again.encode("user", u, ds.users[u]) == enc.encode("user", u, ds.users[u])


def test_attribute_merge_normalises_messy_values(ds, aug):
    assert "999" in aug and aug["4"]["director"] == "Only Once"       # keys lower-cased
    enc = rating.build_encoder(ds, aug)
    fields = {f["name"]: f for f in enc.fields}
    assert fields["aug:director"]["vocab"] == ["jane campion", "steven spielberg"]
    assert fields["aug:star"]["multi"] and fields["aug:star"]["vocab"] == ["meg ryan", "tom hanks"]
    dec = {i: enc.decode("item", enc.encode("item", i, ds.items[i], aug)) for i in ds.item_ids}
    assert {dec[i]["aug:director"] for i in ("1", "5", "6", "10", "11")} == {"steven spielberg"}
    assert dec["12"]["aug:director"] == "jane campion"
    assert dec["3"]["aug:director"] is None and dec["8"]["aug:director"] is None   # N/A, unknown
    assert dec["4"]["aug:director"] is None                                          # seen once
    assert dec["15"]["aug:director"] is None and dec["15"]["aug:star"] == []         # no record
    assert dec["1"]["aug:star"] == ["tom hanks", "meg ryan"] and dec["2"]["aug:star"] == ["tom hanks"]


def small_setup(ds, aug, name, **hp):
    enc = rating.build_encoder(ds, aug)
    feats = rating.Features(enc, ds, aug)
    x, y = rating.tensors(feats, [r for u in ds.user_ids for r in ds.train[u]])
    cls = load_class(name)
    torch.manual_seed(0)
    model = cls(enc, mean=float(y.mean()), **{**cls.defaults, "dropout": 0.0, "init_std": 0.1, **hp})
    return model, x, y


@pytest.mark.parametrize("name", RATING_MODELS)
def test_forward_shape_and_loss_decreases(ds, aug, name):
    model, x, y = small_setup(ds, aug, name)
    assert model(x[:7]).shape == (7,)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model.eval()(x), y).item()
    model.train()
    for _ in range(60):
        loss = torch.nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model.eval()(x), y).item()
    assert after < 0.6 * before, (before, after)


def test_predictions_clipped_to_rating_range(ds, aug):
    model, x, _ = small_setup(ds, aug, "deepfm")
    with torch.no_grad():
        model.bias.fill_(100.0)
    assert set(rating.predict(model, x, 1.0, 5.0).tolist()) == {5.0}
    with torch.no_grad():
        model.bias.fill_(-100.0)
    assert set(rating.predict(model, x, 1.0, 5.0).tolist()) == {1.0}


def test_run_is_deterministic_and_checkpoint_reloads(tmp_path):
    hp = {"epochs": 4, "dim": 4}
    m1 = backbone.run("nfm", TINY, tmp_path / "a", backbone.Options(seed=3, hp=hp, extra=ATTRS))
    m2 = backbone.run("nfm", TINY, tmp_path / "b", backbone.Options(seed=3, hp=hp, extra=ATTRS))
    p1 = (tmp_path / "a" / "predictions.jsonl").read_text()
    assert p1 == (tmp_path / "b" / "predictions.jsonl").read_text()
    assert m1["valid_rmse"] == m2["valid_rmse"] and 0 < m1["test_rmse"] < 4
    assert "aug:director" in m1["fields"] and m1["rating_range"] == [1.0, 5.0]
    m3 = backbone.run("nfm", TINY, tmp_path / "c", backbone.Options(hp=hp, extra=ATTRS, load=tmp_path / "a" / "model.pt"))
    assert (tmp_path / "c" / "predictions.jsonl").read_text() == p1 and m3["epochs"] == 0


def test_missing_rating_names_file_and_line(tmp_path):
    folder = tmp_path / "d"
    shutil.copytree(TINY, folder)
    lines = (folder / "valid.jsonl").read_text().splitlines()
    rec = json.loads(lines[2])
    rec["rating"] = None
    lines[2] = json.dumps(rec)
    (folder / "valid.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"valid\.jsonl:3: rating:"):
        backbone.run("deepfm", folder, tmp_path / "out", backbone.Options(hp={"epochs": 1}))


def test_cli_backbone_writes_predictions(tmp_path):
    out = tmp_path / "deepfm"
    proc = subprocess.run([sys.executable, "-m", "l4r", "backbone", "--model", "deepfm", "--data", str(TINY),
                           "--out", str(out), "--hp", "epochs=3", "--hp", "dim=6", "--extra", str(ATTRS)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    preds = list(read_jsonl(out / "predictions.jsonl", "prediction"))
    by_split = {s: [p for p in preds if p["split"] == s] for s in ("train", "valid", "test")}
    assert all(len(v) == 20 for v in by_split.values())
    ds = datamod.load(TINY)
    assert {(p["user"], p["item"]) for p in by_split["train"]} == {(u, ds.train[u][-1]["item"]) for u in ds.user_ids}
    assert {(p["user"], p["item"]) for p in by_split["test"]} == {(u, r["item"]) for u, r in ds.test.items()}
    assert all(1.0 <= p["rating"] <= 5.0 for p in preds)
    emb = list(read_jsonl(out / "embeddings.jsonl", "embedding"))
    assert len(emb) == 20 and all(len(e["vector"]) == 6 for e in emb)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["epochs"] == 3 and meta["hp"]["dim"] == 6 and meta["patience"] == PATIENCE and "aug:star" in meta["fields"]
    assert (out / "model.pt").exists()
