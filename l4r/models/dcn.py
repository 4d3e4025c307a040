"""DCN: Wang et al. 2017, "Deep & cross network for ad click predictions".

Cross network on x_0 = [v_1; ...; v_F]: x_{l+1} = x_0 (x_l^T w_l) + b_l + x_l; a deep MLP runs on x_0
in parallel; r_hat = b + sum_f w_f + w_out^T [x_L; MLP(x_0)]. Reads/writes through l4r.models.rating.
Embedding width 64 (chosen on ML-100K validation over 3 seeds: RMSE 0.9808 +- 0.0017 against 0.9842 +- 0.0032
at 16; docs/backbones.md).
"""
from __future__ import annotations

import torch
from torch import nn

from .rating import RatingModel, as_tuple, mlp


class DCN(RatingModel):
    defaults = {"dim": 64, "cross": 2, "hidden": "256,128", "dropout": 0.5, "lr": 1e-3, "l2": 1e-4,
                "weight_decay": 0.0, "batch_size": 512, "epochs": 100, "init_std": 0.01}

    def __init__(self, enc, dim: int = 64, cross: int = 2, hidden="256,128", dropout: float = 0.5, **kw):
        super().__init__(enc, dim=dim, **kw)
        d0 = self.n_fields * dim
        self.w = nn.Parameter(torch.randn(int(cross), d0) * (1.0 / d0) ** 0.5)
        self.b = nn.Parameter(torch.zeros(int(cross), d0))
        self.dnn = mlp(d0, hidden, dropout, out=None)
        deep = as_tuple(hidden)[-1] if as_tuple(hidden) else 0
        self.out = nn.Linear(d0 + deep, 1)

    def interact(self, e):
        x0 = e.flatten(1)
        x = x0
        for w, b in zip(self.w, self.b):
            x = x0 * (x @ w).unsqueeze(-1) + b + x
        parts = [x, self.dnn(x0)] if len(self.dnn) else [x]
        return self.out(torch.cat(parts, 1)).squeeze(-1)
