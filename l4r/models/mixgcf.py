"""MixGCF: Huang et al. 2021, "MixGCF: An Improved Training Method for Graph Neural Network-based
Recommender Systems" (KDD 2021), on a LightGCN encoder (l4r.models.lightgcn).

For each (u, i+) the trainer supplies `n_neg` uniform negative candidates. Hard negatives are
synthesised per layer l: positive mixing e'_j^(l) = a^(l) e_i+^(l) + (1 - a^(l)) e_j^(l) with
a^(l) ~ U(0, 1) drawn per (pair, layer); hop mixing picks, at each layer, the mixed candidate with
the largest inner product with the pooled user embedding, and the synthetic negative is the layer
mean of the picks. Loss: BPR against it + reg on the layer-0 embeddings of u, i+ and the synthetic
negative (as in the reference code).
Reads/writes no records itself: l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import torch

from .lightgcn import LightGCN


class MixGCF(LightGCN):
    defaults = {"dim": 64, "layers": 3, "reg": 1e-4, "n_neg": 16, "lr": 5e-3, "batch_size": 2048, "epochs": 300}
    n_neg = 16

    def __init__(self, data, n_neg: int = 16, **hp):
        super().__init__(data, **hp)
        self.n_neg = n_neg

    def hard_negatives(self, user_e, pos_l, neg_l) -> torch.Tensor:
        """user_e [B, d] pooled; pos_l [B, K+1, d]; neg_l [B, M, K+1, d] -> synthetic negative [B, K+1, d]."""
        alpha = torch.rand(pos_l.shape[0], 1, pos_l.shape[1], 1)
        mixed = alpha * pos_l[:, None] + (1 - alpha) * neg_l                  # positive mixing
        scores = (user_e[:, None, None, :] * mixed).sum(-1)                   # [B, M, K+1]
        pick = scores.argmax(1).detach()                                      # hop mixing
        index = pick[:, None, :, None].expand(-1, 1, -1, mixed.shape[-1])
        return mixed.gather(1, index).squeeze(1)

    def loss(self, users, pos, neg):
        stack = self.layer_stack()
        user_e = stack[users].mean(1)
        pos_l, neg_l = stack[self.n_users + pos], stack[self.n_users + neg]
        neg_l = self.hard_negatives(user_e, pos_l, neg_l)
        reg = (stack[users, 0].pow(2).sum() + pos_l[:, 0].pow(2).sum() + neg_l[:, 0].pow(2).sum()) / (2 * len(users))
        return self.bpr(user_e, pos_l.mean(1), neg_l.mean(1)) + self.reg * reg
