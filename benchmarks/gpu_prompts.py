"""Build the inputs of benchmarks/gpu_check.sh from the real ML-100K files, here on a CPU, with the CLI.

    flock /tmp/l4r-cpu.lock env OMP_NUM_THREADS=1 python3 benchmarks/gpu_prompts.py

The device has no ../shared, so what it needs is committed in benchmarks/gpu_inputs/ (gzipped JSONL,
which every stage reads as is; 0.3 MB):
  listwise-labels.jsonl.gz   listwise prompts, candidates labelled A..J (label-probability ranking)
  pointwise.jsonl.gz         pointwise prompts, 10 per user (rating-scale scoring, shared prefix)
  listwise-titles.jsonl.gz   listwise prompts answered with generated titles (the paper's form)
  instructions.jsonl.gz      instruction records (listwise, pointwise, pairwise) for `l4r finetune`
  tokenizer/                 a byte-level BPE (l4r.tiny.build, 2000 tokens, digits split) trained on the
                             ML-100K titles and the instructions: the random 7B model of the device uses it;
                             it cuts a listwise prompt into about as many tokens as SmolLM2's real one
  inputs.json                record counts; mean tokens per prompt / instruction, ours and SmolLM2's
Test split, the first N users in id order, MF backbone (seed 0), prompt augmentation on. The prompts
are the same on every run; the tokenizer is not byte for byte (BPE breaks ties between equally
frequent pairs at random), its token counts move by under 0.1%.
"""
from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def l4r(*args) -> None:
    cmd = [sys.executable, "-m", "l4r", *map(str, args)]
    print("+ " + " ".join(cmd[1:]), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def first_users(src: Path, dst: Path, n: int) -> int:
    """Keep the records of the first `n` users of a JSONL file (whole users, file order); gzip them."""
    users: list[str] = []
    kept = []
    for line in src.read_text().splitlines():
        user = json.loads(line)["user"]
        if user not in users:
            if len(users) == n:
                break
            users.append(user)
        kept.append(line)
    with gzip.GzipFile(dst, "wb", mtime=0) as fh:  # mtime 0: the same bytes on every run
        fh.write(("\n".join(kept) + "\n").encode())
    return len(kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raw", type=Path, default=ROOT.parent / "shared/data/raw/ml-100k")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/gpu_inputs")
    ap.add_argument("--work", type=Path, default=ROOT / "out/gpu-inputs", help="prep and backbone outputs")
    ap.add_argument("--users", type=int, default=256, help="listwise prompts: one per user")
    ap.add_argument("--pointwise-users", type=int, default=26, help="pointwise prompts: 10 per user")
    ap.add_argument("--per-task", type=int, default=64, help="instructions per task")
    ap.add_argument("--vocab", type=int, default=2000, help="tokenizer vocabulary")
    a = ap.parse_args()

    w, out = a.work, a.out
    data, mf = w / "data", w / "mf"
    if not (data / "stats.json").exists():
        l4r("prep", "--dataset", "ml-100k", "--raw", a.raw, "--out", data, "--offline")
    if not (mf / "candidates.jsonl").exists():
        l4r("backbone", "--model", "mf", "--data", data, "--out", mf, "--seed", 0, "--threads", 1)
    base = ["--data", data, "--candidates", mf / "candidates.jsonl", "--embeddings", mf / "embeddings.jsonl",
            "--split", "test", "--seed", 0]
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name, tasks, answer, users in (("listwise-labels", "listwise", "labels", a.users),
                                       ("pointwise", "pointwise", "labels", a.pointwise_users),
                                       ("listwise-titles", "listwise", "titles", a.users)):
        l4r("prompt", *base, "--tasks", tasks, "--answer", answer, "-o", w / f"{name}.jsonl")
        made[name] = first_users(w / f"{name}.jsonl", out / f"{name}.jsonl.gz", users)
    l4r("instruct", "--data", data, "--candidates", mf / "candidates.jsonl", "--embeddings", mf / "embeddings.jsonl",
        "--per-task", a.per_task, "--seed", 0, "-o", w / "instructions.jsonl")
    made["instructions"] = first_users(w / "instructions.jsonl", out / "instructions.jsonl.gz", 10**9)

    from l4r.prompts import render
    from l4r.tiny import build

    items = [json.loads(line)["title"] for line in (data / "items.jsonl").read_text().splitlines()]
    ins = [json.loads(line) for line in (w / "instructions.jsonl").read_text().splitlines()]
    texts = items + [render(r["instruction"], r["input"]) + r["output"] for r in ins]
    tok_dir = out / "tokenizer"
    with tempfile.TemporaryDirectory() as tmp:  # build() also writes a tiny model: keep the tokenizer only
        build(tmp, texts=texts, vocab=a.vocab, split_digits=True)
        tok_dir.mkdir(exist_ok=True)
        for f in TOKENIZER_FILES:
            shutil.copy(Path(tmp) / f, tok_dir / f)
    made["tokens_per_prompt"] = token_counts(out)
    (out / "inputs.json").write_text(json.dumps(made, indent=1) + "\n")
    print(json.dumps(made))


def token_counts(out: Path) -> dict:
    """Mean tokens per listwise prompt and per instruction: this tokenizer, and SmolLM2's real one if here."""
    from transformers import AutoTokenizer

    from l4r.errors import UsageError
    from l4r.io import read_jsonl
    from l4r.backends.weights import resolve
    from l4r.prompts import render, render_prompt

    prompts = ["".join(render_prompt(r)) for r in read_jsonl(out / "listwise-labels.jsonl.gz")]
    ins = [render(r["instruction"], r["input"]) + r["output"] for r in read_jsonl(out / "instructions.jsonl.gz")]
    counts = {}
    for name, where in (("ours", lambda: str(out / "tokenizer")), ("smollm2", lambda: resolve("smollm2"))):
        try:
            tok = AutoTokenizer.from_pretrained(where())
        except (UsageError, OSError) as exc:
            print(f"no {name} tokenizer: {exc}", file=sys.stderr)
            continue
        mean = lambda texts: round(sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts) / len(texts), 1)
        counts[name] = {"listwise_prompt": mean(prompts), "instruction": mean(ins)}
    return counts


if __name__ == "__main__":
    main()
