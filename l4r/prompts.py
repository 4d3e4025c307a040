"""Prompt text: the Alpaca template (the paper fine-tunes following Alpaca) and answer parsing helpers.

`render(instruction, input)` is the text the LLM sees, for instruction tuning and inference alike;
the answer follows "### Response:".
"""
from __future__ import annotations

ALPACA = ("Below is an instruction that describes a task, paired with an input that provides further context. "
          "Write a response that appropriately completes the request.\n\n"
          "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")


def render(instruction: str, input: str) -> str:
    return ALPACA.format(instruction=instruction, input=input)


def render_prompt(rec: dict) -> tuple[str, str]:
    """(prefix, suffix) of a prompt record: the full text is prefix + suffix; pointwise prompts of
    one user share the prefix up to their `query` line; a `response` is written after "### Response:"
    for the model to continue."""
    head = ALPACA.split("{input}")[0].format(instruction=rec["instruction"])
    query = rec.get("query") or ""
    body = rec["input"] + ("\n" + query if query else "")
    full = head + body + ALPACA.split("{input}")[1] + (rec.get("response") or "")
    prefix = head + rec["input"]
    return prefix, full[len(prefix):]


# --- the recommendation prompts (paper Figure 2; P1 and P2 of 4.2) -------------------------------

def titles(ds, items) -> str:
    return "; ".join(ds.title(i) for i in items)


# --- labelled candidates: the LLM answers with a label, read from its next-token probabilities ----

ANSWERS = ("labels", "titles")


def labels(n: int) -> list[str]:
    """A..Z, then a..z, then AA, AB, ...: short, distinct and (the first 52) one token in common
    tokenizers; the llm stage scores a label that is several tokens by the sum of their log-probs."""
    single = [chr(65 + i) for i in range(26)] + [chr(97 + i) for i in range(26)]
    if n <= len(single):
        return single[:n]
    pairs = [a + b for a in single[:26] for b in single[:26]]
    return single + pairs[:n - len(single)]


def candidate_line(names: list[str], tags: list[str] | None) -> str:
    """The "Candidate Items" line: `A. title; B. title` (labels) or `title; title` (titles)."""
    if tags is None:
        return "Candidate Items: " + "; ".join(names)
    return "Candidate Items: " + "; ".join(f"{t}. {n}" for t, n in zip(tags, names, strict=True))


def rated(ds, events) -> str:
    return "; ".join(f"{ds.title(e['item'])}: {fmt_rating(e.get('rating'))}" for e in events)


def fmt_rating(r) -> str:
    if r is None:
        return "?"
    return str(int(r)) if float(r).is_integer() else f"{r:.1f}"


class Templates:
    """Builds (instruction, input, query) for each task from a Dataset and optional augmentation:
    `similar` maps user -> most similar user; the conventional model's prediction is passed per call."""

    def __init__(self, ds, similar: dict[str, str] | None = None, history: int = 10, scale=(1, 5),
                 answer: str = "labels"):
        self.ds, self.similar, self.history = ds, similar or {}, history
        self.noun, self.plural = ds.stats.get("nouns") or ("item", "items")   # prep writes the dataset's
        self.scale = scale
        self.answer = answer

    def tags(self, shown) -> list[str] | None:
        """The labels of `shown` (labels mode), else None."""
        return labels(len(shown)) if self.answer == "labels" else None

    def candidates(self, shown) -> str:
        return candidate_line([self.ds.title(i) for i in shown], self.tags(shown))

    def target(self, shown, ranked) -> str:
        """The answer naming `ranked` (items of `shown`, best first): labels or titles, by semicolons."""
        if self.answer != "labels":
            return "; ".join(self.ds.title(i) for i in ranked)
        tag = dict(zip(shown, self.tags(shown)))
        return "; ".join(tag[i] for i in ranked)

    def _say(self, many: bool) -> str:
        if self.answer == "labels":
            return ("Answer with their letters in order, separated by semicolons." if many
                    else "Answer with its letter.")
        return "Answer with the titles in order, separated by semicolons." if many else "Answer with its title."

    def _hist(self, user, split):
        return self.ds.history(user, split)[-self.history:]

    def _similar_hist(self, user, banned=()):
        v = self.similar.get(user)
        if v is None:
            return []
        return [e for e in self.ds.train.get(v, []) if e["item"] not in banned][-self.history:]

    def listwise(self, user, split, shown, prediction=None, augment=True, banned=()):
        ins = (f"Rank the candidate {self.plural} based on user historical interactions and make the top "
               f"{len(shown)} recommendations. {self._say(True)}")
        lines = [f"Interaction History: {titles(self.ds, [e['item'] for e in self._hist(user, split)])}",
                 self.candidates(shown)]
        if augment:
            sim = self._similar_hist(user, banned)
            if sim:
                lines.append(f"Similar User Interaction History: {titles(self.ds, [e['item'] for e in sim])}")
            if prediction:
                lines.append(f"Conventional Model Prediction: {titles(self.ds, prediction)}")
        return ins, "\n".join(lines), ""

    def rating(self, user, split, item, prediction: str | None = None, augment=True, banned=()):
        lo, hi = self.scale
        ins = (f"Predict the rating of a target {self.noun} based on the user's historical {self.noun} ratings. "
               f"Answer with a number from {lo} to {hi}.")
        lines = [f"Rating History: {rated(self.ds, self._hist(user, split))}"]
        if augment:
            sim = self._similar_hist(user, banned)
            if sim:
                lines.append(f"Similar User Rating History: {rated(self.ds, sim)}")
        query = [f"Candidate Item: {self.ds.title(item)}"]
        if augment and prediction is not None:
            query.append(f"Conventional Model Prediction: {prediction}")
        return ins, "\n".join(lines), "\n".join(query)

    def pairwise(self, user, split, pair):
        ins = (f"Given the user's historical interactions, which of the two candidate {self.plural} does the "
               f"user prefer? {self._say(False)}")
        inp = (f"Interaction History: {titles(self.ds, [e['item'] for e in self._hist(user, split)])}\n"
               f"{self.candidates(pair)}")
        return ins, inp, ""

    def sequential(self, user, split, shown, history_items=None):
        ins = (f"Given the user's interaction history in chronological order, predict the {self.noun} the user "
               f"is most likely to interact with next among the candidates. {self._say(False)}")
        hist = history_items if history_items is not None else [e["item"] for e in self._hist(user, split)]
        inp = f"Interaction History: {titles(self.ds, hist[-self.history:])}\n{self.candidates(shown)}"
        return ins, inp, ""
