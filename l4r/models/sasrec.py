"""SASRec: Kang & McAuley 2018, "Self-Attentive Sequential Recommendation" (ICDM 2018).

Input: left-padded sequences from l4r.models.topk.seq_batches (item index + 1, 0 = padding).
Encoder: item embedding * sqrt(d) + learned positional embedding, dropout, `layers` pre-LayerNorm
blocks (causal multi-head self-attention, point-wise feed-forward, residuals), final LayerNorm.
Positions are counted from the right end, so the most recent item always has the same position in
training and scoring. Loss: cross-entropy of the next item over all items at every position
(the paper uses one sampled negative with BCE; full softmax is the stronger common variant).
score = h_last . item embeddings; the user vector is the last hidden state h_last.
Reads/writes no records itself: l4r.models.topk trains and serves it.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-LN transformer block: x + MHA(LN(x)), then x + FFN(LN(x))."""

    def __init__(self, dim: int, heads: int, ff: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop(self.ff(self.ln2(x)))


class SeqEncoder(nn.Module):
    """Token ids [B, L] (0 = padding) -> hidden states [B, L, d]; causal or bidirectional. The item
    embedding is scaled by sqrt(d) (SASRec's code) unless `scale` is off (BERT4Rec: h0 = v + p)."""

    def __init__(self, n_tokens: int, max_len: int, dim: int, layers: int, heads: int, ff: int,
                 dropout: float, causal: bool, scale: bool = True):
        super().__init__()
        self.dim, self.max_len, self.causal = dim, max_len, causal
        self.scale = math.sqrt(dim) if scale else 1.0
        self.item = nn.Embedding(n_tokens, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ff, dropout) for _ in range(layers))
        self.ln = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        nn.init.normal_(self.item.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.02)
        with torch.no_grad():
            self.item.weight[0].zero_()

    def forward(self, seqs: torch.Tensor) -> torch.Tensor:
        seqs = seqs[:, -self.max_len:]
        n = seqs.shape[1]
        valid = seqs > 0
        positions = torch.arange(self.max_len - n, self.max_len)
        x = self.drop(self.item(seqs) * self.scale + self.pos(positions)) * valid[..., None]
        allowed = valid[:, None, None, :] | torch.eye(n, dtype=torch.bool)      # pads only see themselves
        if self.causal:
            allowed = allowed & torch.ones(n, n, dtype=torch.bool).tril()
        for block in self.blocks:
            x = block(x, allowed) * valid[..., None]
        return self.ln(x)


class SASRec(nn.Module):
    family = "sequential"
    defaults = {"dim": 64, "layers": 2, "heads": 1, "dropout": 0.2, "max_len": 200, "lr": 1e-3,
                "weight_decay": 0.0, "batch_size": 128, "epochs": 300}
    extra_tokens = 0                      # CL4SRec adds a [mask] token

    def __init__(self, data, dim: int = 64, layers: int = 2, heads: int = 1, dropout: float = 0.2,
                 max_len: int = 200, **_):
        super().__init__()
        self.n_items = data.n_items
        self.encoder = SeqEncoder(data.n_items + 1 + self.extra_tokens, max_len, dim, layers, heads, dim,
                                  dropout, causal=True)

    def item_weights(self) -> torch.Tensor:
        return self.encoder.item.weight[1:self.n_items + 1]

    def loss(self, users, seqs):
        inp, tgt = seqs[:, :-1], seqs[:, 1:]
        hidden = self.encoder(inp)
        keep = inp > 0
        logits = hidden[keep] @ self.item_weights().T
        return F.cross_entropy(logits, tgt[keep] - 1)

    def user_vectors(self, users, seqs):
        return self.encoder(seqs)[:, -1]

    def score(self, users, seqs):
        return self.user_vectors(users, seqs) @ self.item_weights().T
