"""The interface every LLM engine implements.

A backend turns prompt texts into answers. It knows nothing of recommendation: the llm stage
renders prompt records to text (l4r.prompts.render), batches, resumes, and parses answers.

- generate(texts, max_new_tokens, each=None) -> list[Answer]: greedy decoding, one answer per
  text; engines that answer texts one by one (openai) call `each(i, answer)` as each arrives, so
  the caller can save it at once.
- score(prefixes, suffixes, choices) -> list[Answer]: for each (prefix, suffix) pair, the
  probability that the answer after prefix+suffix is each choice string (the labels "A".."J",
  the ratings "1".."10"), renormalised over the choices, in Answer.probs. A choice of several
  tokens has the product of its tokens' probabilities; a choice that begins another ("1" of
  "10") also needs the answer to stop there (the next token does not continue it). Pairs sharing
  a prefix may reuse its computation. Answer.text is the most likely choice; prompt_tokens counts
  the tokens read. Engines that see only the top-k log-probabilities say how they filled the rest
  in Answer.extra["score"].
- batch_sensitive: whether an answer depends on the other texts in its call (padding, kernels that
  round by shape). A resumed run then re-asks a partly answered batch whole, to write what an
  uninterrupted run writes; engines that answer each text alone are asked only what is missing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Answer:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict = field(default_factory=dict)
    probs: list[float] | None = None


def extends(choice: str, choices: list[str]) -> str:
    """The characters that, written right after `choice`, begin a longer choice ("0" for "1" of 1-10)."""
    return "".join(sorted({d[len(choice)] for d in choices if len(d) > len(choice) and d.startswith(choice)}))


def continuations(choices: list[str], first_chars) -> dict[str, list[int]]:
    """For each choice that begins a longer one ("1" of "10"): the ids of the vocabulary tokens that
    would continue it (their first character does). `first_chars()` gives each token's first
    character; it is called only when some choice begins another."""
    more = {c: extends(c, choices) for c in choices}
    if not any(more.values()):
        return {}
    chars = first_chars()
    return {c: [i for i, ch in enumerate(chars) if ch and ch in m] for c, m in more.items() if m}


def renormalise(logprobs: list[float]) -> list[float]:
    """Probabilities over the choices from their log-probabilities (a softmax)."""
    top = max(logprobs)
    mass = [math.exp(v - top) for v in logprobs]
    return [m / sum(mass) for m in mass]


def best_choice(choices: list[str], probs: list[float]) -> str:
    return choices[max(range(len(probs)), key=probs.__getitem__)]


class Backend:
    name = "base"
    model = ""
    batch_sensitive = False

    def generate(self, texts: list[str], max_new_tokens: int, each=None) -> list[Answer]:
        raise NotImplementedError

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[Answer]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
