"""Rating prediction backbones: one feature pipeline and one trainer for DeepFM, NFM, DCN, AFM,
xDeepFM and AutoInt (the paper's Table 4 models).

`train` fits (or loads) a model on a prepared dataset and optionally attribute records {"item",
"attrs"}: the side information an LLM extracted (paper 4.2.3, A' = A u {a_d1, ...});
`predictions` gives prediction records for every valid and test interaction and each user's last
training interaction (split "train", predicted by a model that never saw it); `checkpoint` the
model.pt contents. The backbone stage writes the files (l4r.stages.backbone).

Features (one field each; index 0 of every field means unknown / unseen / rare):
user id, item id, every user attribute, item year (decade), genres (multi-hot, mean-pooled),
every item attribute, every augmented attribute ("aug:<key>"). Values are normalised (case,
whitespace); ages fall into the MovieLens-1M age groups, zip codes keep a prefix, other numeric
attributes with many distinct values fall into quantile buckets; values held by fewer than
`min_count` users/items become unknown.

Training: regression on the rating with MSE, Adam, early stopping on validation RMSE;
predictions are clipped to [min, max] of the training ratings.
RMSE = sqrt(mean((r - r_hat)^2)), MAE = mean(|r - r_hat|).
"""
from __future__ import annotations

import bisect
import copy
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import data as datamod
from ..errors import DataError, UsageError
from ..io import log, read_jsonl
from ..seeding import seed_all
from . import PATIENCE, RMSE_MIN_GAIN, EarlyStopping

MISSING = {"", "unknown", "n/a", "na", "none", "null", "nan", "-", "?", "not available"}
AGE_EDGES = [18, 25, 35, 45, 50, 56]                      # MovieLens-1M age groups
AGE_LABELS = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
MAX_MULTI = 10                                            # tokens kept per multi-hot field
QUANTILES = 10


# ---------------------------------------------------------------- feature pipeline

def norm(value) -> str | None:
    """One attribute value as text: lower case, single spaces, integral numbers without `.0`;
    None when missing."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value).lower()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return str(int(value)) if float(value).is_integer() else f"{value:g}"
    text = " ".join(str(value).split()).strip("\"' ").lower()
    return None if text in MISSING else text


def number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def raw_tokens(value) -> list[str]:
    """Normalised tokens of a raw value; a list gives several."""
    values = value if isinstance(value, (list, tuple)) else [value]
    return [t for t in (norm(v) for v in values) if t is not None]


def bucket(field: dict, value) -> list[str]:
    """The tokens a field's raw value turns into (before the vocabulary lookup)."""
    kind = field["kind"]
    if kind == "age":
        x = number(value)
        return [] if x is None or not 0 < x < 120 else [AGE_LABELS[bisect.bisect_right(AGE_EDGES, x)]]
    if kind == "decade":
        x = number(value)
        return [] if x is None or x <= 0 else [f"{int(x) // 10 * 10}s"]
    if kind == "quantile":
        x = number(value)
        return [] if x is None else [f"q{bisect.bisect_right(field['edges'], x)}"]
    tokens = raw_tokens(value)
    if kind == "prefix":
        return [t[:field["n"]] for t in tokens]
    return tokens


