"""NFM: He & Chua 2017, "Neural factorization machines for sparse predictive analytics".

r_hat = b + sum_f w_f + h^T MLP(BI(V)), with Bi-Interaction pooling
BI(V) = sum_{i<j} v_i * v_j = 0.5 * ((sum_f v_f)^2 - sum_f v_f^2) (element-wise), dropout on BI.
Reads/writes through l4r.models.rating.
"""
from __future__ import annotations

from torch import nn

from .rating import RatingModel, fm_pairs, mlp


class NFM(RatingModel):
    defaults = {"dim": 16, "hidden": "64", "dropout": 0.3, "bi_dropout": 0.3, "lr": 1e-3, "l2": 1e-4,
                "weight_decay": 0.0, "batch_size": 512, "epochs": 100, "init_std": 0.01}

    def __init__(self, enc, dim: int = 16, hidden="64", dropout: float = 0.3, bi_dropout: float = 0.3, **kw):
        super().__init__(enc, dim=dim, **kw)
        self.bi_drop = nn.Dropout(bi_dropout)
        self.dnn = mlp(dim, hidden, dropout)

    def interact(self, e):
        return self.dnn(self.bi_drop(fm_pairs(e))).squeeze(-1)
