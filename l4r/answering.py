"""Answer prompt records with an LLM engine: the work of `l4r llm`, shared with `l4r augment`.

Reads: prompt records. Writes: completion records (same ids, input order), then a stats record
on stderr and in OUT.stats.json. Three ways to answer, chosen per prompt (`answer`):
- labels (listwise, pairwise, sequential prompts with labelled candidates, the default): one
  forward pass reads the next-token distribution over the labels; the candidates sorted by it
  are `items`, their probabilities `probs`. `permutations` N averages N cyclic shifts of the
  candidate order (position bias); pairwise always averages both orders. Nothing to parse.
- scale (pointwise, rating): the probabilities of the ratings on the prompt's scale (a rating of
  several tokens, "10", is scored exactly) give `rating` (the most likely) and `expected`.
- generate (`--answer titles`, unlabelled prompts, attribute): greedy decoding, batched by
  length; answers are parsed back (labels or titles), hallucinations and duplicates counted.
Resume: finished batches are appended to OUT.partial; a rerun skips ids already there (a torn
last line is cut off first) and batches as the first run did (batches are planned over every
prompt), so its answers equal an uninterrupted run's; the final file appears (renamed) only when
every prompt is answered. A prompt whose engine call failed is recorded `status: failed`; the run
then exits non-zero naming how many, and a rerun asks only for those.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .backends.base import Answer
from .data import shard_of
from .errors import DataError, UsageError
from .io import atomic_path, dumps, log, parse_line, read_jsonl, write_jsonl
from .parse import parse_choice, parse_ranking, parse_rating
from .prompts import candidate_line, render_prompt

SCORED = ("pointwise", "rating")
CHOICE = ("listwise", "pairwise", "sequential")
MAX_NEW = {"listwise": 160, "pairwise": 32, "sequential": 32, "attribute": 48}


def load_done(partial: Path) -> dict[str, dict]:
    """Completions already written by an interrupted run. A torn last line (a kill mid-write) is
    cut off the file so that appending continues after the last whole record; failed answers are
    not done (a rerun asks again)."""
    done: dict[str, dict] = {}
    if not partial.exists():
        return done
    good = 0
    with open(partial, "rb") as fh:
        for n, line in enumerate(fh, 1):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("no line end")
                rec = parse_line(line, str(partial), n)
            except (ValueError, DataError):
                log(f"llm: {partial}:{n}: a torn last line (interrupted write): it and anything after it are "
                    "dropped and asked again")
                break
            good += len(line)
            done[rec["id"]] = rec
    if good < partial.stat().st_size:
        with open(partial, "r+b") as fh:
            fh.truncate(good)
    return {k: v for k, v in done.items() if v.get("status") != "failed"}


def parse_answer(prompt: dict, text: str) -> dict:
    task, cands = prompt["task"], [tuple(c) for c in (prompt.get("candidates") or [])]
    tags = prompt.get("labels")
    if task == "listwise":
        items, counts = parse_ranking(text, cands, tags)
        return {"items": items, "status": "ok" if items else "unparseable", **counts}
    if task in CHOICE:
        item = parse_choice(text, cands, tags)
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


def failed(prompt: dict, error: str) -> dict:
    return completion(prompt, "", {"status": "failed", "error": error})


def scale_choices(prompt: dict) -> list[str]:
    lo, hi = prompt.get("scale", [1, 5])
    return [str(r) for r in range(int(lo), int(hi) + 1)]


def how(prompt: dict, answer: str) -> str:
    """labels (score the candidates' labels), scale (score the ratings) or generate."""
    task = prompt["task"]
    if task in SCORED:
        return "scale"
    if task not in CHOICE or answer == "titles":
        return "generate"
    if prompt.get("labels"):
        return "labels"
    if answer == "labels":
        raise UsageError(f"prompt {prompt['id']}: --answer labels needs labelled candidates "
                         "(make the prompts with `l4r prompt --answer labels`)")
    return "generate"


def generated(prompt: dict, a) -> dict:
    """The completion of a generated answer; its text begins with the prompt's `response` (the model continued
    it; a chat engine that sees the response inside the user message may restate it, then it is not doubled)."""
    if a.extra.get("error"):
        return failed(prompt, a.extra["error"])
    start = prompt.get("response") or ""
    text = a.text.lstrip() if start and a.text.lstrip().startswith(start.strip()) else start + a.text
    return completion(prompt, text, {**parse_answer(prompt, text), "prompt_tokens": a.prompt_tokens,
                                     "completion_tokens": a.completion_tokens})


def generate_plan(prompts, batch_size):
    """Batches of prompts to decode, sorted by length so a batch pads little."""
    order = sorted(prompts, key=lambda p: len("".join(render_prompt(p))))
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def generate_one(engine, batch, max_new_tokens, save=None):
    """Completions of one batch; `save` gets each as soon as its answer arrives (engines that answer
    texts one by one), before the batch is complete."""
    limit = max_new_tokens or max(MAX_NEW.get(p["task"], 64) for p in batch)
    each = (lambda i, a: save(generated(batch[i], a))) if save else None
    answers = engine_call(batch, engine.generate, ["".join(render_prompt(p)) for p in batch], limit, each=each)
    return [generated(p, a) for p, a in zip(batch, answers)]


def score_plan(prompts, batch_size):
    """Batches of rating-like prompts; prompts sharing a prefix go together, one scale per batch."""
    groups: dict[tuple, list[dict]] = {}
    for p in prompts:
        groups.setdefault((tuple(scale_choices(p)), render_prompt(p)[0]), []).append(p)
    batches, batch = [], []
    for members in groups.values():
        if batch and scale_choices(batch[0]) != scale_choices(members[0]):
            batches.append(batch)
            batch = []
        batch += members
        if len(batch) >= batch_size:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


def score_one(engine, batch):
    choices = scale_choices(batch[0])
    pairs = [render_prompt(p) for p in batch]
    answers = engine_call(batch, engine.score, [a for a, _ in pairs], [b for _, b in pairs], choices)
    out = []
    for p, ans in zip(batch, answers):
        if ans.extra.get("error"):
            out.append(failed(p, ans.extra["error"]))
            continue
        values = [float(c) for c in choices]
        dist = ans.probs
        best = values[max(range(len(dist)), key=dist.__getitem__)]
        expected = sum(v * q for v, q in zip(values, dist))
        out.append(completion(p, str(int(best)), {"rating": best, "expected": round(expected, 5),
                                                  "probs": [round(q, 5) for q in dist], "status": "ok",
                                                  "prompt_tokens": ans.prompt_tokens}))
    return out


# -- ranking by label probabilities ----------------------------------------------------------------

def shifts(n: int, task: str, permutations: int) -> list[int]:
    """Cyclic shifts of the candidate order to score: pairwise both orders, else N evenly spaced."""
    if task == "pairwise":
        return list(range(n))
    m = min(permutations, n)
    return sorted({round(k * n / m) % n for k in range(m)})


def variants(prompt: dict, permutations: int):
    """(prefix, suffix, items in label order) for each cyclic shift of the prompt's candidates."""
    cands, tags = prompt["candidates"], prompt["labels"]
    line = candidate_line([t for _, t in cands], tags)
    if line not in prompt["input"]:
        raise UsageError(f"prompt {prompt['id']}: its input has no candidate line {line[:60]!r}...; "
                         "re-make it with `l4r prompt`")
    for s in shifts(len(cands), prompt["task"], permutations):
        order = cands[s:] + cands[:s]
        text = prompt["input"].replace(line, candidate_line([t for _, t in order], tags), 1) if s else prompt["input"]
        prefix, suffix = render_prompt({**prompt, "input": text})
        yield prefix, suffix, [item for item, _ in order]


def rank_plan(prompts, batch_size):
    """Batches of labelled prompts, grouped by their number of labels and sorted by length, so a batch
    pads little."""
    by_size: dict[int, list[dict]] = {}
    for p in sorted(prompts, key=lambda p: len("".join(render_prompt(p)))):
        by_size.setdefault(len(p["labels"]), []).append(p)
    return [members[start:start + batch_size] for members in by_size.values()
            for start in range(0, len(members), batch_size)]


def rank_one(engine, batch, permutations):
    work = [(k, v) for k, p in enumerate(batch) for v in variants(p, permutations)]
    tags = batch[0]["labels"]
    answers = engine_call(batch, engine.score, [v[0] for _, v in work], [v[1] for _, v in work], tags)
    mass: list[dict[str, float]] = [{} for _ in batch]
    tokens, errors = [0] * len(batch), [None] * len(batch)
    for (k, (_, _, items)), ans in zip(work, answers):
        if ans.extra.get("score") == "no-logprobs":
            raise UsageError(f"{getattr(engine, 'name', 'the')} backend: the endpoint returns no log-probabilities, "
                             "so labels cannot be ranked by them; use `--answer titles` (generate and parse)")
        if ans.extra.get("error"):
            errors[k] = ans.extra["error"]
            continue
        tokens[k] += ans.prompt_tokens
        for item, q in zip(items, ans.probs):
            mass[k][item] = mass[k].get(item, 0.0) + q
    out = []
    for k, p in enumerate(batch):
        if errors[k]:
            out.append(failed(p, errors[k]))
            continue
        shown = [item for item, _ in p["candidates"]]
        n = len(shifts(len(shown), p["task"], permutations))
        ranked = sorted(shown, key=lambda i: (-mass[k][i], shown.index(i)))
        tag = dict(zip(shown, p["labels"]))
        out.append(completion(p, "; ".join(tag[i] for i in ranked),
                              {"items": ranked, "probs": [round(mass[k][i] / n, 6) for i in ranked],
                               "status": "ok", "answer": "labels", "prompt_tokens": tokens[k]}))
    return out


def summarize(records: list[dict], seconds: float, engine_name: str, model: str, usage: dict | None,
              ways: dict[str, int]) -> dict:
    status: dict[str, int] = {}
    for r in records:
        status[r["status"]] = status.get(r["status"], 0) + 1
    return {"stats": "llm", "backend": engine_name, "model": model, "prompts": len(records), "status": status,
            "answer": ways, "hallucinated": sum(r.get("hallucinated", 0) for r in records),
            "duplicates": sum(r.get("duplicates", 0) for r in records),
            "prompt_tokens": sum(r.get("prompt_tokens", 0) for r in records),
            "completion_tokens": sum(r.get("completion_tokens", 0) for r in records),
            "seconds": round(seconds, 2), "usage": usage or {}}


@dataclass
class Options:
    """What `l4r llm` does (checked when made). `engine` holds the backend's own options
    (hf: device; openai: base_url, concurrency, ...; vllm: tensor_parallel_size)."""
    backend: str = "hf"
    model: str = "smollm2"
    batch_size: int = 16
    max_new_tokens: int = 0          # 0: per task (MAX_NEW)
    answer: str = "auto"             # auto (as each prompt asks), labels, titles
    permutations: int = 1
    resume: bool = True
    dry_run: bool = False
    shard: tuple[int, int] | None = None
    engine: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.answer not in ("auto", "labels", "titles"):
            raise UsageError(f"--answer must be auto, labels or titles, got {self.answer!r}")
        if self.permutations < 1 or self.batch_size < 1 or self.max_new_tokens < 0:
            raise UsageError("--permutations and --batch-size must be >= 1, --max-new-tokens >= 0")


def run(prompts_path, out: str, opts: Options = Options()) -> dict:
    from .backends import get

    backend, model = opts.backend, opts.model
    lines = [(n, p) for n, p in read_jsonl(prompts_path, "prompt", with_lines=True) if shard_of(p["user"], opts.shard)]
    check_ids(prompts_path, lines)
    prompts = [p for _, p in lines]
    ways = {p["id"]: how(p, opts.answer) for p in prompts}
    partial = Path(str(out) + ".partial") if out != "-" else None
    done = load_done(partial) if (partial and opts.resume) else {}
    todo = [p for p in prompts if p["id"] not in done]
    if done:
        log(f"llm: resuming: {len(done)} answered, {len(todo)} to go")
    if opts.dry_run:
        return dry_run_report(backend, model, todo, opts.engine, ways)
    t0 = time.time()
    engine = get(backend, model=model, **opts.engine) if todo else None
    fh = open(partial, "a", encoding="utf-8") if partial else None
    saved: set[str] = set(done)

    def save(rec: dict) -> None:
        if fh and rec["id"] not in saved:
            fh.write(dumps(rec).decode())
            fh.flush()
            saved.add(rec["id"])

    cost = work(todo, ways, opts.permutations, opts.max_new_tokens)
    total, spent_work = sum(cost.values()), 0.0
    try:
        n = 0
        for batch in list_batches(engine, prompts, ways, opts, set(done), save):
            for rec in batch:
                done[rec["id"]] = rec
                save(rec)
                spent_work += cost[rec["id"]]
            n += len(batch)
            spent = time.time() - t0
            eta = spent / max(spent_work, 1e-9) * (total - spent_work)
            log(f"llm: {n}/{len(todo)} prompts ({spent:.0f}s, ETA {eta:.0f}s)")
    finally:
        if fh:
            fh.close()
        if engine:
            engine.close()
    records = [done[i] for i in (p["id"] for p in prompts)]
    counts: dict[str, int] = {}
    for w in ways.values():
        counts[w] = counts.get(w, 0) + 1
    stats = summarize(records, time.time() - t0, backend, model, getattr(engine, "usage", None), counts)
    log("llm: " + json.dumps(stats))
    bad = [r for r in records if r["status"] == "failed"]
    if bad and partial:
        raise DataError(f"{len(bad)} of {len(records)} prompts failed (first: {bad[0]['id']}: {bad[0]['error']}); "
                        f"answers so far are kept in {partial}: rerun the same command to ask only those", str(out))
    write_jsonl(out, records)
    if partial:
        partial.unlink(missing_ok=True)
        with atomic_path(str(out) + ".stats.json") as tmp:
            tmp.write_text(json.dumps(stats, indent=1))
    if bad:
        raise DataError(f"{len(bad)} of {len(records)} prompts failed (first: {bad[0]['id']}: {bad[0]['error']})",
                        str(out))
    return stats


def check_ids(path, lines: list[tuple[int, dict]]) -> None:
    """Each prompt needs its own id: a repeat is an error naming both lines."""
    seen: dict[str, int] = {}
    for n, p in lines:
        if p["id"] in seen:
            raise DataError(f"prompt id {p['id']!r} repeats (first at line {seen[p['id']]}); each prompt needs "
                            "its own id", "<stdin>" if str(path) == "-" else str(path), n, "id")
        seen[p["id"]] = n


# decoding a token costs about ten prefill tokens here (docs/benchmarks.md: ~460 prefill tokens/s
# against 34-60 new tokens/s at batch 16), and a token is about four characters
DECODE_CHARS = 40


def work(todo: list[dict], ways: dict[str, str], permutations: int, max_new_tokens: int) -> dict[str, float]:
    """Each prompt's share of the run's compute, in prompt characters, for the ETA: a ranked prompt is
    read once per shift; rating prompts that share a prefix read it once between them (so a user's ten
    pointwise prompts cost about one listwise prompt, not ten); a generated answer adds its tokens."""
    texts = {p["id"]: render_prompt(p) for p in todo}
    sharing: dict[str, int] = {}
    for p in todo:
        if ways[p["id"]] == "scale":
            prefix = texts[p["id"]][0]
            sharing[prefix] = sharing.get(prefix, 0) + 1
    cost = {}
    for p in todo:
        prefix, suffix = texts[p["id"]]
        way = ways[p["id"]]
        if way == "scale":
            cost[p["id"]] = len(prefix) / sharing[prefix] + len(suffix)
        elif way == "labels":
            cost[p["id"]] = (len(prefix) + len(suffix)) * len(shifts(len(p["labels"]), p["task"], permutations))
        else:
            limit = max_new_tokens or MAX_NEW.get(p["task"], 64)
            cost[p["id"]] = len(prefix) + len(suffix) + DECODE_CHARS * limit
    return cost


def list_batches(engine, prompts, ways, opts, done, save=None):
    """Yield lists of new completions, batch by batch. Batches are planned over every prompt, answered
    or not, so a resumed run batches as an uninterrupted one does; a batch whose prompts are all in
    `done` is skipped. An engine whose answers depend on their batch neighbours (hf: padding, bf16
    kernels that round by shape) answers a partly done batch whole and only the new answers are kept,
    so a resumed run writes what an uninterrupted one writes; other engines are asked only the rest."""
    pick = {w: [p for p in prompts if ways[p["id"]] == w] for w in ("generate", "labels", "scale")}
    plans = [(b, lambda b: generate_one(engine, b, opts.max_new_tokens, save))
             for b in generate_plan(pick["generate"], opts.batch_size)]
    plans += [(b, lambda b: rank_one(engine, b, opts.permutations)) for b in rank_plan(pick["labels"], opts.batch_size)]
    plans += [(b, lambda b: score_one(engine, b)) for b in score_plan(pick["scale"], opts.batch_size)]
    for batch, answer in plans:
        missing = [p for p in batch if p["id"] not in done]
        if missing:
            asked = batch if getattr(engine, "batch_sensitive", False) else missing
            yield [rec for rec in answer(asked) if rec["id"] not in done]


def engine_call(prompts, call, *args, **kwargs):
    """`call(*args)`; an engine's RuntimeError on this batch (out of memory, a CUDA fault) becomes an
    answer with the error for each prompt, so the run goes on, the batch is recorded failed, the
    run exits non-zero at the end and a rerun asks those prompts again."""
    try:
        return call(*args, **kwargs)
    except RuntimeError as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
        log(f"llm: a batch of {len(prompts)} prompts failed: {error}")
        return [Answer("", extra={"error": error}) for _ in range(len(args[0]))]


def dry_run_report(backend, model, todo, options, ways) -> dict:
    chars = sum(len("".join(render_prompt(p))) for p in todo)
    report = {"stats": "dry-run", "backend": backend, "model": model, "requests": len(todo),
              "prompt_tokens_estimate": chars // 4,
              "completion_tokens_estimate": sum(MAX_NEW.get(p["task"], 2) if ways[p["id"]] == "generate" else 1
                                                for p in todo)}
    log("llm: " + json.dumps(report))
    return report
