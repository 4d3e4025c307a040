"""xDeepFM: Lian et al. 2018, "xDeepFM: combining explicit and implicit feature interactions for
recommender systems".

Compressed Interaction Network: X^k_h = sum_{i,j} W^{k,h}_{ij} (X^{k-1}_i * X^0_j) (element-wise over
the embedding dimension), ReLU; with split_half, half of each layer's maps feed the next layer and
half are sum-pooled over the embedding dimension into p+. r_hat = b + sum_f w_f + w^T p+ + MLP(x_0).
Reads/writes through l4r.models.rating.
"""
from __future__ import annotations

import torch
from torch import nn

from .rating import RatingModel, as_tuple, mlp


class XDeepFM(RatingModel):
    defaults = {"dim": 16, "cin": "64,64", "hidden": "256,128", "dropout": 0.5, "lr": 1e-3, "l2": 1e-4,
                "weight_decay": 0.0, "batch_size": 512, "epochs": 100, "init_std": 0.01}

    def __init__(self, enc, dim: int = 16, cin="64,64", hidden="256,128", dropout: float = 0.5, **kw):
        super().__init__(enc, dim=dim, **kw)
        sizes = as_tuple(cin)
        self.convs, self.keep = nn.ModuleList(), []
        prev, pooled = self.n_fields, 0
        for k, h in enumerate(sizes):
            self.convs.append(nn.Conv1d(prev * self.n_fields, h, 1))
            last = k == len(sizes) - 1
            keep = h if last else h // 2
            self.keep.append(keep)
            pooled += keep
            prev = h - keep if not last else h
        self.cin_out = nn.Linear(pooled, 1) if pooled else None
        self.dnn = mlp(self.n_fields * dim, hidden, dropout) if as_tuple(hidden) else None

    def cin(self, e):
        x0, x, pooled = e, e, []
        b, m, d = e.shape
        for conv, keep in zip(self.convs, self.keep):
            z = torch.einsum("bhd,bmd->bhmd", x, x0).reshape(b, -1, d)
            h = torch.relu(conv(z))                           # [B, H_k, d]
            pooled.append(h[:, :keep].sum(-1))
            x = h[:, keep:]
        return self.cin_out(torch.cat(pooled, 1)).squeeze(-1)

    def interact(self, e):
        out = self.cin(e) if self.cin_out is not None else 0.0
        if self.dnn is not None:
            out = out + self.dnn(e.flatten(1)).squeeze(-1)
        return out
