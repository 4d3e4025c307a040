"""Turn LLM answers back into item ids and ratings, counting what cannot be used.

Titles are matched tolerantly: case, punctuation, articles moved to the end ("Birds, The"),
a missing year, then a close string match (difflib ratio >= 0.85) among the candidates only.
Anything else is a hallucination; a second mention of an item is a duplicate.
"""
from __future__ import annotations

import difflib
import re

SEP = re.compile(r"\s*(?:;|\n|\|)\s*")
NUMBERING = re.compile(r"^\s*(?:\d+[.):]|[-*•])\s+")
YEAR = re.compile(r"\s*\(\d{4}\)\s*$")
ARTICLE = re.compile(r"^(.*), (the|a|an|le|la|les|il|el|das|der|die)$", re.I)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def norm(title: str) -> str:
    t = YEAR.sub("", title.strip().strip('"').strip())
    m = ARTICLE.match(t)
    if m:
        t = f"{m.group(2)} {m.group(1)}"
    return re.sub(r"[^a-z0-9]+", " ", t.lower()).strip()


class TitleMatcher:
    def __init__(self, candidates: list[tuple[str, str]]):
        self.exact = {c[1].strip().lower(): c[0] for c in candidates}
        self.loose = {}
        for item, title in candidates:
            self.loose.setdefault(norm(title), item)

    def match(self, text: str) -> str | None:
        text = NUMBERING.sub("", text).strip().strip(".").strip()
        if not text:
            return None
        if text.lower() in self.exact:
            return self.exact[text.lower()]
        key = norm(text)
        if key in self.loose:
            return self.loose[key]
        close = difflib.get_close_matches(key, list(self.loose), n=1, cutoff=0.85)
        return self.loose[close[0]] if close else None


LABEL = re.compile(r"^\s*([A-Za-z]{1,2})\s*(?:[.):]|$)")


def parse_ranking(text: str, candidates: list[tuple[str, str]], labels: list[str] | None = None
                  ) -> tuple[list[str], dict]:
    """Ranked item ids from a list answer (labels like `C` / `C. title`, or titles), with counts of
    hallucinated and duplicate entries."""
    matcher = TitleMatcher(candidates)
    by_label = dict(zip(labels or [], (c[0] for c in candidates)))
    items, stats = [], {"hallucinated": 0, "duplicates": 0}
    for part in SEP.split(text):
        if not part.strip():
            continue
        m = LABEL.match(part) if by_label else None
        item = by_label.get(m.group(1)) if m else None
        item = item or matcher.match(part)
        if item is None:
            stats["hallucinated"] += 1
        elif item in items:
            stats["duplicates"] += 1
        else:
            items.append(item)
    return items, stats


def parse_choice(text: str, candidates: list[tuple[str, str]], labels: list[str] | None = None) -> str | None:
    """The one candidate an answer names (first line / first list entry that matches)."""
    items, _ = parse_ranking(text, candidates, labels)
    if items:
        return items[0]
    low = norm(text)
    hits = [item for item, title in candidates if norm(title) and norm(title) in low]
    return hits[0] if len(hits) == 1 else None


def parse_rating(text: str, low: float, high: float) -> float | None:
    """The first number in the answer inside [low, high]."""
    for m in NUMBER.finditer(text):
        value = float(m.group())
        if low <= value <= high:
            return value
    return None