class Encoder:
    """Fields and their vocabularies; encodes users and items to index rows and back.

    A field is a dict: name, side ("user"/"item"), src ("id", "attrs", "year", "genres", "aug"),
    key, kind ("id", "cat", "age", "decade", "quantile", "prefix"), multi, width (columns in a
    row), vocab (index i+1 -> vocab[i]; 0 = unknown), plus edges (quantile) or n (prefix).
    A row is every field's columns side by side; multi-hot fields pad with -1.
    """

    def __init__(self, fields: list[dict]):
        self.fields = fields
        self.index = [{v: i + 1 for i, v in enumerate(f["vocab"])} for f in fields]

    def to_dict(self) -> dict:
        return {"fields": self.fields}

    @classmethod
    def from_dict(cls, d: dict) -> "Encoder":
        return cls(d["fields"])

    def side(self, side: str) -> list[int]:
        return [k for k, f in enumerate(self.fields) if f["side"] == side]

    @property
    def sizes(self) -> list[int]:
        return [len(f["vocab"]) + 1 for f in self.fields]

    def layout(self) -> list[tuple[int, int, bool]]:
        """(first column, width, multi) per field, user fields first, as `row` lays them out."""
        out, col = [], 0
        for k in self.side("user") + self.side("item"):
            f = self.fields[k]
            out.append((col, f["width"], f["multi"]))
            col += f["width"]
        return out

    def tokens(self, field: dict, entity: str, rec: dict, aug: dict) -> list[str]:
        src, key = field["src"], field["key"]
        if src == "id":
            return [entity]
        if src == "year":
            value = rec.get("year")
        elif src == "genres":
            value = rec.get("genres") or []
        elif src == "aug":
            value = aug.get(entity, {}).get(key)
        else:
            value = (rec.get("attrs") or {}).get(key)
        return bucket(field, value)

    def encode(self, side: str, entity: str, rec: dict | None, aug: dict | None = None) -> list[int]:
        """The index row of one user or item (its fields' columns concatenated)."""
        row = []
        for k in self.side(side):
            f = self.fields[k]
            idx = [self.index[k].get(t, 0) for t in self.tokens(f, entity, rec or {}, aug or {})]
            if not f["multi"]:
                row.append(idx[0] if idx else 0)
                continue
            idx = list(dict.fromkeys(i for i in idx if i > 0))[:f["width"]] or [0]
            row.extend(idx + [-1] * (f["width"] - len(idx)))
        return row

    def decode(self, side: str, row: list[int]) -> dict:
        """Field name -> value (None when unknown; a list for multi-hot fields)."""
        out, col = {}, 0
        for k in self.side(side):
            f = self.fields[k]
            cells = row[col:col + f["width"]]
            col += f["width"]
            values = [f["vocab"][i - 1] if i > 0 else None for i in cells if i >= 0]
            out[f["name"]] = [v for v in values if v is not None] if f["multi"] else values[0]
        return out


def attr_field(name: str, side: str, src: str, key: str, values: list) -> dict:
    """Decide how an attribute is bucketed from the values it takes over the catalogue."""
    present = [v for v in values if raw_tokens(v)]
    multi = any(isinstance(v, (list, tuple)) for v in present)
    field = {"name": name, "side": side, "src": src, "key": key, "kind": "cat", "multi": multi}
    low = key.lower()
    nums = [number(v) for v in present] if not multi else []
    numeric = bool(present) and sum(x is not None for x in nums) >= 0.9 * len(present)
    if "zip" in low or "postal" in low:
        field.update(kind="prefix", n=3)
    elif low == "age" and numeric:
        field["kind"] = "age"
    elif numeric and len({x for x in nums if x is not None}) > 20:
        xs = np.array([x for x in nums if x is not None])
        edges = np.unique(np.quantile(xs, np.linspace(0, 1, QUANTILES + 1)[1:-1]))
        field.update(kind="quantile", edges=[float(e) for e in edges])
    return field


def fill_vocab(field: dict, token_lists: list[list[str]], min_count: int) -> dict:
    counts = Counter(t for toks in token_lists for t in set(toks))
    field["vocab"] = sorted((t for t, c in counts.items() if c >= min_count), key=datamod.natural)
    field["width"] = min(MAX_MULTI, max((len(t) for t in token_lists), default=1)) if field["multi"] else 1
    field["width"] = max(1, field["width"])
    return field


