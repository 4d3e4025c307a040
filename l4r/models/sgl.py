"""SGL: Wu et al. 2021, "Self-supervised Graph Learning for Recommendation" (SIGIR 2021), the
edge-dropout (ED) variant on a LightGCN encoder (l4r.models.lightgcn).

Two views of the interaction graph each keep every edge with probability 1 - drop and are
renormalised (D^-1/2 A' D^-1/2). As in the paper's reference implementation the views are resampled
once per epoch (`start_epoch`, called by the trainer), which keeps a batch at three sparse
propagations and lets every batch of an epoch contrast the same pair of views. Loss:
BPR on the full graph + ssl_weight * (InfoNCE_users + InfoNCE_items) + reg * L2, where for the
batch's distinct nodes z' (view 1) and z'' (view 2), both L2-normalised,
InfoNCE = -mean_n log( exp(z'_n . z''_n / t) / sum_m exp(z'_n . z''_m / t) ), m over all nodes of
that type in view 2. Reads/writes no records itself: l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .lightgcn import LightGCN, norm_adj


def info_nce(a: torch.Tensor, b_all: torch.Tensor, index: torch.Tensor, temp: float) -> torch.Tensor:
    z1 = F.normalize(a[index], dim=-1)
    z2 = F.normalize(b_all, dim=-1)
    return F.cross_entropy(z1 @ z2.T / temp, index)


class SGL(LightGCN):
    defaults = {"dim": 64, "layers": 3, "reg": 1e-4, "ssl_weight": 0.05, "ssl_temp": 0.2, "drop": 0.1,
                "lr": 5e-3, "batch_size": 2048, "epochs": 300}

    def __init__(self, data, ssl_weight: float = 0.05, ssl_temp: float = 0.2, drop: float = 0.1, **hp):
        super().__init__(data, **hp)
        self.ssl_weight, self.ssl_temp, self.drop = ssl_weight, ssl_temp, drop
        self.start_epoch(np.random.default_rng(0))

    def dropped_view(self, rng: np.random.Generator) -> torch.Tensor:
        users, items = self.pairs
        keep = rng.random(len(users)) >= self.drop
        return norm_adj(self.n_users, self.n_items, users[keep], items[keep])

    def start_epoch(self, rng: np.random.Generator) -> None:
        """Resample the two edge-dropout views."""
        self.views = (self.dropped_view(rng), self.dropped_view(rng))

    def loss(self, users, pos, neg):
        neg = neg[:, 0]
        user_all, item_all = self.propagate()
        main = self.bpr(user_all[users], item_all[pos], item_all[neg]) + self.reg * self.ego_reg(users, pos, neg)
        (u1, i1), (u2, i2) = self.propagate(self.views[0]), self.propagate(self.views[1])
        ssl = info_nce(u1, u2, users.unique(), self.ssl_temp) + info_nce(i1, i2, pos.unique(), self.ssl_temp)
        return main + self.ssl_weight * ssl
