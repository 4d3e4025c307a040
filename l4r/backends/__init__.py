"""LLM engines behind one small interface (l4r.backends.base.Backend).

`get(name, **options)` builds one: hf (transformers, CPU or GPU), vllm (GPU), openai
(any OpenAI-compatible chat endpoint). Engines are imported lazily.
"""
from __future__ import annotations

from ..errors import UsageError

BACKENDS = {
    "hf": ("l4r.backends.hf", "HFBackend"),
    "vllm": ("l4r.backends.vllm", "VLLMBackend"),
    "openai": ("l4r.backends.openai", "OpenAIBackend"),
}


def get(name: str, **options):
    import importlib

    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    module, cls = BACKENDS[name]
    return getattr(importlib.import_module(module), cls)(**options)
