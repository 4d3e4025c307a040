"""Throughput of the `hf` backend: batched vs one-at-a-time generation on listwise prompts,
shared-prefix pointwise scoring vs separate prompts, and prefill FLOP/s against the measured
fp32 (CPU) or bf16 (GPU) matmul peak.

    python benchmarks/llm_throughput.py --prompts out/ml-100k/mf/prompts-l4r.jsonl --n 32
    python benchmarks/llm_throughput.py --device cuda --random-arch llama2-7b --n 256   # no weights needed

Prints a markdown table (copy it into docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_peak(torch, device, dtype, n=2048, reps=10) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(torch, device)
    t = time.time()
    for _ in range(reps):
        a @ b
    sync(torch, device)
    return 2 * n ** 3 * reps / (time.time() - t)


def sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def random_llama(name, device):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from l4r.backends.hf import HFBackend
    from l4r.tiny import build

    sizes = {"llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                               num_key_value_heads=32)}
    tok_dir = build(Path("/tmp/l4r-bench-tok"), vocab=2000)
    engine = HFBackend.__new__(HFBackend)
    engine.torch, engine.device = torch, device
    from transformers import AutoTokenizer

    engine.tok = AutoTokenizer.from_pretrained(tok_dir)
    engine.tok.padding_side = "left"
    cfg = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, **sizes[name])
    with torch.device(device):
        engine.model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    return engine


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=Path, help="prompt records (listwise and pointwise) from `l4r prompt`")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", help="hf weights: float32 (the documented runs), bfloat16, auto")
    ap.add_argument("--random-arch", default=None, help="llama2-7b: random weights of that shape (GPU)")
    ap.add_argument("--n", type=int, default=32, help="listwise prompts to generate for")
    ap.add_argument("--single", type=int, default=4, help="of those, how many to also run one at a time")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--users", type=int, default=4, help="users for the pointwise comparison")
    a = ap.parse_args()

    import torch

    from l4r.backends.hf import HFBackend
    from l4r.io import read_jsonl
    from l4r.prompts import render_prompt

    recs = list(read_jsonl(a.prompts, "prompt"))
    listwise = ["".join(render_prompt(r)) for r in recs if r["task"] == "listwise"][: a.n]
    pointwise = [r for r in recs if r["task"] == "pointwise"]
    engine = random_llama(a.random_arch, a.device) if a.random_arch else HFBackend(a.model, device=a.device,
                                                                                            dtype=a.dtype)
    dtype = next(engine.model.parameters()).dtype
    params = sum(p.numel() for p in engine.model.parameters())
    peak = matmul_peak(torch, a.device, dtype)
    rows = []

    # prefill FLOP/s: one forward over a batch of prompts, ~2 * params * tokens
    enc = engine.tok(listwise[: a.batch_size], return_tensors="pt", padding=True, add_special_tokens=False).to(a.device)
    tokens = int(enc["attention_mask"].sum())
    with torch.no_grad():
        engine.model(**enc)
        sync(torch, a.device)
        t = time.time()
        engine.model(**enc)
        sync(torch, a.device)
    prefill = 2 * params * tokens / (time.time() - t)
    rows.append(("prefill", f"{tokens / (time.time() - t):.0f} tokens/s", f"{prefill / 1e9:.1f} GFLOP/s = "
                 f"{prefill / peak * 100:.0f}% of matmul peak {peak / 1e9:.0f} GFLOP/s"))

    # batched vs one-at-a-time generation
    t = time.time()
    gen_tokens = 0
    for s in range(0, len(listwise), a.batch_size):
        gen_tokens += sum(x.completion_tokens for x in engine.generate(listwise[s:s + a.batch_size], a.max_new_tokens))
    batched = len(listwise) / (time.time() - t)
    rows.append((f"generate, batch {a.batch_size}", f"{batched:.2f} prompts/s", f"{gen_tokens / (time.time() - t):.1f} new tokens/s"))
    t = time.time()
    for text in listwise[: a.single]:
        engine.generate([text], a.max_new_tokens)
    single = a.single / (time.time() - t)
    rows.append(("generate, one at a time", f"{single:.2f} prompts/s", f"batched is {batched / single:.1f}x faster"))

    # pointwise: shared prefix vs separate prompts, same candidates
    by_user: dict[str, list] = {}
    for r in pointwise:
        by_user.setdefault(r["user"], []).append(r)
    groups = list(by_user.values())[: a.users]
    choices = [str(x) for x in range(1, 6)]
    warm = [render_prompt(r) for r in groups[0][:2]]
    engine.score([p for p, _ in warm], [s for _, s in warm], choices)   # the first call pays one-time costs
    t = time.time()
    for g in groups:
        pairs = [render_prompt(r) for r in g]
        engine.score([p for p, _ in pairs], [s for _, s in pairs], choices)
    shared = time.time() - t
    t = time.time()
    for g in groups:
        texts = ["".join(render_prompt(r)) for r in g]
        enc = engine.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(a.device)
        with torch.no_grad():
            engine.model(**enc)
    separate = time.time() - t
    n = sum(len(g) for g in groups)
    rows.append((f"pointwise, {n} candidates of {len(groups)} users", f"shared prefix {n / shared:.1f} cand/s",
                 f"separate prompts {n / separate:.1f} cand/s: {separate / shared:.1f}x"))

    name = a.random_arch or a.model
    print(f"| {name} on {a.device} ({params / 1e6:.0f}M params, {dtype}) | throughput | note |")
    print("|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
