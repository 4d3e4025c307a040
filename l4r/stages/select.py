"""Choose the aggregation setting on the validation split (paper 5.1.3, Figure 3), honestly.

The paper picks alpha1, alpha2 from {0.1, 0.3, 0.5, 0.7, 0.9} and the better of listwise and pointwise
ranking by the best result on test. Here every setting is scored on both splits, the one with the best
validation `--criterion` is selected, and only that one is reported as the test result; the best-on-test
setting is kept beside it so a reader sees what the paper's protocol would have reported.

Reads: completion records (from `l4r llm`, with prompts of the valid and test splits), the backbone's
candidates (top-k) or rating predictions (rating), and the prepared dataset.
Writes: --grid: one record per (split, mode, utility, alpha1, alpha2) with its metrics (utility:
the paper's position utility, and the LLM's own score where its completions carry probabilities);
--selected: {criterion, higher_is_better, mode, utility, alpha1, alpha2, valid, test, best_on_test};
--args: the selected setting as `l4r aggregate` flags (`--mode listwise --utility score --alpha1 0.5 --alpha2 0.1`).

    l4r select completions.jsonl --data out/ml-100k/data --candidates cands.jsonl \\
        --modes listwise,pointwise --grid grid.jsonl --selected selected.json --args selected.args
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .. import data as datamod
from ..aggregation import Setting, run_rating, run_topk
from ..data import load_targets
from ..errors import UsageError
from ..io import log, read_jsonl, write_jsonl, write_text
from ..metrics import rating_rows, summarise, topk_rows

GRID = [0.1, 0.3, 0.5, 0.7, 0.9]
TOPK_NAMES = ["HR@3", "NDCG@3", "HR@5", "NDCG@5"]
RATING_NAMES = ["RMSE", "MAE"]


def utilities(completions, mode: str) -> list[str]:
    """U_LLM forms the completions allow: position always; score where the LLM gave probabilities."""
    if mode == "rating":
        return ["position"]
    has = [bool(c.get("probs")) or c.get("expected") is not None for c in completions
           if c["task"] == mode and c["status"] == "ok"]
    return ["position", "score"] if has and all(has) else ["position"]


def settings(modes: list[str], grid: list[float], scheme: str, completions):
    """(mode, utility, alpha1, alpha2) to try; the llm scheme has no alphas (and U_LLM's form does not
    matter there: alpha 1 sorts by it either way), only the mode."""
    if scheme == "llm":
        return [(m, "position", 1.0, 0.0) for m in modes]
    return [(m, u, a1, a2) for m in modes for u in utilities(completions, m) for a1 in grid for a2 in grid]


def quiet(*_) -> None:
    """Aggregation's per-call summary, silenced: the grid calls it 100 times."""


def score(ds, targets, completions, split, task, mode, utility, a1, a2, scheme, candidates, predictions) -> dict:
    """Metrics of one setting on one split, as `l4r aggregate | l4r eval` would report them (overall)."""
    if task == "rating":
        preds = run_rating(ds, completions, predictions, split, Setting(alpha1=a1, alpha2=a2, scheme=scheme), say=quiet)
        rated = {(p["user"], p["item"]): p["rating"] for p in preds}
        rows = rating_rows(targets, rated, str(predictions))
        names = RATING_NAMES
    else:
        setting = Setting(mode=mode, alpha1=a1, alpha2=a2, scheme=scheme, utility=utility)
        preds = run_topk(ds, completions, candidates, split, setting, say=quiet)
        rows = topk_rows(targets, {p["user"]: p["items"] for p in preds}, [3, 5])
        names = TOPK_NAMES
    return {r["metric"]: r["value"] for r in summarise(rows, names, None)}


def best(records: list[dict], split: str, criterion: str, higher: bool) -> dict:
    """The first record of `split` with the best criterion (grid order breaks ties)."""
    rows = [r for r in records if r["split"] == split]
    key = (lambda r: -r["metrics"][criterion]) if higher else (lambda r: r["metrics"][criterion])
    return min(rows, key=key)


@dataclass
class Options:
    """What `l4r select` searches (checked when made): top-k (`candidates`, `modes`) or rating
    (`predictions`); `criterion` on validation (default NDCG@5, rating RMSE); `scheme` adaptive (alphas,
    mode, U_LLM form) or llm (mode only: the IFT row); alpha1 x alpha2 over `grid`."""
    task: str = "topk"
    modes: tuple[str, ...] = ("listwise",)
    candidates: Path | None = None
    predictions: Path | None = None
    criterion: str | None = None
    scheme: str = "adaptive"
    grid: tuple[float, ...] = tuple(GRID)

    def __post_init__(self):
        if self.task not in ("topk", "rating") or self.scheme not in ("adaptive", "llm"):
            raise UsageError("--task must be topk or rating, --scheme adaptive or llm")
        names = RATING_NAMES if self.task == "rating" else TOPK_NAMES
        self.criterion = self.criterion or names[0 if self.task == "rating" else 3]
        if self.criterion not in names:
            raise UsageError(f"--criterion {self.criterion} is not one of {', '.join(names)}")


def run(completions_path, data_dir: Path, opts: Options) -> tuple[list[dict], dict]:
    task, modes, criterion, scheme = opts.task, list(opts.modes), opts.criterion, opts.scheme
    candidates, predictions, grid = opts.candidates, opts.predictions, list(opts.grid)
    ds = datamod.load(data_dir)
    completions = list(read_jsonl(completions_path, "completion"))
    if task == "rating":
        modes = ["rating"]
    records = []
    for split in ("valid", "test"):
        targets = load_targets(data_dir, split)
        for mode, utility, a1, a2 in settings(modes, grid, scheme, completions):
            metrics = score(ds, targets, completions, split, task, mode, utility, a1, a2, scheme, candidates,
                            predictions)
            records.append({"split": split, "mode": mode, "utility": utility, "alpha1": a1, "alpha2": a2,
                            "metrics": metrics})
    higher = criterion not in RATING_NAMES
    chosen, top = best(records, "valid", criterion, higher), best(records, "test", criterion, higher)
    key = ("mode", "utility", "alpha1", "alpha2")
    on_test = next(r for r in records if r["split"] == "test" and all(r[k] == chosen[k] for k in key))
    selected = {"criterion": criterion, "higher_is_better": higher, "scheme": scheme,
                **{k: chosen[k] for k in key},
                "valid": chosen["metrics"][criterion], "test": on_test["metrics"][criterion],
                "best_on_test": {**{k: top[k] for k in key}, "value": top["metrics"][criterion]}}
    log(f"select: {chosen['mode']} ({chosen['utility']}) alpha1 {chosen['alpha1']} alpha2 {chosen['alpha2']}: "
        f"valid {criterion} {selected['valid']:.4f}, test {selected['test']:.4f} "
        f"(best on test {top['metrics'][criterion]:.4f})")
    return records, selected


def as_args(selected: dict, task: str) -> str:
    mode = "" if task == "rating" else f"--mode {selected['mode']} --utility {selected.get('utility', 'position')} "
    return f"{mode}--alpha1 {selected['alpha1']} --alpha2 {selected['alpha2']}\n"


def write(records: list[dict], selected: dict, task: str, grid=None, selected_to=None, args_to=None) -> None:
    """The grid (JSONL), the selection (JSON) and the selection as `l4r aggregate` flags, where asked."""
    if grid:
        write_jsonl(grid, records)
    if selected_to:
        write_text(selected_to, json.dumps(selected, indent=1) + "\n")
    if args_to:
        write_text(args_to, as_args(selected, task))
