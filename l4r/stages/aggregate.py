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

from dataclasses import dataclass, field
from pathlib import Path

from .. import data as datamod
from ..aggregation import Setting, run_rating, run_topk
from ..errors import UsageError
from ..io import read_jsonl


@dataclass
class Options:
    """What `l4r aggregate` combines: top-k (the backbone's `candidates`) or rating (its
    `predictions`), for one split, by one Setting."""
    task: str = "topk"
    split: str = "test"
    candidates: Path | None = None
    predictions: Path | None = None
    setting: Setting = field(default_factory=Setting)

    def __post_init__(self):
        if self.task not in ("topk", "rating"):
            raise UsageError(f"--task must be topk or rating, got {self.task!r}")
        if self.task == "topk" and self.candidates is None or self.task == "rating" and self.predictions is None:
            raise UsageError("--candidates is needed for top-k, --predictions for rating")


def run(completions_path, data_dir: Path, opts: Options) -> list[dict]:
    ds = datamod.load(data_dir)
    completions = list(read_jsonl(completions_path, "completion")) if completions_path else []
    if opts.task == "rating":
        return list(run_rating(ds, completions, opts.predictions, opts.split, opts.setting))
    return list(run_topk(ds, completions, opts.candidates, opts.split, opts.setting))
