"""Fine-tuning's forward + backward on right-padded micro-batches, with and without the padding mask.

    flock /tmp/l4r-cpu.lock python benchmarks/causal_mask_speed.py out/ft-bench/mf/instructions-l4r.jsonl

With right padding, causal attention alone already keeps every real token from seeing padding (the
padding comes after it), so the padding mask changes only the padded positions, whose outputs carry
no label. Without a mask, `sdpa` runs its causal kernel (`is_causal`, which skips the blocks above the
diagonal) instead of a full square with an explicit mask. This times both on the same micro-batches
(l4r finetune's encoding, length-grouped micro-batches of --micro as the Makefile's FT_ARGS, bf16
autocast as `--dtype auto` on this CPU) and checks that loss and gradients agree.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("instructions", type=Path, help="instruction records (l4r instruct)")
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from l4r.backends.weights import resolve
    from l4r.stages.finetune import IGNORE, collate, encode, output_loss

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    path = resolve(a.model)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    recs = [json.loads(line) for line in a.instructions.read_text().splitlines()][: a.micro * a.batches * 2]
    examples = sorted((encode(r, tok, 768) for r in recs), key=lambda e: len(e["input_ids"]))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    batches = [collate(examples[i:i + a.micro], pad) for i in range(0, len(examples), 2 * a.micro)][: a.batches]

    def masked_loss(batch):
        """output_loss as it was: the same, with the padding mask passed."""
        target = batch["labels"][:, 1:]
        keep = F.pad(target != IGNORE, (0, 1))
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep).logits
        return F.cross_entropy(logits.float(), target[target != IGNORE])

    def step(batch, masked: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = masked_loss(batch) if masked else output_loss(model, batch)
        model.zero_grad(set_to_none=True)
        loss.backward()
        return float(loss), model.model.layers[0].self_attn.q_proj.weight.grad.clone()

    for b in batches[:1]:
        step(b, True), step(b, False)    # warm-up: kernels built
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    padded = sum(b["attention_mask"].numel() for b in batches)
    seconds = {True: 0.0, False: 0.0}
    diffs = []
    for _ in range(a.reps):
        for masked in (True, False):
            t = time.time()
            results = [step(b, masked) for b in batches]
            seconds[masked] += time.time() - t
            if masked:
                ref = results
            else:
                diffs += [(abs(x[0] - y[0]), float((x[1] - y[1]).abs().max() / y[1].abs().max())) for x, y in zip(results, ref)]
    print(f"{a.threads} threads, {len(batches)} micro-batches of {a.micro}, {tokens} tokens ({100 * (1 - tokens / padded):.0f}% "
          f"padding), bf16 autocast, load before {os.getloadavg()[0]:.2f}\n")
    print("| attention | s per micro-batch (fwd + bwd) | tokens/s |")
    print("|---|---:|---:|")
    for masked, name in ((True, "padding mask (sdpa, explicit mask)"), (False, "no mask (sdpa is_causal)")):
        per = seconds[masked] / (a.reps * len(batches))
        print(f"| {name} | {per:.2f} | {tokens * a.reps / seconds[masked]:.0f} |")
    print(f"\nlargest loss difference {max(d[0] for d in diffs):.2e}, largest relative difference of a gradient "
          f"(layer 0 q_proj) {max(d[1] for d in diffs):.2e}; load after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
