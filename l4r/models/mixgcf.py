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

    def hard_negatives(self, stack, user_e, pos_l, neg) -> torch.Tensor:
        """stack [N, K+1, d]; user_e [B, d] pooled; pos_l [B, K+1, d]; neg [B, M] candidate items
        -> the synthetic negative per layer [B, K+1, d]. The choice (argmax) is made without
        gradients; the gradient reaches only the chosen candidates, as with the reference gather."""
        b, hops = pos_l.shape[:2]
        alpha = torch.rand(b, hops, 1)                                        # per pair and layer
        with torch.no_grad():                      # u . (a p + (1 - a) n) = a u.p + (1 - a) u.n, per layer
            cand = stack[self.n_users:].index_select(0, neg.flatten()).view(b, -1, pos_l.shape[-1])
            neg_dot = (cand @ user_e[:, :, None]).view(b, -1, hops).transpose(1, 2)   # [B, K+1, M]
            pos_dot = pos_l @ user_e[:, :, None]                                        # [B, K+1, 1]
            pick = (alpha * pos_dot + (1 - alpha) * neg_dot).argmax(-1)                 # hop mixing
        chosen = neg.gather(1, pick)                                          # [B, K+1] item per layer
        return alpha * pos_l + (1 - alpha) * stack[self.n_users + chosen, torch.arange(hops)]

    def loss(self, users, pos, neg):
        stack = self.layer_stack()
        user_e = stack[users].mean(1)
        pos_l = stack[self.n_users + pos]
        neg_l = self.hard_negatives(stack, user_e, pos_l, neg)
        reg = (stack[users, 0].pow(2).sum() + pos_l[:, 0].pow(2).sum() + neg_l[:, 0].pow(2).sum()) / (2 * len(users))
        return self.bpr(user_e, pos_l.mean(1), neg_l.mean(1)) + self.reg * reg
