"""aggregate: combine the LLM's answers with the backbone's by adaptive aggregation (paper 4.4).

Reads: completion records (from `l4r llm`), the backbone's candidates (top-k) or rating
predictions (rating), and the prepared dataset for N(u).
Writes: prediction records — top-k: {user, items, scores} for every user with candidates;
rating: {user, item, rating} for every held-out interaction.
Users without an LLM answer (skipped, or unparseable) keep the backbone's answer; they are
counted on stderr.
Modes (top-k): listwise (the LLM's order) or pointwise (candidates sorted by the LLM's expected
rating). Utility: position (the paper's -p*C) or score (log p of the label ranking, the expected
rating). Completions that give no answer (unparseable, failed) are counted by status. Schemes: adaptive (Eq. 7), uniform (alpha1 for all: the w/o-AA ablation), llm (alpha 1:
the IFT row), rec (alpha 0: the backbone alone).
"""
from __future__ import annotations

from pathlib import Path

from .. import data as datamod
from ..aggregation import run_rating, run_topk
from ..io import read_jsonl


def run(completions_path, data_dir: Path, split: str, task: str = "topk", mode: str = "listwise",
        candidates: Path | None = None, predictions: Path | None = None, alpha1: float = 0.5,
        alpha2: float = 0.1, scheme: str = "adaptive", c: float = 1.0, use: str = "expected",
        utility: str = "position"):
    ds = datamod.load(data_dir)
    completions = list(read_jsonl(completions_path, "completion")) if completions_path else []
    if task == "rating":
        return list(run_rating(ds, completions, predictions, split, alpha1, alpha2, scheme, use))
    return list(run_topk(ds, completions, candidates, split, mode, alpha1, alpha2, scheme, c, utility=utility))