def build_encoder(ds, aug: dict | None = None, min_count: int = 2, zip_chars: int = 3) -> Encoder:
    """Fields of a dataset (+ augmented item attributes); ids come from the training interactions."""
    aug = aug or {}
    users, items = ds.user_ids, ds.item_ids
    urec = [ds.users.get(u, {}) for u in users]
    irec = [ds.items.get(i, {}) for i in items]
    seen_items = {r["item"] for recs in ds.train.values() for r in recs}
    specs = [({"name": "user", "side": "user", "src": "id", "key": "user", "kind": "id", "multi": False},
              [u for u in users if ds.train.get(u)])]
    specs.append(({"name": "item", "side": "item", "src": "id", "key": "item", "kind": "id", "multi": False},
                  [i for i in items if i in seen_items]))
    for key in sorted({k for r in urec for k in (r.get("attrs") or {})}):
        specs.append((attr_field(f"user:{key}", "user", "attrs", key,
                                 [(r.get("attrs") or {}).get(key) for r in urec]), urec))
    if any(r.get("year") for r in irec):
        specs.append(({"name": "item:year", "side": "item", "src": "year", "key": "year", "kind": "decade",
                       "multi": False}, irec))
    if any(r.get("genres") for r in irec):
        specs.append(({"name": "item:genres", "side": "item", "src": "genres", "key": "genres", "kind": "cat",
                       "multi": True}, irec))
    for key in sorted({k for r in irec for k in (r.get("attrs") or {})}):
        specs.append((attr_field(f"item:{key}", "item", "attrs", key,
                                 [(r.get("attrs") or {}).get(key) for r in irec]), irec))
    for key in sorted({k for a in aug.values() for k in a}):
        specs.append((attr_field(f"aug:{key}", "item", "aug", key, [aug.get(i, {}).get(key) for i in items]),
                      irec))
    fields = []
    for field, recs in specs:
        if field["kind"] == "prefix":
            field["n"] = zip_chars
        if field["kind"] == "id":
            fill_vocab(field, [[e] for e in recs], 1)
        else:
            ents = users if field["side"] == "user" else items
            enc = Encoder([])
            fill_vocab(field, [enc.tokens(field, e, r, aug) for e, r in zip(ents, recs)], min_count)
        if field["vocab"]:
            fields.append(field)
    return Encoder(fields)


def read_attributes(path) -> dict[str, dict]:
    """Attribute records -> item -> {key: value}; later records add to / override earlier ones."""
    out: dict[str, dict] = {}
    for rec in read_jsonl(path, "attribute"):
        out.setdefault(rec["item"], {}).update({str(k).strip().lower(): v for k, v in rec["attrs"].items()})
    return out


class Features:
    """Encoded users and items of a dataset: X rows for (user, item) pairs."""

    def __init__(self, enc: Encoder, ds, aug: dict | None = None):
        self.enc = enc
        self.user_rows = {u: enc.encode("user", u, ds.users.get(u), aug) for u in ds.user_ids}
        self.item_rows = {i: enc.encode("item", i, ds.items.get(i), aug) for i in ds.item_ids}
        self.blank_user = enc.encode("user", "", None)
        self.blank_item = enc.encode("item", "", None)

    def matrix(self, pairs) -> torch.Tensor:
        rows = [self.user_rows.get(u, self.blank_user) + self.item_rows.get(i, self.blank_item) for u, i in pairs]
        width = len(self.blank_user) + len(self.blank_item)
        return torch.tensor(rows, dtype=torch.long).reshape(-1, width)


# ---------------------------------------------------------------- shared model parts

def as_tuple(value) -> tuple[int, ...]:
    """Layer sizes from a tuple/list, an int, or text such as "256,128" ("" or 0 -> none)."""
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value)
    if isinstance(value, (int, float)):
        return (int(value),) if value else ()
    return tuple(int(v) for v in str(value).replace("-", ",").split(",") if v.strip() and int(v))


def mlp(in_dim: int, hidden, dropout: float = 0.0, out: int | None = 1) -> nn.Sequential:
    """ReLU layers of sizes `hidden` (each followed by dropout), then a linear output of size `out`."""
    layers, d = [], in_dim
    for h in as_tuple(hidden):
        layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
        d = h
    if out:
        layers.append(nn.Linear(d, out))
    return nn.Sequential(*layers)


