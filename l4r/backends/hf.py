"""transformers engine: batched greedy decoding with the KV cache on CPU or GPU, and exact scoring
of answer choices in one batched forward pass (the shared prompt prefix computed once per group).

Scoring reads the next-token log-probabilities after the prompt. A choice of one token (the
labels A..Z, the digits of 1-5) needs nothing more; a choice of several tokens ("10" is "1","0"
in SmolLM2 and LLaMA) also needs the distribution after each of its token prefixes, read from the
same row: the prompt is followed by the choice's tokens and the logits are kept at each of those
positions (causal attention: what follows a position does not change it). A choice that begins
another ("1" of "10") multiplies by the probability that the next token does not continue it. So a
1-10 scale is scored exactly with one row of the prompt plus one token (one row per prompt and
branch of the choices' token tree: "10" and "20" starting with different tokens would take two).

Weights load in bfloat16 on CUDA and on CPUs with AMX-BF16 or AVX512-BF16 (`dtype="auto"`), else float32.
Supports transformers 4.50 to 5.x: the cache argument is `cache` (5.x) or `past_key_values`.
Loads the embedded SmolLM2 (`smollm2`), a local folder, or a hub id (l4r.backends.weights.resolve).
"""
from __future__ import annotations

import inspect
import math
import time

from ..io import log
from .weights import resolve
from .base import Answer, Backend, best_choice, continuations, renormalise


def cpu_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (Intel AMX-BF16, or AVX512-BF16 on Intel
    and AMD): there bf16 matmuls run 4-7x faster than fp32 (measured in docs/benchmarks.md)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            return any(line.startswith("flags") and {"amx_bf16", "avx512_bf16"} & set(line.split()) for line in fh)
    except OSError:
        return False


