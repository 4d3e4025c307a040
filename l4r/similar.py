"""Similar users (paper 4.3.1, Eq. 4): the user whose backbone embedding has the highest cosine
similarity, sim(u, v) = e_u . e_v / (|e_u| |e_v|), v != u. Computed in chunks, so memory stays
O(chunk x users)."""
from __future__ import annotations

import numpy as np

from .io import read_jsonl


def most_similar(users: list[str], vectors: np.ndarray, chunk: int = 2048) -> dict[str, str]:
    unit = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    out = {}
    for start in range(0, len(users), chunk):
        sims = unit[start:start + chunk] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + start] = -np.inf
        best = sims.argmax(1)
        for r, b in enumerate(best):
            out[users[start + r]] = users[int(b)]
    return out


def load(path) -> dict[str, str]:
    recs = list(read_jsonl(path, "embedding"))
    if len(recs) < 2:
        return {}
    return most_similar([r["user"] for r in recs], np.array([r["vector"] for r in recs], dtype=np.float32))
