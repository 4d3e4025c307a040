"""llm: answer prompt records with an LLM (transformers, vLLM, or an OpenAI-compatible endpoint).

Reads: prompt records. Writes: completion records (same ids, input order) and OUT.stats.json.
By default the candidates' labels are ranked by the LLM's own next-token probabilities (one
forward pass a prompt), ratings are scored over the dataset's scale, and `--answer titles`
generates and parses; a run resumes from OUT.partial. The work lives in l4r.answering, which
`l4r augment` uses too.
"""
from __future__ import annotations

from ..answering import Options, run

__all__ = ["Options", "run"]
