"""RecBole 1.2.1 (Zhao et al. 2021) on exactly l4r's split: the peer for the backbone benchmarks.

Runs in RecBole's own virtual environment (it pins old numpy/scipy/pandas; it is never a dependency
of l4r), so it reads the prepared folder with plain json, not with l4r:

    python -m venv ../recbole-venv && ../recbole-venv/bin/pip install torch==2.13.0 numpy==1.23.5 \\
        scipy==1.10.1 pandas==1.5.3 scikit-learn==1.2.2 "setuptools>=77.0.3,<81" recbole==1.2.1
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 OMP_NUM_THREADS=1 flock /tmp/l4r-cpu.lock \\
        ../recbole-venv/bin/python benchmarks/recbole_peer.py out/ml-100k/data --model BPR --seeds 0,1,2,3,4

The split: every user's train, valid and test records of the folder, in file order, become one
RecBole .inter file whose timestamp is the record's position in that user's sequence, so RecBole's
leave-one-out by time (eval_args split LS valid_and_test, order TO) rebuilds l4r's split exactly.
Protocol as in l4r's benchmarks: full ranking, history masked (train at validation, train + valid at
test), validation NDCG@10 every epoch, RecBole's early stopping with stopping_step 10 (it stops after
11 evaluations without a gain; a tie counts as a gain), the model's RecBole defaults otherwise, one
torch thread. Prints one JSON line per seed: valid NDCG@10, test HR/NDCG@5 and @10, epochs, best
epoch, seconds to the end of the best epoch's validation and in all (data preparation excluded).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def write_inter(data: Path, folder: Path) -> int:
    """l4r's train/valid/test.jsonl -> folder/l4r/l4r.inter; returns the number of interactions."""
    seqs: dict[str, list[str]] = {}
    for split in ("train", "valid", "test"):
        for line in (data / f"{split}.jsonl").read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                seqs.setdefault(rec["user"], []).append(rec["item"])
    (folder / "l4r").mkdir(parents=True, exist_ok=True)
    rows = ["user_id:token\titem_id:token\ttimestamp:float"]
    rows += [f"{u}\t{i}\t{t}" for u, items in seqs.items() for t, i in enumerate(items)]
    (folder / "l4r" / "l4r.inter").write_text("\n".join(rows) + "\n")
    return len(rows) - 1


def config(model: str, folder: Path, seed: int, epochs: int, extra: dict) -> dict:
    out = {"data_path": str(folder), "dataset": "l4r", "checkpoint_dir": str(folder / "saved"),
           "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "TIME_FIELD": "timestamp",
           "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
           "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full", "group_by": "user"},
           "metrics": ["Hit", "NDCG"], "topk": [5, 10], "valid_metric": "NDCG@10", "stopping_step": 10,
           "epochs": epochs, "eval_step": 1, "seed": seed, "reproducibility": True, "use_gpu": False,
           "show_progress": False, "worker": 0, "eval_batch_size": 4096, "log_wandb": False}
    if model in ("SASRec", "BERT4Rec", "CL4SRec"):
        out["train_neg_sample_args"] = None          # their default loss is cross-entropy over all items
    return {**out, **extra}


def run(model_name: str, folder: Path, seed: int, epochs: int, extra: dict) -> dict:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    torch.set_num_threads(1)
    cfg = Config(model=model_name, dataset="l4r", config_dict=config(model_name, folder, seed, epochs, extra))
    init_seed(cfg["seed"], cfg["reproducibility"])
    init_logger(cfg)
    dataset = create_dataset(cfg)
    train, valid, test = data_preparation(cfg, dataset)
    init_seed(cfg["seed"] + cfg["local_rank"], cfg["reproducibility"])
    model = get_model(cfg["model"])(cfg, train._dataset).to(cfg["device"])
    trainer = get_trainer(cfg["MODEL_TYPE"], cfg["model"])(cfg, model)
    marks: list[tuple[float, float]] = []
    validate = trainer._valid_epoch
    t0 = time.time()

    def timed(*args, **kwargs):
        score, result = validate(*args, **kwargs)
        marks.append((time.time() - t0, score))
        return score, result

    trainer._valid_epoch = timed
    best_valid, _ = trainer.fit(train, valid, saved=True, show_progress=False)
    seconds = time.time() - t0
    result = trainer.evaluate(test, load_best_model=True, show_progress=False)
    best = max(range(len(marks)), key=lambda e: (marks[e][1], e))          # RecBole keeps the last tie
    return {"model": model_name, "seed": seed, "valid_ndcg10": best_valid, "test_hr5": result["hit@5"],
            "test_ndcg5": result["ndcg@5"], "test_hr10": result["hit@10"], "test_ndcg10": result["ndcg@10"],
            "epochs": len(marks), "best_epoch": best + 1, "s_to_best": round(marks[best][0], 2),
            "seconds": round(seconds, 2), "torch_threads": torch.get_num_threads(), "settings": extra,
            "curve": [[round(t, 2), round(v, 5)] for t, v in marks]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a folder written by `l4r prep`")
    ap.add_argument("--model", required=True, help="a RecBole model name: BPR, LightGCN, SGL, SASRec, BERT4Rec")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--epochs", type=int, default=500, help="an upper bound; early stopping ends the run")
    ap.add_argument("--set", action="append", default=[], help="key=JSON value overriding a RecBole setting")
    ap.add_argument("--out", type=Path, help="also append the JSON lines here")
    args = ap.parse_args()
    extra = {k: json.loads(v) for k, _, v in (s.partition("=") for s in args.set)}
    out = args.out.resolve() if args.out else None
    with tempfile.TemporaryDirectory(prefix="recbole-") as tmp:
        n = write_inter(args.data, Path(tmp))
        os.chdir(tmp)                      # RecBole writes log/ and log_tensorboard/ into the working folder
        print(f"recbole_peer: {n} interactions from {args.data}", file=sys.stderr, flush=True)
        for seed in map(int, args.seeds.split(",")):
            row = run(args.model, Path(tmp), seed, args.epochs, extra)
            line = json.dumps(row)
            print(line, flush=True)
            if out:
                with out.open("a") as fh:
                    fh.write(line + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    main()
