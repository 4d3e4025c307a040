"""The interface every LLM engine implements.

A backend turns prompt texts into answers. It knows nothing of recommendation: the llm stage
renders prompt records to text (l4r.prompts.render), batches, resumes, and parses answers.

- generate(texts, max_new_tokens) -> list[Answer]: greedy decoding, one answer per text.
- score(prefixes, suffixes, choices) -> list[list[float]]: for each (prefix, suffix) pair, the
  probability of each choice string as the first answer token after prefix+suffix (e.g. the
  ratings "1".."5"); pairs sharing a prefix may reuse its computation. Backends that cannot
  see probabilities may generate and put all mass on the parsed choice.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Answer:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extra: dict = field(default_factory=dict)


class Backend:
    name = "base"
    model = ""

    def generate(self, texts: list[str], max_new_tokens: int) -> list[Answer]:
        raise NotImplementedError

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[list[float]]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