def pick_dtype(dtype: str, device: str) -> str:
    """auto: bfloat16 on CUDA and on CPUs with bf16 matrix instructions (cpu_bf16), else float32."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if device.startswith("cuda") or cpu_bf16() else "float32"


class HFBackend(Backend):
    name = "hf"
    batch_sensitive = True      # left padding and bf16 kernels: a prompt's numbers move with its batch

    def __init__(self, model: str = "smollm2", device: str | None = None, dtype: str = "auto", **_):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = getattr(torch, pick_dtype(dtype, self.device))
        path = resolve(model)
        t0 = time.time()
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device).eval()
        params = inspect.signature(self.model.forward).parameters
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        self.model_name = model
        self._plans: dict[tuple, dict] = {}
        self._first_chars: list[str] | None = None
        log(f"llm: loaded {model} on {self.device} in {str(torch_dtype).removeprefix('torch.')} "
            f"({time.time() - t0:.1f}s)")

    def generate(self, texts: list[str], max_new_tokens: int, each=None) -> list[Answer]:
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

    # -- scoring ---------------------------------------------------------------------------------

    def plan(self, choices: list[str]) -> dict:
        """Token ids of each choice; the token prefixes whose next-token distribution is needed (()
        is the prompt itself), each read (`read`) from a row that appends one of the `leaves` (the
        longest prefixes) at its distance from that row's end; and for choices that begin another, the
        ids that continue them."""
        key = tuple(choices)
        if key not in self._plans:
            ids = [tuple(self.tok.encode(c, add_special_tokens=False)) for c in choices]
            stops = continuations(choices, self.first_chars)
            contexts = {()}
            for c, t in zip(choices, ids):
                contexts.update(t[:j] for j in range(1, len(t)))
                if c in stops:
                    contexts.add(t)
            contexts = sorted(contexts, key=lambda x: (len(x), x))
            leaves = [c for c in contexts if not any(len(o) > len(c) and o[:len(c)] == c for o in contexts)]
            read = {}
            for c in contexts:    # the row (leaf) that passes through c, and how far c is from its end
                leaf = next(i for i, lf in enumerate(leaves) if lf[:len(c)] == c)
                read[c] = (leaf, len(leaves[leaf]) - len(c))
            self._plans[key] = {"ids": ids, "leaves": leaves, "read": read,
                                "keep": 1 + max(len(lf) for lf in leaves), "stops": stops}
        return self._plans[key]

    def first_chars(self) -> list[str]:
        """The first character each vocabulary token writes (once per backend)."""
        if self._first_chars is None:
            self._first_chars = [self.tok.decode([i])[:1] for i in range(len(self.tok))]
        return self._first_chars

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[Answer]:
        """Answer.probs over `choices` for each prefix+suffix; one cached prefix pass per shared prefix."""
        plan = self.plan(choices)
        out: list[Answer | None] = [None] * len(prefixes)
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prefixes):
            groups.setdefault(p, []).append(i)
        singles = [i for rows in groups.values() if len(rows) == 1 for i in rows]
        batches = [("", singles, [prefixes[i] + suffixes[i] for i in singles])] if singles else []
        batches += [(p, rows, [suffixes[i] for i in rows]) for p, rows in groups.items() if len(rows) > 1]
        for prefix, rows, texts in batches:
            for i, ans in zip(rows, self._score_group(prefix, texts, choices, plan)):
                out[i] = ans
        return out

    def _score_group(self, prefix: str, texts: list[str], choices, plan) -> list[Answer]:
        """`texts` continuing `prefix` (computed once; "" for none), in one batch of rows: each text
        plus each leaf of the choices' token tree, read at every position a choice needs."""
        pre = self.tok.encode(prefix, add_special_tokens=False) if prefix else []
        enc = [self.tok.encode(t, add_special_tokens=False) for t in texts]
        rows = [ids + list(leaf) for ids in enc for leaf in plan["leaves"]]
        logprobs = self._last_logprobs(pre, rows, plan["keep"])
        return self._answers(logprobs, [len(pre) + len(e) for e in enc], choices, plan)

    def _answers(self, logprobs, n_tokens, choices, plan) -> list[Answer]:
        per, last = len(plan["leaves"]), plan["keep"] - 1
        answers = []
        for r, n in enumerate(n_tokens):
            lp = {ctx: logprobs[r * per + leaf, last - back] for ctx, (leaf, back) in plan["read"].items()}
            probs = renormalise([self._choice_logprob(lp, c, t, plan) for c, t in zip(choices, plan["ids"])])
            answers.append(Answer(best_choice(choices, probs), n, 0, {"score": "exact"}, probs))
        return answers

    def _choice_logprob(self, lp, choice, ids, plan) -> float:
        total = sum(float(lp[ids[:j]][ids[j]]) for j in range(len(ids)))
        stop = plan["stops"].get(choice)
        if stop:
            cont = float(lp[ids][stop].exp().sum())
            total += math.log(max(1.0 - cont, 1e-30))
        return total

    def _last_logprobs(self, prefix_ids: list[int], rows: list[list[int]], keep: int = 1):
        """Log-softmax of the next token at each row's last `keep` positions, shape (rows, keep, vocab);
        rows continue `prefix_ids` (computed once) and are left-padded, so they end together."""
        torch = self.torch
        width = max(len(r) for r in rows)
        pad = self.tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
        n_pre = len(prefix_ids)
        pos = (n_pre + mask.cumsum(1) - 1).clamp_min(0)
        kwargs = {}
        if n_pre:
            with torch.no_grad():
                pre = torch.tensor([prefix_ids], device=self.device)
                cache = self.model(input_ids=pre, use_cache=True)
            cache = getattr(cache, "cache", None) or cache.past_key_values
            cache.batch_repeat_interleave(len(rows))
            kwargs[self.cache_arg] = cache
            mask = torch.cat([torch.ones(len(rows), n_pre, dtype=mask.dtype, device=self.device), mask], dim=1)
        with torch.no_grad():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=bool(n_pre),
                                logits_to_keep=keep, **kwargs).logits[:, -keep:]
        return logits.float().log_softmax(-1).cpu()
