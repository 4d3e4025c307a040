"""llm: answer prompts with an LLM engine and parse the answers.

Reads: prompt records. Writes: completion records (same ids, input order), then a stats record
on stderr and in OUT.stats.json. Generation tasks (listwise, pairwise, sequential, attribute)
are batched by length and decoded greedily; rating-like tasks (pointwise, rating) are scored in
one forward pass: the probabilities of the rating tokens give `rating` (the most likely digit,
i.e. greedy decoding restricted to ratings) and `expected` (sum_r r * p(r)).
Resume: finished batches are appended to OUT.partial; a rerun skips ids already there; the
final file appears (renamed) only when every prompt is answered.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..errors import UsageError
from ..io import atomic_path, dumps, log, parse_line, read_jsonl, write_jsonl
from ..parse import parse_choice, parse_ranking, parse_rating
from ..prompts import render_prompt

SCORED = ("pointwise", "rating")
MAX_NEW = {"listwise": 160, "pairwise": 32, "sequential": 32, "attribute": 48}


def load_done(partial: Path) -> dict[str, dict]:
    """Completions already written by an interrupted run (a torn last line is ignored)."""
    done = {}
    if partial.exists():
        with open(partial, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    rec = parse_line(line, str(partial), n)
                except Exception:
                    break
                done[rec["id"]] = rec
    return done


def parse_answer(prompt: dict, text: str) -> dict:
    task, cands = prompt["task"], [tuple(c) for c in (prompt.get("candidates") or [])]
    if task == "listwise":
        items, counts = parse_ranking(text, cands)
        return {"items": items, "status": "ok" if items else "unparseable", **counts}
    if task in ("pairwise", "sequential"):
        item = parse_choice(text, cands)
        return {"items": [item] if item else [], "status": "ok" if item else "unparseable"}
    if task in SCORED:
        lo, hi = prompt.get("scale", [1, 5])
        r = parse_rating(text, lo, hi)
        return {"rating": r, "status": "ok" if r is not None else "unparseable"}
    return {"status": "ok" if text.strip() else "empty"}


def completion(prompt: dict, text: str, extra: dict) -> dict:
    rec = {"id": prompt["id"], "task": prompt["task"], "user": prompt["user"], "split": prompt.get("split"),
           "item": prompt.get("item"), "text": text}
    rec.update(extra)
    return rec


def scale_choices(prompt: dict) -> list[str]:
    lo, hi = prompt.get("scale", [1, 5])
    return [str(r) for r in range(int(lo), int(hi) + 1)]


def generate_batches(engine, prompts, batch_size, max_new_tokens):
    """Yield lists of completions, prompts sorted by length so batches pad little."""
    texts = {p["id"]: "".join(render_prompt(p)) for p in prompts}
    order = sorted(prompts, key=lambda p: len(texts[p["id"]]))
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        limit = max_new_tokens or max(MAX_NEW.get(p["task"], 64) for p in batch)
        answers = engine.generate([texts[p["id"]] for p in batch], limit)
        yield [completion(p, a.text, {**parse_answer(p, a.text), "prompt_tokens": a.prompt_tokens,
                                      "completion_tokens": a.completion_tokens}) for p, a in zip(batch, answers)]


def score_batches(engine, prompts, batch_size):
    """Yield lists of completions for rating-like prompts; prompts sharing a prefix go together."""
    groups: dict[str, list[dict]] = {}
    for p in prompts:
        groups.setdefault(render_prompt(p)[0], []).append(p)
    batch: list[dict] = []
    for members in groups.values():
        batch += members
        if len(batch) >= batch_size:
            yield score_one(engine, batch)
            batch = []
    if batch:
        yield score_one(engine, batch)


def score_one(engine, batch):
    choices = scale_choices(batch[0])
    pairs = [render_prompt(p) for p in batch]
    probs = engine.score([a for a, _ in pairs], [b for _, b in pairs], choices)
    out = []
    for p, dist in zip(batch, probs):
        values = [float(c) for c in choices]
        best = values[max(range(len(dist)), key=dist.__getitem__)]
        expected = sum(v * q for v, q in zip(values, dist))
        out.append(completion(p, str(int(best)), {"rating": best, "expected": round(expected, 5),
                                                  "probs": [round(q, 5) for q in dist], "status": "ok"}))
    return out


def summarize(records: list[dict], seconds: float, engine_name: str, model: str, usage: dict | None) -> dict:
    status: dict[str, int] = {}
    for r in records:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {"stats": "llm", "backend": engine_name, "model": model, "prompts": len(records), "status": status,
            "hallucinated": sum(r.get("hallucinated", 0) for r in records),
            "duplicates": sum(r.get("duplicates", 0) for r in records),
            "prompt_tokens": sum(r.get("prompt_tokens", 0) for r in records),
            "completion_tokens": sum(r.get("completion_tokens", 0) for r in records),
            "seconds": round(seconds, 2), "usage": usage or {}}


def run(prompts_path, out: str, backend: str, model: str, batch_size: int = 16, max_new_tokens: int = 0,
        resume: bool = True, dry_run: bool = False, options: dict | None = None,
        shard: tuple[int, int] | None = None) -> dict:
    from ..backends import get
    from .prompt import shard_of

    prompts = [p for p in read_jsonl(prompts_path, "prompt") if shard_of(p["user"], shard)]
    ids = [p["id"] for p in prompts]
    if len(set(ids)) != len(ids):
        raise UsageError(f"{prompts_path}: prompt ids repeat; each prompt needs its own id")
    partial = Path(str(out) + ".partial") if out != "-" else None
    done = load_done(partial) if (partial and resume) else {}
    todo = [p for p in prompts if p["id"] not in done]
    if done:
        log(f"llm: resuming: {len(done)} answered, {len(todo)} to go")
    if dry_run:
        return dry_run_report(backend, model, todo, options)
    t0 = time.time()
    engine = get(backend, model=model, **(options or {})) if todo else None
    fh = open(partial, "a", encoding="utf-8") if partial else None
    try:
        gen = [p for p in todo if p["task"] not in SCORED]
        sco = [p for p in todo if p["task"] in SCORED]
        batches = list_batches(engine, gen, sco, batch_size, max_new_tokens)
        n = 0
        for batch in batches:
            for rec in batch:
                done[rec["id"]] = rec
                if fh:
                    fh.write(dumps(rec).decode())
            if fh:
                fh.flush()
            n += len(batch)
            log(f"llm: {n}/{len(todo)} prompts ({time.time() - t0:.0f}s)")
    finally:
        if fh:
            fh.close()
        if engine:
            engine.close()
    records = [done[i] for i in ids]
    stats = summarize(records, time.time() - t0, backend, model, getattr(engine, "usage", None))
    write_jsonl(out, records)
    if partial:
        partial.unlink(missing_ok=True)
        with atomic_path(str(out) + ".stats.json") as tmp:
            tmp.write_text(json.dumps(stats, indent=1))
    log("llm: " + json.dumps(stats))
    return stats


def list_batches(engine, gen, sco, batch_size, max_new_tokens):
    if gen:
        yield from generate_batches(engine, gen, batch_size, max_new_tokens)
    if sco:
        yield from score_batches(engine, sco, batch_size)


def dry_run_report(backend, model, todo, options) -> dict:
    chars = sum(len("".join(render_prompt(p))) for p in todo)
    report = {"stats": "dry-run", "backend": backend, "model": model, "requests": len(todo),
              "prompt_tokens_estimate": chars // 4,
              "completion_tokens_estimate": sum(MAX_NEW.get(p["task"], 2) for p in todo)}
    log("llm: " + json.dumps(report))
    return report
