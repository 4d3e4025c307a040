"""MF with BPR: Koren et al. 2009 (matrix factorisation), trained with Bayesian Personalized
Ranking (Rendle et al. 2009): L = -sum log sigmoid(y_ui - y_uj) + lambda * ||params of the batch||^2,
with y_ui = e_u . e_i (+ b_i, an optional item bias, `bias=1`). Embeddings start from N(0, 0.1^2)
(`init=normal`) or Glorot/Xavier-normal (`init=xavier`, std sqrt(2 / (rows + dim)), RecBole's choice).
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import UsageError


class MF(nn.Module):
    family = "direct"
    defaults = {"dim": 64, "reg": 1e-4, "lr": 3e-3, "batch_size": 2048, "epochs": 200, "init": "xavier"}

    def __init__(self, data, dim: int = 64, reg: float = 1e-4, bias: int = 0, init: str = "xavier", **_):
        super().__init__()
        if init not in ("normal", "xavier"):
            raise UsageError(f"--hp init takes normal or xavier, got {init!r}")
        self.reg, self.use_bias = reg, bool(bias)
        self.user = nn.Embedding(data.n_users, dim)
        self.item = nn.Embedding(data.n_items, dim)
        self.bias = nn.Embedding(data.n_items, 1)
        nn.init.zeros_(self.bias.weight)
        self.bias.weight.requires_grad_(self.use_bias)
        for table in (self.user, self.item):
            if init == "xavier":
                nn.init.xavier_normal_(table.weight)
            else:
                nn.init.normal_(table.weight, std=0.1)

    def loss(self, users, pos, neg):
        u, i, j = self.user(users), self.item(pos), self.item(neg[:, 0])
        diff = (u * i).sum(-1) + self.bias(pos)[:, 0] - (u * j).sum(-1) - self.bias(neg[:, 0])[:, 0]
        reg = (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / len(users)
        return -torch.nn.functional.logsigmoid(diff).mean() + self.reg * reg

    def score(self, users, seqs=None):
        return self.user(users) @ self.item.weight.T + self.bias.weight.T

    def user_vectors(self, users, seqs=None):
        return self.user(users)