class FieldEmbedding(nn.Module):
    """Rows of indices -> field embeddings [B, F, d] and first-order weights w_f [B, F].

    Single-valued fields look up one vector; multi-hot fields average the vectors of their
    tokens (-1 = padding). All fields share one table with per-field offsets."""

    def __init__(self, enc: Encoder, dim: int, init_std: float = 0.01):
        super().__init__()
        order = enc.side("user") + enc.side("item")
        sizes = enc.sizes
        starts = np.cumsum([0] + sizes)[:-1]
        self.n_fields = len(order)
        self.emb = nn.Embedding(int(sum(sizes)), dim)
        self.lin = nn.Embedding(int(sum(sizes)), 1)
        nn.init.normal_(self.emb.weight, std=init_std)
        nn.init.zeros_(self.lin.weight)
        layout = enc.layout()
        single = [(c, int(starts[k])) for (c, _, m), k in zip(layout, order) if not m]
        self.register_buffer("single_cols", torch.tensor([c for c, _ in single], dtype=torch.long))
        self.register_buffer("single_off", torch.tensor([o for _, o in single], dtype=torch.long))
        self.multi = [(c, w, int(starts[k])) for (c, w, m), k in zip(layout, order) if m]
        self.user_offset = int(starts[order[0]]) if enc.fields and enc.fields[order[0]]["src"] == "id" else None

    def forward(self, x: torch.Tensor):
        idx = x[:, self.single_cols] + self.single_off
        embs, lins = [self.emb(idx)], [self.lin(idx).squeeze(-1)]
        for col, width, off in self.multi:
            cells = x[:, col:col + width]
            mask = (cells >= 0).float().unsqueeze(-1)
            ids = cells.clamp(min=0) + off
            n = mask.sum(1).clamp(min=1)
            embs.append(((self.emb(ids) * mask).sum(1) / n).unsqueeze(1))
            lins.append((self.lin(ids) * mask).sum(1) / n)
        return torch.cat(embs, 1), torch.cat(lins, 1)


class RatingModel(nn.Module):
    """r_hat = b + sum_f w_f + interact(field embeddings); subclasses define `interact` -> [B]."""

    family = "rating"
    defaults: dict = {}

    def __init__(self, enc: Encoder, dim: int = 16, init_std: float = 0.01, mean: float = 0.0, **_):
        super().__init__()
        self.embed = FieldEmbedding(enc, dim, init_std)
        self.n_fields, self.dim = self.embed.n_fields, dim
        self.bias = nn.Parameter(torch.tensor(float(mean)))

    def forward(self, x: torch.Tensor, return_emb: bool = False):
        e, lin = self.embed(x)
        out = self.bias + lin.sum(1) + self.interact(e)
        return (out, e, lin) if return_emb else out

    def interact(self, e: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def user_vectors(self, user_idx: torch.Tensor) -> torch.Tensor:
        """The user-id field's embedding for encoder indices `user_idx` (0 = unknown)."""
        return self.embed.emb(user_idx + self.embed.user_offset)


def fm_pairs(e: torch.Tensor) -> torch.Tensor:
    """Bi-interaction pooling sum_{i<j} v_i * v_j = 0.5 * ((sum v)^2 - sum v^2), [B, d]."""
    return 0.5 * (e.sum(1).pow(2) - e.pow(2).sum(1))


# ---------------------------------------------------------------- training

def rmse_mae(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """RMSE = sqrt(mean((r - r_hat)^2)); MAE = mean(|r - r_hat|)."""
    if len(true) == 0:
        return float("nan"), float("nan")
    err = pred - true
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err)))


@torch.no_grad()
def predict(model, x: torch.Tensor, lo: float, hi: float, chunk: int = 8192) -> np.ndarray:
    """Ratings for rows x, clipped to [lo, hi]."""
    model.eval()
    out = [model(x[s:s + chunk]).clamp(lo, hi) for s in range(0, len(x), chunk)]
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


