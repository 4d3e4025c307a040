"""LightGCN: He et al. 2020, "LightGCN: Simplifying and Powering Graph Convolution Network for
Recommendation" (SIGIR 2020).

Graph: the user-item bipartite graph A of the training interactions (TopKData.seqs), normalised
as A_hat = D^-1/2 A D^-1/2 and kept as a torch sparse tensor. Propagation E^(k+1) = A_hat E^(k),
final embedding e = mean_{k=0..K} E^(k), score y_ui = e_u . e_i. Loss: BPR,
-mean log sigmoid(y_ui - y_uj) + reg * (||e0_u||^2 + ||e0_i||^2 + ||e0_j||^2) / (2 B) on the
layer-0 embeddings of the batch. Reads/writes no records itself: l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def interaction_pairs(data) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (user, item) training pairs as two index arrays."""
    users = np.concatenate([np.full(len(s), u, dtype=np.int64) for u, s in enumerate(data.seqs)] + [np.zeros(0, np.int64)])
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in data.seqs] + [np.zeros(0, np.int64)])
    keys = np.unique(users * data.n_items + items)
    return keys // data.n_items, keys % data.n_items


def norm_adj(n_users: int, n_items: int, users: np.ndarray, items: np.ndarray) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the symmetric bipartite graph, nodes = users then items (sparse CSR)."""
    n = n_users + n_items
    rows = np.concatenate([users, items + n_users])
    cols = np.concatenate([items + n_users, users])
    deg = np.bincount(rows, minlength=n).astype(np.float64)
    inv = np.where(deg > 0, deg, 1.0) ** -0.5
    vals = torch.from_numpy((inv[rows] * inv[cols]).astype(np.float32))
    idx = torch.from_numpy(np.stack([rows, cols]))
    coo = torch.sparse_coo_tensor(idx, vals, (n, n), check_invariants=False).coalesce()
    with warnings.catch_warnings():                       # "CSR support is in beta"
        warnings.simplefilter("ignore")
        return coo.to_sparse_csr()


class SymSpMM(torch.autograd.Function):
    """adj @ x for a constant symmetric sparse adj; backward is adj @ grad (much faster than
    torch's generic sparse backward, which also differentiates the sparse values)."""

    @staticmethod
    def forward(ctx, adj, x):
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad):
        return None, ctx.adj @ grad


class LightGCN(nn.Module):
    family = "direct"
    defaults = {"dim": 64, "layers": 2, "reg": 1e-4, "lr": 1e-2, "batch_size": 2048, "epochs": 300}

    def __init__(self, data, dim: int = 64, layers: int = 2, reg: float = 1e-4, **_):
        super().__init__()
        self.n_users, self.n_items, self.n_layers, self.reg = data.n_users, data.n_items, layers, reg
        self.embedding = nn.Embedding(data.n_users + data.n_items, dim)
        nn.init.normal_(self.embedding.weight, std=0.1)
        self.pairs = interaction_pairs(data)
        self.adj = norm_adj(self.n_users, self.n_items, *self.pairs)
        self._cache = None

    def layer_stack(self, adj: torch.Tensor | None = None) -> torch.Tensor:
        """[n_users + n_items, K + 1, d]: the embeddings after 0..K propagation steps."""
        adj = self.adj if adj is None else adj
        out = [self.embedding.weight]
        for _ in range(self.n_layers):
            out.append(SymSpMM.apply(adj, out[-1]))
        return torch.stack(out, 1)

    def propagate(self, adj: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-mean user and item embeddings."""
        final = self.layer_stack(adj).mean(1)
        return final[:self.n_users], final[self.n_users:]

    def encoded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """propagate(), cached while gradients are off and the weights are unchanged."""
        if torch.is_grad_enabled():
            return self.propagate()
        weight = self.embedding.weight
        key = (weight.data_ptr(), weight._version)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.propagate())
        return self._cache[1]

    def ego_reg(self, users, pos, neg) -> torch.Tensor:
        w = self.embedding.weight
        u, i, j = w[users], w[self.n_users + pos], w[self.n_users + neg]
        return (u.pow(2).sum() + i.pow(2).sum() + j.pow(2).sum()) / (2 * len(users))

    def bpr(self, user_e, pos_e, neg_e) -> torch.Tensor:
        return -F.logsigmoid((user_e * pos_e).sum(-1) - (user_e * neg_e).sum(-1)).mean()

    def loss(self, users, pos, neg):
        user_all, item_all = self.propagate()
        neg = neg[:, 0]
        return self.bpr(user_all[users], item_all[pos], item_all[neg]) + self.reg * self.ego_reg(users, pos, neg)

    def score(self, users, seqs=None):
        user_all, item_all = self.encoded()
        return user_all[users] @ item_all.T

    def user_vectors(self, users, seqs=None):
        return self.encoded()[0][users]
