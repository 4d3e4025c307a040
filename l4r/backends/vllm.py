"""Offline vLLM backend (CUDA GPU): `vllm.LLM` with prefix caching, greedy decoding.

Reads prompt texts (full Alpaca prompts from l4r.prompts.render) and returns Answer records; no files.
The model is a local folder, a hub id, or an embedded name resolved by l4r.backends.weights.resolve.
Prefix caching (`enable_prefix_caching=True`) lets the pointwise prompts of one user, which share
their history prefix, reuse its KV cache.

score(): where every choice is one token (the labels "A".."J", ratings 1-5), one step with
`SamplingParams(max_tokens=1, logprobs=20)` on prefix+suffix; the top-20 tokens equal to a choice
(after strip) are summed per choice and normalised over the choices. Where none of the 20 is a
choice, the text is generated (`score_max_tokens`) and all mass goes on the parsed choice, uniform
when none is found (as the openai backend does). Where a choice has several tokens ("10" in
LLaMA's and SmolLM2's tokenizers, which write each digit alone), the text is followed by each
choice's tokens (one request per longest choice, `prompt_logprobs`): vLLM returns each prompt
token's own log-probability beside the top k, so every choice's probability is exact, and the
chance that a choice which begins another stops there ("1", not "10") is one minus the mass of
the continuing tokens seen (exact where each continuing character is one token, as there; the hf
backend reads the whole vocabulary). Not yet run on a GPU: `exact_distribution` is tested against
the hf backend on CPU, the vLLM call in tests/test_backend_vllm.py where vllm and CUDA are present.
"""
from __future__ import annotations

import math

from ..errors import UsageError
from .base import Answer, Backend, best_choice, continuations, renormalise
from .openai import parsed_distribution, top_distribution

TOP_LOGPROBS = 20


def choice_rows(choices: list[str], encode, first_chars) -> dict:
    """Each choice's token ids; the rows to append to a text (the longest: every choice is a row or
    begins one); for a choice that begins another ("1" of "10"), the ids of tokens that continue it."""
    ids = [tuple(encode(c)) for c in choices]
    rows = sorted({t for t in ids if not any(len(o) > len(t) and o[:len(t)] == t for o in ids)})
    return {"choices": choices, "ids": ids, "rows": rows, "stops": continuations(choices, first_chars)}


def read_rows(outputs, n_text: int, rows: list[tuple]) -> dict[tuple, dict[int, float]]:
    """{token prefix of a choice: {token id: log-probability of the next token}} from one text's
    requests (text + row each): the prompt logprobs along each row, and the generated step after it."""
    seen: dict[tuple, dict[int, float]] = {}
    for out, row in zip(outputs, rows, strict=True):
        steps = [out.prompt_logprobs[n_text + k] for k in range(len(row))] + [(out.outputs[0].logprobs or [{}])[0]]
        for k, step in enumerate(steps):
            into = seen.setdefault(row[:k], {})
            for token, lp in (step or {}).items():
                into.setdefault(token, lp.logprob)
    return seen


def exact_distribution(plan: dict, seen: dict[tuple, dict[int, float]]) -> list[float]:
    """P(choice) renormalised over the choices: the sum of a choice's token log-probabilities (each
    read where its row passes), plus, for a choice that begins another, log(1 - the mass seen of
    the tokens that would continue it)."""
    scores = []
    for choice, ids in zip(plan["choices"], plan["ids"]):
        total = sum(seen[ids[:j]][ids[j]] for j in range(len(ids)))
        stop = plan["stops"].get(choice)
        if stop:
            after = seen.get(ids, {})
            cont = sum(math.exp(after[t]) for t in stop if t in after)
            total += math.log(max(1.0 - cont, 1e-30))
        scores.append(total)
    return renormalise(scores)


class VLLMBackend(Backend):
    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, max_model_len: int = 4096,
                 gpu_memory_utilization: float = 0.9, seed: int = 0, dtype: str = "auto",
                 score_max_tokens: int = 16, **_):
        try:
            import vllm
        except ImportError:
            raise UsageError("the vllm backend needs `pip install l4r[vllm]` (CUDA GPU)") from None
        from .weights import resolve

        self.model, self.seed, self.score_max_tokens = model, seed, score_max_tokens
        self._vllm = vllm
        self.llm = vllm.LLM(model=resolve(model), tensor_parallel_size=tensor_parallel_size,
                            max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization,
                            seed=seed, dtype=dtype, enable_prefix_caching=True)
        self._plans: dict[tuple, dict] = {}

    def _run(self, texts: list[str], **params):
        sampling = self._vllm.SamplingParams(temperature=0, seed=self.seed, **params)
        return self.llm.generate(texts, sampling, use_tqdm=False)

    def generate(self, texts: list[str], max_new_tokens: int, each=None) -> list[Answer]:
        if not texts:
            return []
        answers = []
        for out in self._run(texts, max_tokens=max_new_tokens):
            gen = out.outputs[0]
            answers.append(Answer(gen.text, len(out.prompt_token_ids or []), len(gen.token_ids),
                                  {"finish_reason": gen.finish_reason}))
        return answers

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[Answer]:
        texts = [p + s for p, s in zip(prefixes, suffixes, strict=True)]
        if not texts:
            return []
        plan = self.plan(choices)
        if plan["stops"] or any(len(t) > 1 for t in plan["ids"]):
            return self._score_exact(texts, plan)
        answers = []
        for out in self._run(texts, max_tokens=1, logprobs=TOP_LOGPROBS):
            step = (out.outputs[0].logprobs or [{}])[0]
            dist = top_distribution([(lp.decoded_token or "", lp.logprob) for lp in step.values()], choices)
            answers.append(Answer("", len(out.prompt_token_ids or []), 0, {"score": "top-logprobs"}, dist))
        todo = [i for i, a in enumerate(answers) if a.probs is None]
        if todo:
            for i, gen in zip(todo, self.generate([texts[i] for i in todo], self.score_max_tokens)):
                answers[i].probs = parsed_distribution(gen.text, choices)
                answers[i].extra["score"] = "parsed"
        for a in answers:
            a.text = best_choice(choices, a.probs)
        return answers

    def plan(self, choices: list[str]) -> dict:
        key = tuple(choices)
        if key not in self._plans:
            tok = self.llm.get_tokenizer()

            def first_chars():
                return [tok.decode([i])[:1] for i in range(len(tok))]

            self._plans[key] = choice_rows(choices, lambda c: tok.encode(c, add_special_tokens=False), first_chars)
        return self._plans[key]

    def _score_exact(self, texts: list[str], plan: dict) -> list[Answer]:
        """Choices of several tokens: each text followed by each row, its prompt logprobs read."""
        tok, rows = self.llm.get_tokenizer(), plan["rows"]
        encoded = [tok.encode(t) for t in texts]        # as vLLM encodes a text prompt (special tokens too)
        requests = [{"prompt_token_ids": ids + list(row)} for ids in encoded for row in rows]
        outputs = self._run(requests, max_tokens=1, logprobs=TOP_LOGPROBS, prompt_logprobs=TOP_LOGPROBS)
        answers = []
        for k, ids in enumerate(encoded):
            seen = read_rows(outputs[k * len(rows):(k + 1) * len(rows)], len(ids), rows)
            probs = exact_distribution(plan, seen)
            answers.append(Answer(best_choice(plan["choices"], probs), len(ids), 0, {"score": "exact"}, probs))
        return answers

    def close(self) -> None:
        import gc

        self.llm = None
        gc.collect()
