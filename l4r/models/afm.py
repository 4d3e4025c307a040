"""AFM: Xiao et al. 2017, "Attentional factorization machines: learning the weight of feature
interactions via attention networks".

r_hat = b + sum_f w_f + p^T sum_{i<j} a_ij (v_i * v_j), with attention
a_ij = softmax_ij(h^T ReLU(W (v_i * v_j) + c)) and dropout on the pooled interactions.
Reads/writes through l4r.models.rating.
"""
from __future__ import annotations

import torch
from torch import nn

from .rating import RatingModel


class AFM(RatingModel):
    defaults = {"dim": 16, "att": 16, "dropout": 0.3, "lr": 3e-3, "l2": 1e-4, "weight_decay": 0.0,
                "batch_size": 512, "epochs": 100, "init_std": 0.01}

    def __init__(self, enc, dim: int = 16, att: int = 16, dropout: float = 0.3, **kw):
        super().__init__(enc, dim=dim, **kw)
        rows, cols = torch.triu_indices(self.n_fields, self.n_fields, offset=1)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)
        self.att = nn.Sequential(nn.Linear(dim, int(att)), nn.ReLU(), nn.Linear(int(att), 1, bias=False))
        self.drop = nn.Dropout(dropout)
        self.p = nn.Linear(dim, 1, bias=False)

    def interact(self, e):
        pairs = e[:, self.rows] * e[:, self.cols]                # [B, P, d]
        a = torch.softmax(self.att(pairs), dim=1)                # [B, P, 1]
        return self.p(self.drop((a * pairs).sum(1))).squeeze(-1)
