"""backbone: train a conventional recommender and serve its predictions.

Reads: a prepared dataset folder; optional extra triples (triple records, paper Eq. 3) or
augmented sequences (sequence records, paper 4.2.2).
Writes, into --out: candidates.jsonl (candidates: top-k' per user for the train, valid and test
splits, the visible history excluded; the train split, which instructions use with each user's
last training item as target, comes from a second model trained without that item),
embeddings.jsonl (embedding: the user vectors used for the similar-user search), model.pt (checkpoint), meta.json (hyper-parameters, training curve).
Rating models (family "rating") write predictions.jsonl instead; see l4r.models.rating.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import data as datamod
from ..data import SPLITS
from ..errors import DataError, UsageError
from ..io import atomic_path, log, read_jsonl, save_torch, write_jsonl
from ..models import PATIENCE, family, load_class
from ..seeding import seed_all


def parse_hp(pairs: list[str]) -> dict:
    """`key=value` flags to a dict, values read as int, float or text."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"--hp takes key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        for cast in (int, float):
            try:
                out[key] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[key] = value
    return out


# hyper-parameters read by the shared training loops (topk.fit / rating.fit / rating.run), with a
# default of the right type; each model's `defaults` and constructor arguments add its own
FIT_HP = {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 1, "epochs": 1}
FAMILY_HP = {"direct": {}, "sequential": {"max_len": 50}, "rating": {"l2": 0.0, "min_count": 2, "zip_chars": 3}}
SET_BY_STAGE = {"self", "data", "enc", "mean"}  # constructor arguments the stage fills in itself


def known_hp(model_name: str, cls) -> dict:
    """Every hyper-parameter `model_name` reads -> an example value (its type is what --hp must give)."""
    import inspect

    known = {**FIT_HP, **FAMILY_HP[family(model_name)]}
    for klass in reversed(cls.__mro__):
        init = vars(klass).get("__init__")
        if init is None or klass.__module__.startswith("torch"):
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name not in SET_BY_STAGE and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                known[name] = p.default if p.default is not p.empty else None
    return {**known, **cls.defaults}


def check_hp(model_name: str, cls, hp: dict) -> dict:
    """UsageError for a key `model_name` does not read or a value of the wrong kind (text for a number,
    a fraction for a count, a layer list that is not comma-separated integers); whole floats become ints."""
    import re

    known = known_hp(model_name, cls)
    out = {}
    for key, value in hp.items():
        if key not in known:
            raise UsageError(f"--hp {key}: unknown hyper-parameter for {model_name}; known: "
                             f"{', '.join(sorted(known))}")
        example = known[key]
        if isinstance(example, (int, float)) and not isinstance(example, bool):
            if not isinstance(value, (int, float)):
                raise UsageError(f"--hp {key}={value}: {model_name} expects a number")
            if isinstance(example, int) and isinstance(value, float):
                if not value.is_integer():
                    raise UsageError(f"--hp {key}={value}: {model_name} expects an integer")
                value = int(value)
        elif isinstance(example, str) and re.fullmatch(r"[0-9,]*", example):      # layer sizes, e.g. "256,128"
            if not re.fullmatch(r"[0-9,\- ]*", str(value)):
                raise UsageError(f"--hp {key}={value}: {model_name} expects comma-separated layer sizes, "
                                 f"e.g. {example or '64,32'}")
        out[key] = value
    return out


@dataclass
class Options:
    """How `l4r backbone` trains (checked when made): `hp` overrides the model's defaults; `extra`
    holds triple (top-k) or attribute (rating) records, `sequences` augmented sequences; `load` a
    model.pt to serve instead of training; `k` candidates per user; early stopping after `patience`
    evaluations without a gain; `refit` retrains on train + valid for the test split."""
    k: int = 10
    seed: int = 0
    hp: dict = field(default_factory=dict)
    extra: Path | None = None
    sequences: Path | None = None
    load: Path | None = None
    patience: int = PATIENCE
    threads: int = 1
    refit: bool = False

    def __post_init__(self):
        if self.k < 1 or self.patience < 1 or self.threads < 1:
            raise UsageError("--k, --patience and --threads must be >= 1")


def run(model_name: str, data_dir: Path, out: Path, opts: Options = Options()) -> dict:
    k, seed, extra, sequences, load = opts.k, opts.seed, opts.extra, opts.sequences, opts.load
    patience, threads, refit = opts.patience, opts.threads, opts.refit
    hp = check_hp(model_name, load_class(model_name), opts.hp)
    if family(model_name) == "rating":
        return run_rating(model_name, data_dir, out, seed, hp, extra, load, patience)
    import torch

    from ..models import topk

    torch.set_num_threads(threads)  # small models: more threads only fight over a busy CPU
    seed_all(seed)
    ds = datamod.load(data_dir)
    triples = list(read_jsonl(extra, "triple")) if extra else []
    seqs = {r["user"]: r["items"] for r in read_jsonl(sequences, "sequence")} if sequences else None
    data = topk.from_dataset(ds, triples, seqs)
    cls = load_class(model_name)
    params = {**cls.defaults, **(hp or {})}
    model = cls(data, **params)
    t0 = time.time()
    if load:
        model.load_state_dict(torch.load(load, map_location="cpu"))
        train_info = {"loaded": str(load)}
    else:
        log(f"backbone: training {model_name} on {data_dir} ({len(triples)} extra triples, "
            f"{'augmented' if seqs else 'original'} sequences)")
        train_info = topk.fit(model, data, params, seed=seed, patience=patience)
    seconds = time.time() - t0
    max_len = params.get("max_len", 50)
    metrics = {s: topk.evaluate(model, data, s, 10, max_len) for s in ("valid", "test")}
    log(f"backbone: {model_name} valid HR@10 {metrics['valid']['hr']:.4f} NDCG@10 {metrics['valid']['ndcg']:.4f}; "
        f"{seconds:.1f}s")
    test_model, test_data = model, data
    if refit and not load and train_info.get("history"):
        test_model, test_data, train_info["refit_epochs"] = refit_on_valid(cls, data, params, train_info, seed)
    held = None
    if not load and train_info.get("history"):
        held = without_last(cls, data, params, train_info, seed)
    else:
        log("backbone: a loaded model serves the train split as is (it may have trained on the instruction targets)")
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "candidates.jsonl", candidate_records(model, data, ds, k, model_name, max_len,
                                                            test_model, test_data, held))
    vectors = topk.user_vectors(test_model, test_data, "test", max_len)
    write_jsonl(out / "embeddings.jsonl", ({"user": u, "vector": vectors[i].round(6).tolist()}
                                           for i, u in enumerate(ds.user_ids)))
    save_torch(test_model.state_dict(), out / "model.pt")
    meta = {"model": model_name, "hp": params, "seed": seed, "patience": patience, "k": k, "extra_triples": len(triples),
            "augmented_sequences": bool(seqs), "train_seconds": round(seconds, 2), "valid10": metrics["valid"],
            **train_info}
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return meta


