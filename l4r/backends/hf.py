"""transformers engine: batched greedy decoding with the KV cache on CPU or GPU, and one-pass
scoring of answer tokens with the shared prompt prefix computed once per group.

Loads the embedded SmolLM2 (`smollm2`), a local folder, or a hub id (l4r.llm_models.resolve).
"""
from __future__ import annotations

import copy
import time

from ..io import log
from ..llm_models import resolve
from .base import Answer, Backend


class HFBackend(Backend):
    name = "hf"

    def __init__(self, model: str = "smollm2", device: str | None = None, dtype: str | None = None, **_):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if self.device == "cuda" else torch.float32)
        path = resolve(model)
        t0 = time.time()
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device).eval()
        self.model_name = model
        log(f"llm: loaded {model} on {self.device} ({time.time() - t0:.1f}s)")

    def generate(self, texts: list[str], max_new_tokens: int) -> list[Answer]:
        torch = self.torch
        enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tok.pad_token_id, eos_token_id=self.tok.eos_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        answers = []
        for row, mask in zip(new, enc["attention_mask"]):
            n_new = int((row != self.tok.pad_token_id).sum()) if self.tok.pad_token_id != self.tok.eos_token_id \
                else len(row)
            answers.append(Answer(self.tok.decode(row, skip_special_tokens=True).strip(), int(mask.sum()), n_new))
        return answers

    def choice_ids(self, choices: list[str]) -> list[list[int]]:
        """Token ids that start each choice (with and without a leading space)."""
        ids = []
        for c in choices:
            variants = {self.tok.encode(v, add_special_tokens=False)[0] for v in (c, " " + c)}
            ids.append(sorted(variants))
        return ids

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[list[float]]:
        """P(choice | prefix + suffix) over `choices`, renormalised; one prefix pass per distinct prefix."""
        ids = self.choice_ids(choices)
        out: list[list[float] | None] = [None] * len(prefixes)
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prefixes):
            groups.setdefault(p, []).append(i)
        for prefix, rows in groups.items():
            probs = self._score_group(prefix, [suffixes[i] for i in rows], ids)
            for i, p in zip(rows, probs):
                out[i] = p
        return out

    def _score_group(self, prefix: str, suffixes: list[str], ids: list[list[int]]) -> list[list[float]]:
        torch = self.torch
        pre = self.tok(prefix, return_tensors="pt", add_special_tokens=False)["input_ids"].to(self.device)
        with torch.no_grad():
            cache = self.model(pre, use_cache=True).past_key_values
        n_pre = pre.shape[1]
        self.tok.padding_side = "right"
        enc = self.tok(suffixes, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        self.tok.padding_side = "left"
        n = len(suffixes)
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(n)
        mask = torch.cat([torch.ones(n, n_pre, dtype=enc["attention_mask"].dtype, device=self.device),
                          enc["attention_mask"]], dim=1)
        pos = (n_pre + torch.arange(enc["input_ids"].shape[1], device=self.device)).expand(n, -1)
        with torch.no_grad():
            logits = self.model(input_ids=enc["input_ids"], attention_mask=mask, position_ids=pos,
                                past_key_values=batch_cache, use_cache=True).logits
        last = enc["attention_mask"].sum(1) - 1
        p = logits[torch.arange(n), last].float().softmax(-1)
        mass = torch.stack([p[:, c].sum(-1) for c in ids], dim=1)
        return (mass / mass.sum(1, keepdim=True).clamp_min(1e-12)).tolist()
