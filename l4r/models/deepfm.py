"""DeepFM: Guo et al. 2017, "DeepFM: a factorization-machine based neural network for CTR prediction".

r_hat = b + sum_f w_f + sum_{i<j} <v_i, v_j> + MLP([v_1; ...; v_F]): the FM and the deep part share
the field embeddings v_f. Reads/writes through l4r.models.rating (feature rows in, a rating out).
"""
from __future__ import annotations

from .rating import RatingModel, fm_pairs, mlp


class DeepFM(RatingModel):
    defaults = {"dim": 16, "hidden": "256,128", "dropout": 0.5, "lr": 1e-3, "l2": 1e-4, "weight_decay": 0.0,
                "batch_size": 512, "epochs": 100, "init_std": 0.01}

    def __init__(self, enc, dim: int = 16, hidden="256,128", dropout: float = 0.5, **kw):
        super().__init__(enc, dim=dim, **kw)
        self.dnn = mlp(self.n_fields * dim, hidden, dropout)

    def interact(self, e):
        return fm_pairs(e).sum(1) + self.dnn(e.flatten(1)).squeeze(-1)