def refit_on_valid(cls, data, params, train_info, seed):
    """Retrain on train + valid for the validation-selected number of epochs; serves the test split
    (the usual last step of leave-one-out: the validation item is the user's most recent known one)."""
    import dataclasses

    from ..models import topk

    best = max(train_info["history"], key=lambda h: h["valid_ndcg10"])["epoch"]
    seqs = [s + [v] if v >= 0 else s for s, v in zip(data.seqs, data.valid)]
    full = dataclasses.replace(data, seqs=seqs, valid=[-1] * len(seqs))
    seed_all(seed)
    model = cls(full, **params)
    log(f"backbone: refit on train + valid for {best} epochs")
    topk.fit(model, full, {**params, "epochs": best}, seed=seed, patience=10 ** 9, eval_every=10 ** 9)
    return model, full, best


def run_rating(model_name, data_dir, out, seed, hp, attrs, load, patience) -> dict:
    """A rating model: predictions.jsonl (valid, test and each user's last training rating), user
    embeddings, model.pt (weights, hyper-parameters, encoder, rating range) and meta.json."""
    from ..models import rating

    data_dir, out = Path(data_dir), Path(out)
    ds = datamod.load(data_dir)
    rating.check_ratings(data_dir, ds)
    if not any(ds.train.values()):
        raise DataError("no training interactions", str(data_dir / "train.jsonl"))
    aug = rating.read_attributes(attrs) if attrs else {}
    if attrs:
        log(f"rating: {sum(1 for i in aug if i in ds.items)} of {len(aug)} attribute records match items")
    t = rating.train(model_name, ds, seed, hp, aug, load, patience)
    records, scores = rating.predictions(t, ds)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "predictions.jsonl", records)
    write_jsonl(out / "embeddings.jsonl", rating.embedding_records(t.model, t.enc, ds))
    save_torch(rating.checkpoint(t), out / "model.pt")
    meta = {"model": model_name, "family": "rating", "hp": t.params, "seed": seed, "patience": patience,
            "fields": [f["name"] for f in t.enc.fields], "attributes": str(attrs) if attrs else None,
            "rating_range": list(t.bounds), "valid_rmse": scores["valid"][0], "valid_mae": scores["valid"][1],
            "test_rmse": scores["test"][0], "test_mae": scores["test"][1], "train_seconds": round(t.seconds, 2),
            **t.info}
    log(f"rating: {model_name} valid RMSE {scores['valid'][0]:.4f} MAE {scores['valid'][1]:.4f}; test RMSE "
        f"{scores['test'][0]:.4f} MAE {scores['test'][1]:.4f}; {t.info['epochs']} epochs, {t.seconds:.1f}s")
    with atomic_path(out / "meta.json") as tmp:
        tmp.write_text(json.dumps(meta, indent=1))
    return meta


def without_last(cls, data, params, train_info, seed):
    """The model that serves the train split (the instruction targets): trained as the main one, for
    its validation-selected number of epochs, on train minus each user's last item, so it never saw
    the target it ranks (no leakage of the target into the instructions' candidates)."""
    import dataclasses

    from ..models import topk

    best = max(train_info["history"], key=lambda h: h["valid_ndcg10"])["epoch"]
    held = dataclasses.replace(data, seqs=[s[:-1] for s in data.seqs])
    seed_all(seed)
    model = cls(held, **params)
    log(f"backbone: the train-split model: train minus each user's last item, {best} epochs")
    topk.fit(model, held, {**params, "epochs": best}, seed=seed, patience=10 ** 9, eval_every=10 ** 9)
    return model, held


def candidate_records(model, data, ds, k, model_name, max_len, test_model=None, test_data=None, held=None):
    """Top-k per user and split: train from the model without the last item (its history is the
    rest of train), valid from the main model, test from the refit one when there is one."""
    from ..models import topk

    for split in SPLITS:
        m, d, view = model, data, split
        if split == "test" and test_model is not None:
            m, d = test_model, test_data
        if split == "train" and held is not None:
            (m, d), view = held, "valid"
        for u, items, scores in topk.rank(m, d, view, k, max_len):
            yield {"user": ds.user_ids[u], "split": split, "items": [ds.item_ids[i] for i in items],
                   "scores": [round(s, 5) for s in scores], "model": model_name}