def fit(model, x, y, xv, yv, hp: dict, lo: float, hi: float, seed: int = 0, patience: int = PATIENCE) -> dict:
    """Adam on MSE (+ l2 * the batch's mean squared norm of embeddings and first-order weights); keep the weights with the
    best validation RMSE; stop after `patience` epochs without a gain."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"], weight_decay=hp.get("weight_decay", 0.0))
    rule = EarlyStopping(patience, higher=False, min_gain=RMSE_MIN_GAIN)
    best_state, history = copy.deepcopy(model.state_dict()), []
    bs, l2 = int(hp["batch_size"]), float(hp.get("l2", 0.0))
    for epoch in range(1, int(hp["epochs"]) + 1):
        t0, total = time.time(), 0.0
        model.train()
        order = torch.randperm(len(x), generator=gen)
        for s in range(0, len(order), bs):
            idx = order[s:s + bs]
            pred, e, w = model(x[idx], return_emb=True)
            loss = nn.functional.mse_loss(pred, y[idx])
            total += loss.item() * len(idx)
            if l2:
                loss = loss + l2 * (e.pow(2).sum((1, 2)) + w.pow(2).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        val, val_mae = rmse_mae(predict(model, xv, lo, hi), yv.numpy()) if len(xv) else (total / len(x), 0.0)
        history.append({"epoch": epoch, "loss": round(total / max(1, len(x)), 5), "valid_rmse": round(val, 5),
                        "valid_mae": round(val_mae, 5), "seconds": round(time.time() - t0, 3)})
        log(f"  epoch {epoch}: train MSE {total / max(1, len(x)):.4f}  valid RMSE {val:.4f} MAE {val_mae:.4f} "
            f"({time.time() - t0:.1f}s)")
        if rule.update(epoch, val):
            best_state = copy.deepcopy(model.state_dict())
        elif rule.stop:
            break
    model.load_state_dict(best_state)
    return {"best_valid_rmse": math.inf if rule.best is None else rule.best, "epochs": len(history),
            "best_epoch": rule.best_epoch, "history": history}


# ---------------------------------------------------------------- the stage

def split_pairs(ds, split: str) -> list[dict]:
    """Targets of `split`: valid/test interactions, or each user's last training interaction."""
    return [t for u in ds.user_ids if (t := ds.target(u, split)) is not None]


def check_ratings(data_dir: Path, ds) -> None:
    """DataError naming file and line when an interaction has no numeric rating."""
    for split in ("train", "valid", "test"):
        recs = [r for rs in ds.train.values() for r in rs] if split == "train" else getattr(ds, split).values()
        if all(isinstance(r.get("rating"), (int, float)) for r in recs):
            continue
        path = Path(data_dir) / f"{split}.jsonl"
        for lineno, rec in enumerate(read_jsonl(path), 1):
            if not isinstance(rec.get("rating"), (int, float)):
                raise DataError("a rating model needs a numeric rating", str(path), lineno, "rating")


def tensors(feats: Features, recs: list[dict]):
    x = feats.matrix([(r["user"], r["item"]) for r in recs])
    y = torch.tensor([float(r["rating"]) for r in recs], dtype=torch.float32)
    return x, y


@dataclass
class Trained:
    """A trained (or loaded) rating model with what serving it needs."""
    name: str
    model: nn.Module
    held: nn.Module | None          # the model behind the split-"train" predictions (see without_last)
    enc: Encoder
    feats: Features
    params: dict
    bounds: tuple[float, float]     # predictions are clipped to the training ratings' range
    info: dict
    seconds: float


