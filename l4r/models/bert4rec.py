"""BERT4Rec: Sun et al. 2019, "BERT4Rec: Sequential Recommendation with Bidirectional Encoder
Representations from Transformer" (CIKM 2019).

Bidirectional transformer (l4r.models.sasrec.SeqEncoder with causal=False, FFN width 4d) over
left-padded windows of max_len items. Training rows: every user's whole history comes in
(`train_len`), and each row becomes a random prefix of it (the first c items, c uniform in
1..length; the window is that prefix's last max_len items), as RecBole's sequential data holds one
row per prefix. Cloze: each item of the window is replaced by the [mask] token (id n_items + 1) with
probability mask_prob (at least one per row); a share `last_prob` of the batches instead masks only
each window's last item, the next-item task the model is scored on (the paper's last-item masking;
RecBole's ft_ratio, also drawn per batch: mixed into a cloze batch, the one target of such a row
would weigh a tenth of the row's ten cloze targets in the mean loss). `dupe` draws that many rows
from every user per batch (the paper's dupe factor). Input h0 = item embedding + position embedding (unscaled, as in the paper). Output, the
paper's Eq. 8: P(v) = softmax(GELU(h W + b) E^T + b_out), a projection layer (with LayerNorm, as in
BERT's and RecBole's heads) before the item embeddings E tied from the input. Loss: cross-entropy
over all items at the masked positions. Scoring drops the oldest position, appends [mask] at the
end and ranks by its hidden state, which is also the user vector. Reads/writes no records itself:
l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .sasrec import SeqEncoder


class BERT4Rec(nn.Module):
    family = "sequential"
    defaults = {"dim": 64, "layers": 2, "heads": 2, "dropout": 0.2, "mask_prob": 0.2, "last_prob": 0.5,
                "dupe": 8, "max_len": 50, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 128, "epochs": 400}

    def __init__(self, data, dim: int = 64, layers: int = 2, heads: int = 2, dropout: float = 0.2,
                 mask_prob: float = 0.2, last_prob: float = 0.5, dupe: int = 8, max_len: int = 50, **_):
        super().__init__()
        self.n_items, self.mask_prob, self.last_prob, self.dupe = data.n_items, mask_prob, last_prob, dupe
        self.train_len = max([len(s) for s in getattr(data, "seqs", [])] + [max_len])   # whole histories
        self.mask_id = data.n_items + 1
        self.encoder = SeqEncoder(data.n_items + 2, max_len, dim, layers, heads, 4 * dim, dropout, causal=False,
                                  scale=False)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.LayerNorm(dim))
        self.bias = nn.Parameter(torch.zeros(data.n_items))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(hidden) @ self.encoder.item.weight[1:self.n_items + 1].T + self.bias

    def windows(self, seqs: torch.Tensor) -> torch.Tensor:
        """Each row -> the last max_len items of a random prefix of it (left-padded)."""
        width, lengths = seqs.shape[1], (seqs > 0).sum(1)
        cut = ((torch.rand(len(seqs)) * lengths).long() + 1).clamp(max=lengths.clamp(min=1))
        end = width - lengths + cut                                        # one past the prefix
        n = self.encoder.max_len
        idx = end[:, None] - n + torch.arange(n)[None, :]
        keep = (idx >= (width - lengths)[:, None]) & (idx < width)
        return seqs.gather(1, idx.clamp(0, width - 1)) * keep

    def cloze(self, seqs: torch.Tensor, last_only: torch.Tensor) -> torch.Tensor:
        """Boolean [B, L]: the positions to mask (only the last one in `last_only` rows)."""
        valid = seqs > 0
        masked = (torch.rand(seqs.shape) < self.mask_prob) & valid
        masked[last_only] = False
        none = ~masked.any(1)
        masked[:, -1] |= none & valid[:, -1]
        return masked

    def loss(self, users, seqs):
        seqs = self.windows(seqs.repeat(self.dupe, 1))
        masked = self.cloze(seqs, (torch.rand(()) < self.last_prob).expand(len(seqs)))
        hidden = self.encoder(seqs.masked_fill(masked, self.mask_id))
        return F.cross_entropy(self.logits(hidden[masked]), seqs[masked] - 1)

    def user_vectors(self, users, seqs):
        probe = torch.cat([seqs[:, 1:], torch.full((len(seqs), 1), self.mask_id, dtype=seqs.dtype)], 1)
        return self.encoder(probe)[:, -1]

    def score(self, users, seqs):
        return self.logits(self.user_vectors(users, seqs))
