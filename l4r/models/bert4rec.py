"""BERT4Rec: Sun et al. 2019, "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer" (CIKM 2019).

Bidirectional transformer (l4r.models.sasrec.SeqEncoder with causal=False, FFN width 4d) over
left-padded sequences. Cloze training: each item is replaced by the [mask] token (id n_items + 1)
with probability mask_prob (at least one per sequence). A share `prefix_prob` of the rows instead
becomes a random prefix of the sequence (its first c items, c uniform in 1..length) with only its
last item masked: the next-item task the model is scored on, at every position of the history (the
paper masks the last item of whole sequences; RecBole's ft_ratio does this on every prefix, as its
sequential data holds one row per prefix). `dupe` draws that many independent rows from every
sequence per batch (the paper's dupe factor). Loss: cross-entropy over
all items at the masked positions, output layer tied to the item embeddings plus a bias.
Scoring drops the oldest position, appends [mask] at the end and ranks by its hidden state, which
is also the user vector. Reads/writes no records itself: l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .sasrec import SeqEncoder


class BERT4Rec(nn.Module):
    family = "sequential"
    defaults = {"dim": 64, "layers": 2, "heads": 2, "dropout": 0.2, "mask_prob": 0.2, "prefix_prob": 0.5,
                "dupe": 1, "max_len": 200, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 400}

    def __init__(self, data, dim: int = 64, layers: int = 2, heads: int = 2, dropout: float = 0.2,
                 mask_prob: float = 0.2, prefix_prob: float = 0.5, dupe: int = 1, max_len: int = 200, **_):
        super().__init__()
        self.n_items, self.mask_prob, self.prefix_prob, self.dupe = data.n_items, mask_prob, prefix_prob, dupe
        self.mask_id = data.n_items + 1
        self.encoder = SeqEncoder(data.n_items + 2, max_len, dim, layers, heads, 4 * dim, dropout, causal=False)
        self.bias = nn.Parameter(torch.zeros(data.n_items))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return hidden @ self.encoder.item.weight[1:self.n_items + 1].T + self.bias

    def prefixes(self, seqs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows drawn for the next-item task become a random prefix, re-left-padded; returns
        (sequences, which rows)."""
        lengths = (seqs > 0).sum(1)
        chosen = (torch.rand(len(seqs)) < self.prefix_prob) & (lengths > 0)
        keep = (torch.rand(len(seqs)) * lengths).long() + 1                 # c in 1..length
        shift = torch.where(chosen, lengths - keep, 0)
        idx = torch.arange(seqs.shape[1])[None, :] - shift[:, None]
        return seqs.gather(1, idx.clamp(min=0)) * (idx >= 0), chosen

    def cloze(self, seqs: torch.Tensor, last_only: torch.Tensor) -> torch.Tensor:
        """Boolean [B, L]: the positions to mask (only the last one in `last_only` rows)."""
        valid = seqs > 0
        masked = (torch.rand(seqs.shape) < self.mask_prob) & valid
        masked[last_only] = False
        none = ~masked.any(1)
        masked[:, -1] |= none & valid[:, -1]
        return masked

    def loss(self, users, seqs):
        seqs, last_only = self.prefixes(seqs.repeat(self.dupe, 1))
        masked = self.cloze(seqs, last_only)
        hidden = self.encoder(seqs.masked_fill(masked, self.mask_id))
        return F.cross_entropy(self.logits(hidden[masked]), seqs[masked] - 1)

    def user_vectors(self, users, seqs):
        probe = torch.cat([seqs[:, 1:], torch.full((len(seqs), 1), self.mask_id, dtype=seqs.dtype)], 1)
        return self.encoder(probe)[:, -1]

    def score(self, users, seqs):
        return self.logits(self.user_vectors(users, seqs))