def train(model_name: str, ds, seed: int = 0, hp: dict | None = None, aug: dict | None = None, load=None,
          patience: int = PATIENCE, held_out: bool = True) -> Trained:
    """Train a rating model on `ds` (a l4r.data.Dataset with numeric ratings), or load a checkpoint;
    `held_out` also trains the train-split model (without each user's last rating) that predicts it."""
    from . import load_class

    seed_all(seed)
    aug = aug or {}
    cls = load_class(model_name)
    ckpt = torch.load(load, map_location="cpu", weights_only=False) if load else None
    if ckpt and ckpt.get("model") != model_name:
        raise UsageError(f"{load}: a {ckpt.get('model')} checkpoint, not {model_name}")
    params = {**cls.defaults, **(ckpt["hp"] if ckpt else {}), **(hp or {})}
    train_recs = [r for u in ds.user_ids for r in ds.train.get(u, [])]
    lo, hi = (ckpt["range"] if ckpt else (min(r["rating"] for r in train_recs), max(r["rating"] for r in train_recs)))
    mean = float(np.mean([r["rating"] for r in train_recs]))
    enc = Encoder.from_dict(ckpt["encoder"]) if ckpt else build_encoder(
        ds, aug, int(params.get("min_count", 2)), int(params.get("zip_chars", 3)))
    feats = Features(enc, ds, aug)
    model = cls(enc, mean=mean, **params)
    valid = tensors(feats, split_pairs(ds, "valid"))
    t0 = time.time()
    if ckpt:
        model.load_state_dict(ckpt["state"])
        info = {"loaded": str(load), "epochs": 0}
    else:
        log(f"rating: training {model_name}: {len(train_recs)} ratings, {len(enc.fields)} fields "
            f"({', '.join(f['name'] for f in enc.fields)})")
        info = fit(model, *tensors(feats, train_recs), *valid, params, lo, hi, seed=seed, patience=patience)
    seconds = time.time() - t0
    if ckpt:
        held = cls(enc, mean=mean, **params) if ckpt.get("held") else None
        if held is not None:
            held.load_state_dict(ckpt["held"])
    else:
        held = without_last(cls, enc, mean, params, feats, ds, valid, info, (lo, hi), seed) if held_out else None
    return Trained(model_name, model, held, enc, feats, params, (lo, hi), info, seconds)


def predictions(t: Trained, ds) -> tuple[list[dict], dict[str, tuple[float, float]]]:
    """Prediction records for the train (each user's last training rating, by the held-out model),
    valid and test targets, and (RMSE, MAE) per split."""
    records, scores = [], {}
    for split in ("train", "valid", "test"):
        recs = split_pairs(ds, split)
        xs, ys = tensors(t.feats, recs)
        pred = predict(t.held if split == "train" and t.held is not None else t.model, xs, *t.bounds)
        scores[split] = rmse_mae(pred, ys.numpy())
        records += [{"user": r["user"], "item": r["item"], "rating": round(float(p), 4), "split": split}
                    for r, p in zip(recs, pred)]
    return records, scores


def checkpoint(t: Trained) -> dict:
    return {"model": t.name, "hp": t.params, "state": t.model.state_dict(), "encoder": t.enc.to_dict(),
            "range": list(t.bounds), "held": t.held.state_dict() if t.held is not None else None}


def without_last(cls, enc, mean, params, feats, ds, valid, info, bounds, seed):
    """The model behind the split-"train" predictions (the rating instructions' "Conventional Model
    Prediction"): the same settings for the validation-selected epochs, trained without each user's
    last training rating, so it never saw the rating it predicts there."""
    train = [r for u in ds.user_ids for r in ds.train.get(u, [])[:-1]]
    if not train or not info.get("best_epoch"):
        return None
    seed_all(seed)
    model = cls(enc, mean=mean, **params)
    x, y = tensors(feats, train)
    log(f"rating: the train-split model: train minus each user's last rating, {info['best_epoch']} epochs")
    fit(model, x, y, *valid, {**params, "epochs": info["best_epoch"]}, *bounds, seed=seed, patience=10 ** 9)
    return model


@torch.no_grad()
def embedding_records(model, enc: Encoder, ds):
    k = enc.side("user")[0] if enc.side("user") else None
    if k is None or enc.fields[k]["src"] != "id" or model.embed.user_offset is None:
        return
    ids = torch.tensor([enc.index[k].get(u, 0) for u in ds.user_ids], dtype=torch.long)
    vectors = model.user_vectors(ids).numpy()
    for u, v in zip(ds.user_ids, vectors):
        yield {"user": u, "vector": [round(float(a), 6) for a in v]}
