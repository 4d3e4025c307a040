"""Offline vLLM backend (CUDA GPU): `vllm.LLM` with prefix caching, greedy decoding.

Reads prompt texts (full Alpaca prompts from l4r.prompts.render) and returns Answer records; no files.
The model is a local folder, a hub id, or an embedded name resolved by l4r.backends.weights.resolve.
Prefix caching (`enable_prefix_caching=True`) lets the pointwise prompts of one user, which share
their history prefix, reuse its KV cache.

score(): one step with `SamplingParams(max_tokens=1, logprobs=20)` on prefix+suffix; the top-20
tokens equal to a choice (after strip) are summed per choice and normalised over the choices.
Where none of the 20 is a choice, the text is generated (`score_max_tokens`) and all mass goes on
the parsed choice, uniform when none is found (as the openai backend does). Limitation: a choice
of several tokens ("10" in LLaMA's tokenizer) is matched on its first token only here; the hf
backend scores it exactly.
"""
from __future__ import annotations

from ..errors import UsageError
from .base import Answer, Backend, best_choice
from .openai import parsed_distribution, top_distribution

TOP_LOGPROBS = 20


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

    def close(self) -> None:
        import gc

        self.llm = None
        gc.collect()
