"""Every record type that flows between stages, defined once.

A spec maps field -> (types, required). `check` raises DataError naming file, line
and field; a boolean is never a number, nor is NaN or infinity. docs/pipeline.md
describes the same records for people.
"""
from __future__ import annotations

import math

from .errors import DataError

NUM = (int, float)
STR = (str,)
LIST = (list,)
DICT = (dict,)
OPT_NUM = (int, float, type(None))
OPT_STR = (str, type(None))

SPECS: dict[str, dict[str, tuple[tuple, bool]]] = {
    # one user-item event; ts orders a user's history (synthetic for BookCrossing)
    "interaction": {"user": (STR, True), "item": (STR, True), "rating": (OPT_NUM, False), "ts": (OPT_NUM, False)},
    # catalogue entry: title for prompts, year/genres/attrs as features
    "item": {"item": (STR, True), "title": (STR, True), "year": ((int, type(None)), False),
             "genres": (LIST, False), "attrs": (DICT, False)},
    "user": {"user": (STR, True), "attrs": (DICT, False)},
    # LLM-extracted side information for an item (paper 4.2.3), e.g. {"director": "...", "star": "..."}
    "attribute": {"item": (STR, True), "attrs": (DICT, True)},
    # a backbone's ranked top-k' list for one user and split
    "candidates": {"user": (STR, True), "split": (STR, True), "items": (LIST, True), "scores": (LIST, True),
                   "model": (STR, False)},
    # a backbone's user representation, for the similar-user search
    "embedding": {"user": (STR, True), "vector": (LIST, True)},
    # an LLM-ranked pair for direct data augmentation: the user prefers pos over neg (paper Eq. 3)
    "triple": {"user": (STR, True), "pos": (STR, True), "neg": (STR, True)},
    # a user's (augmented) training sequence for sequential data augmentation (paper 4.2.2)
    "sequence": {"user": (STR, True), "items": (LIST, True)},
    # Alpaca-style instruction-tuning example
    "instruction": {"id": (STR, True), "task": (STR, True), "instruction": (STR, True), "input": (STR, True),
                    "output": (STR, True)},
    # what the LLM is asked; `query` is appended to `input` (pointwise: the shared prefix stays in input);
    # `response`: the start of the answer, written for the model, which continues it (the completion's text
    # begins with it), so a small model answers in the asked format
    "prompt": {"id": (STR, True), "task": (STR, True), "user": (STR, True), "instruction": (STR, True),
               "input": (STR, True), "query": (OPT_STR, False), "response": (OPT_STR, False), "item": (OPT_STR, False),
               "candidates": ((list, type(None)), False), "split": (OPT_STR, False)},
    # what the LLM answered, parsed back to item ids / a rating
    "completion": {"id": (STR, True), "task": (STR, True), "user": (STR, True), "text": (STR, True),
                   "items": ((list, type(None)), False), "rating": (OPT_NUM, False),
                   "expected": (OPT_NUM, False), "status": (STR, True)},
    # a final answer per user: a ranked list (top-k) or a rating for one item
    "prediction": {"user": (STR, True), "items": ((list, type(None)), False), "scores": ((list, type(None)), False),
                   "item": (OPT_STR, False), "rating": (OPT_NUM, False)},
    # one number from eval
    "metric": {"metric": (STR, True), "value": (NUM, True), "n": (NUM, False), "group": (OPT_STR, False)},
}


def check(rec: dict, kind: str, file: str = "<input>", line: int | None = None) -> dict:
    """Raise DataError unless `rec` has every required field of `kind` with the right type."""
    spec = SPECS[kind]
    for field, (types, required) in spec.items():
        if field not in rec:
            if required:
                raise DataError(f"missing (a {kind} record needs it)", file, line, field)
            continue
        value = rec[field]
        if isinstance(value, bool) or not isinstance(value, types):
            names = "/".join("null" if t is type(None) else t.__name__ for t in types)
            raise DataError(f"expected {names}, got {type(value).__name__}", file, line, field)
        if isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"expected a finite number, got {value}", file, line, field)
    return rec
