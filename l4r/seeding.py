"""One way to seed, for every stage.

- `seed_all(seed)`: the global generators of random, numpy and torch (a stage that trains calls it
  before building its model).
- `rng(seed, *keys)`: a private generator for one decision, keyed by what it decides
  (`rng(seed, "direct", user)` is random.Random("0:direct:42")), so one user's shuffle never depends
  on how many draws another user's took. (l4r.split keeps its older key `seed/user`, so published
  splits of data without timestamps stay the same.)
"""
from __future__ import annotations

import random


def seed_all(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng(seed: int, *keys) -> random.Random:
    return random.Random(":".join(str(k) for k in (seed, *keys)))
