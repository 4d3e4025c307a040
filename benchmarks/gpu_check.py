"""The Python half of benchmarks/gpu_check.sh: make the random model, measure the matmul peak, turn each
part's output into one JSON line of OUT/gpu_check.jsonl, and write OUT/gpu_check.md from those lines.

    python3 benchmarks/gpu_check.py model --arch llama2-7b --device cuda --out DIR [--layers 16]
    python3 benchmarks/gpu_check.py env --device cuda --out OUT
    python3 benchmarks/gpu_check.py llm --part labels --cmd "..." --work DIR --result FILE --prompts FILE ...
    python3 benchmarks/gpu_check.py finetune --cmd "..." --ft-out DIR --log FILE ...
    python3 benchmarks/gpu_check.py report --out OUT

FLOPs: inference 2 x params x tokens (prompt + generated tokens, padding not counted); training
6 x params x tokens (gradient checkpointing recomputes the forward on top: the hardware does 8x).
The H200's dense bf16 peak is 989 TFLOP/s (NVIDIA's H200 SXM spec sheet: 1,979 with sparsity).
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "gpu_inputs"
SPEC_PEAK = {"cuda": 989e12}  # H200 SXM dense bf16; CPU: none, only the measured fp32 matmul peak
ARCH = {"llama2-7b": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                          num_key_value_heads=32),
        "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=4)}
PAPER = {"infer_per_s": 17.0, "train_h": 1.94, "train_gpus": 16, "train_steps": 2500, "batch": 16,
         "a800_peak": 312e12}


def append(out: Path, rec: dict) -> None:
    with open(out / "gpu_check.jsonl", "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


def read_lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip().endswith("}")]


def peak_mem(path: Path | None) -> float | None:
    """Highest memory.used (MiB) that the nvidia-smi sampler wrote."""
    if not path or not path.exists():
        return None
    vals = [float(x) for x in path.read_text().split() if x.replace(".", "", 1).isdigit()]
    return max(vals) if vals else None


# ---------------------------------------------------------------- model and environment

def cmd_model(a) -> None:
    """A randomly initialised LlamaForCausalLM of the arch's shape with the committed tokenizer, saved."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    t0 = time.time()
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    dims = dict(ARCH[a.arch], **({"num_hidden_layers": a.layers} if a.layers else {}))
    cfg = LlamaConfig(vocab_size=32000, max_position_embeddings=4096, pad_token_id=tok.pad_token_id,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, **dims)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # built in bf16 where it lives: a 7B is 13.5 GB, not 27
    with torch.device(a.device):
        model = LlamaForCausalLM(cfg)
    torch.set_default_dtype(torch.float32)
    model.save_pretrained(a.out)
    tok.save_pretrained(a.out)
    rec = {"part": "model" if not a.layers else f"model-L{a.layers}", "status": "ok",
           "command": shlex.join([Path(sys.executable).name, *sys.argv]), "arch": a.arch,
           "layers": cfg.num_hidden_layers, "params": sum(p.numel() for p in model.parameters()),
           "vocab": cfg.vocab_size, "dtype": str(next(model.parameters()).dtype).replace("torch.", ""), "attention": model.config._attn_implementation,
           "seconds": round(time.time() - t0, 1)}
    if a.record:
        append(a.record, rec)
    else:
        print(json.dumps(rec))


def cmd_env(a) -> None:
    """Versions, the device, and the measured matmul peak (bf16 on GPU, fp32 on CPU)."""
    import importlib.metadata as md
    import platform

    import torch

    sys.path.insert(0, str(HERE))
    from llm_throughput import matmul_peak

    versions = {}
    for p in ("torch", "transformers", "deepspeed", "orjson", "typer", "pydantic"):
        try:
            versions[p] = md.version(p)
        except md.PackageNotFoundError:
            versions[p] = None
    gpu = a.device == "cuda"
    dtype = torch.bfloat16 if gpu else torch.float32
    peak = matmul_peak(torch, a.device, dtype, n=8192 if gpu else 1024, reps=10)
    rec = {"part": "env", "mode": a.mode, "device": torch.cuda.get_device_name() if gpu else platform.processor() or "cpu",
           "python": platform.python_version(), **versions, "matmul_dtype": str(dtype).replace("torch.", ""),
           "measured_peak_tflops": round(peak / 1e12, 2), "spec_peak_tflops": SPEC_PEAK.get(a.device, 0) / 1e12,
           "gpu_memory_mib": torch.cuda.get_device_properties(0).total_memory / 2**20 if gpu else None}
    append(a.out, rec)


# ---------------------------------------------------------------- one part's result

def rates(rec: dict, flops: float, seconds: float, env: dict) -> dict:
    if seconds <= 0:
        return rec
    rec["tflops"] = round(flops / seconds / 1e12, 3)
    if env.get("spec_peak_tflops"):
        rec["pct_spec_peak"] = round(100 * rec["tflops"] / env["spec_peak_tflops"], 1)
    if env.get("measured_peak_tflops"):
        rec["pct_measured_peak"] = round(100 * rec["tflops"] / env["measured_peak_tflops"], 1)
    return rec


def env_of(out: Path) -> dict:
    return next((r for r in read_lines(out / "gpu_check.jsonl") if r["part"] == "env"), {})


def arch_params(c: dict) -> int:
    """Parameters of a Llama config (dict of its fields): attention, MLP and norms per layer, embeddings, lm_head."""
    h, f, n, v = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    kv = h * c.get("num_key_value_heads", c["num_attention_heads"]) // c["num_attention_heads"]
    layer = h * (2 * h + 2 * kv) + 3 * h * f + 2 * h
    return n * layer + v * h * (1 if c.get("tie_word_embeddings") else 2) + h


def params_of(model: Path) -> int:
    """Parameter count from the saved config (no weights loaded)."""
    return arch_params(json.loads((model / "config.json").read_text()))


def shared_prefix_tokens(prompts: Path, done: set, model: Path) -> int:
    """Tokens a shared-prefix scorer reads for the answered pointwise prompts: each prefix once, then every suffix."""
    from transformers import AutoTokenizer

    from l4r.io import read_jsonl
    from l4r.prompts import render_prompt

    tok = AutoTokenizer.from_pretrained(model)
    n = lambda text: len(tok(text, add_special_tokens=False)["input_ids"])
    groups: dict[str, list[str]] = {}
    for rec in read_jsonl(prompts):
        if rec["id"] in done:
            pre, suf = render_prompt(rec)
            groups.setdefault(pre, []).append(suf)
    return sum(n(p) + sum(n(s) for s in sufs) if len(sufs) > 1 else n(p + sufs[0]) for p, sufs in groups.items())


def cmd_llm(a) -> None:
    """prompts/s of one `l4r llm` run (model load excluded), from its output or, if cut off, its .partial."""
    env = env_of(a.out)
    err = a.log.read_text(errors="replace") if a.log.exists() else ""
    result = a.result if a.result.exists() else Path(str(a.result) + ".partial")
    done = read_lines(result)
    load = re.findall(r"llm: loaded .* \(([\d.]+)s\)", err)
    load_s = float(load[-1]) if load else None
    stats = Path(str(a.result) + ".stats.json")
    if a.result.exists() and stats.exists():
        total = json.loads(stats.read_text())["seconds"]
    else:  # cut off: the last progress line, "llm: n/N prompts (Ts, ...)", seconds since before the load
        prog = re.findall(r"llm: (\d+)/\d+ prompts \((\d+)s", err)
        total = float(prog[-1][1]) if prog else 0.0
    seconds = total - (load_s or 0.0)
    rec = {"part": a.part, "command": a.command, "rc": a.rc, "status": status(a.rc, a.result.exists()),
           "wall_s": a.wall, "prompts": len(done), "load_s": load_s, "seconds": round(seconds, 2),
           "peak_gpu_mib": peak_mem(a.mem)}
    params = params_of(a.model)
    if a.part == "pointwise" and done:
        tokens, basis = shared_prefix_tokens(a.prompts, {d["id"] for d in done}, a.model), "shared prefix once per user"
    else:
        tokens = sum(d.get("prompt_tokens", 0) + d.get("completion_tokens", 0) for d in done)
        basis = "prompt + generated tokens" if a.part == "titles" else "prompt tokens"
    rec.update(params=params, tokens=tokens, token_basis=basis,
               completion_tokens=sum(d.get("completion_tokens", 0) for d in done))
    if done and seconds > 0:
        rec.update(prompts_per_s=round(len(done) / seconds, 2), tokens_per_s=round(tokens / seconds, 1),
                   tokens_per_prompt=round(tokens / len(done), 1))
        rates(rec, 2 * params * tokens, seconds, env)
    if rec["status"] == "failed":
        rec["error"] = last_error(err, a.rc)
    append(a.out, rec)


def last_error(err: str, rc: int) -> str:
    """The last unindented stderr line that names an error (not a traceback frame), else the last line."""
    lines = [x for x in err.strip().splitlines() if x.strip()]
    named = [x for x in lines if not x[0].isspace() and ("Error" in x or "error" in x)]
    return ((named or lines or [f"exit {rc}"])[-1])[:300]


def status(rc: int, finished: bool) -> str:
    if rc in (124, 137, 143):
        return "timeout"
    return "ok" if rc == 0 and finished else "failed"


def cmd_finetune(a) -> None:
    """Steady tokens/s (steps after the first), peak memory and the paper's run projected onto 16 GPUs."""
    env = env_of(a.out)
    err = a.log.read_text(errors="replace") if a.log.exists() else ""
    meta_path = a.ft_out / "train_meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    steps = [(int(s), float(r)) for s, r in re.findall(r"finetune: step (\d+)/\d+ loss \S+ lr \S+ ([\d.]+) tokens/s", err)]
    params = params_of(a.model)
    rec = {"part": "finetune", "command": a.command, "rc": a.rc, "status": status(a.rc, bool(meta)),
           "wall_s": a.wall, "layers": json.loads((a.model / "config.json").read_text())["num_hidden_layers"],
           "params": params, "steps": len(steps), "peak_gpu_mib": peak_mem(a.mem)}
    if meta:
        rec.update(peak_alloc_mib=round(meta["peak_memory_mb"]), device=meta["device"], tokens_per_s_all=round(meta["tokens_per_s"], 1),
                   seconds_per_step=round(meta["seconds_per_step"], 2), attention=meta["attention"],
                   zero_stage=meta["zero_stage"], dtype=meta["dtype"], micro_batch=meta["micro_batch"],
                   accumulation=meta["accumulation"], first_loss=meta["first_loss"], last_loss=meta["last_loss"])
    steady = [r for s, r in steps if s > 1] or [r for _, r in steps]
    if steady:
        rec["tokens_per_s"] = round(sum(steady) / len(steady), 1)
        rates(rec, 6 * params * rec["tokens_per_s"], 1.0, env)
        inputs = json.loads((INPUTS / "inputs.json").read_text())
        per_example = inputs["tokens_per_prompt"]["ours"]["instruction"] + 1  # + eos
        tokens = PAPER["train_steps"] * PAPER["batch"] * per_example
        rec["paper_tokens"] = round(tokens)
        rec["projected_h_16gpu"] = round(tokens / (PAPER["train_gpus"] * rec["tokens_per_s"]) / 3600, 3)
    if rec["status"] == "failed":
        rec["error"] = last_error(err, a.rc)
    append(a.out, rec)


def cmd_note(a) -> None:
    append(a.out, {"part": a.part, "status": "skipped", "note": a.note, **({"command": a.command} if a.command else {})})


# ---------------------------------------------------------------- report

def fmt(x, spec="{:,.1f}") -> str:
    return "—" if x is None else spec.format(x)


def cmd_report(a) -> None:
    lines = read_lines(a.out / "gpu_check.jsonl")
    env = next((r for r in lines if r["part"] == "env"), {})
    inputs = json.loads((INPUTS / "inputs.json").read_text())
    paper_tok = PAPER["train_steps"] * PAPER["batch"] * (inputs["tokens_per_prompt"]["ours"]["instruction"] + 1)
    a800 = paper_tok / (PAPER["train_h"] * 3600 * PAPER["train_gpus"])
    a800_pct = 100 * 6 * arch_params(dict(ARCH["llama2-7b"], vocab_size=32000)) * a800 / PAPER["a800_peak"]
    peak = (env.get("spec_peak_tflops") or env.get("measured_peak_tflops") or 0) * 1e12
    out = ["# gpu_check", "",
           f"Device: {env.get('device', '?')}, mode {env.get('mode', '?')}; torch {env.get('torch')}, "
           f"transformers {env.get('transformers')}, deepspeed {env.get('deepspeed')}, python {env.get('python')}. "
           f"Matmul peak measured ({env.get('matmul_dtype')}, n x n x n, n = 8192 on GPU, 1024 on CPU): "
           f"{env.get('measured_peak_tflops')} TFLOP/s; "
           f"spec peak used for the % column: "
           + (f"{env['spec_peak_tflops']:.0f} TFLOP/s (H200 dense bf16, NVIDIA spec sheet)."
              if env.get("spec_peak_tflops") else "none on CPU (the % is of the measured fp32 matmul peak)."),
           "FLOPs: inference 2 x params x tokens, training 6 x params x tokens (tokens without padding).", "",
           "| part | command | throughput | TFLOP/s | % of spec peak / of measured | peak GPU memory | paper |",
           "|---|---|---|---|---|---|---|"]
    for r in lines:
        if r["part"] == "env":
            continue
        pct = f"{fmt(r.get('pct_spec_peak'))}% / {fmt(r.get('pct_measured_peak'))}%"
        mem = fmt(r.get("peak_gpu_mib"), "{:,.0f} MiB (nvidia-smi)")
        cmd = f"`{r['command']}`" if r.get("command") else ""
        if r["status"] == "skipped":
            out.append(f"| {r['part']} | {cmd} | skipped: {r['note']} | | | | |")
        elif r["part"].startswith("model"):
            out.append(f"| {r['part']} | {cmd} | random {r['arch']}, {r['layers']} layers, {r['params'] / 1e9:.3f}B params, "
                       f"{r['dtype']}, attention {r['attention']}: built and saved in {r['seconds']} s | | | | |")
        elif r["part"] == "finetune":
            thr = (f"{fmt(r.get('tokens_per_s'))} tokens/s ({r['layers']} layers, {r['params'] / 1e9:.2f}B params, "
                   f"{r['steps']} steps; {r['status']})")
            if r.get("peak_alloc_mib"):
                mem += f"; {r['peak_alloc_mib']:,} MiB " + ("max allocated" if r.get("device") == "cuda" else "max RSS")
            proj = (f"paper's run (2500 steps x 16 x {r.get('paper_tokens', 0) / 40000:.0f} tokens) projected on 16 such "
                    f"GPUs: **{fmt(r.get('projected_h_16gpu'), '{:.2f}')} h** vs 1.94 h on 16 A800 "
                    f"(= {a800:,.0f} tokens/s per A800 for a 7B, {a800_pct:.1f}% of its 312 TFLOP/s)")
            out.append(f"| finetune | {cmd} | {thr} | {fmt(r.get('tflops'), '{:.3g}')} | {pct} | {mem} | {proj} |")
        else:
            bound = peak / (2 * r["params"] * r["tokens_per_prompt"]) if peak and r.get("tokens_per_prompt") else None
            thr = (f"**{fmt(r.get('prompts_per_s'), '{:.2f}')} prompts/s** ({r['prompts']} prompts in {r['seconds']} s, "
                   f"load {r.get('load_s')} s; {fmt(r.get('tokens_per_prompt'))} tokens/prompt, {r.get('token_basis')}; "
                   f"{fmt(bound, '{:,.0f}')}/s at 100% of peak; {r['status']})")
            out.append(f"| {r['part']} | {cmd} | {thr} | {fmt(r.get('tflops'), '{:.3g}')} | {pct} | {mem} | "
                       f"{PAPER['infer_per_s']:.0f} instructions/s on one A800 (vLLM, generated titles) |")
    errors = [f"- {r['part']}: {r['error']}" for r in lines if r.get("error")]
    if errors:
        out += ["", "Errors:", *errors]
    tok = inputs["tokens_per_prompt"]
    out += ["", f"Inputs: benchmarks/gpu_inputs ({inputs['listwise-labels']} listwise, {inputs['pointwise']} pointwise, "
            f"{inputs['listwise-titles']} title prompts of ML-100K test users; {inputs['instructions']} instructions). "
            f"Mean tokens per listwise prompt / instruction: {tok['ours']['listwise_prompt']} / {tok['ours']['instruction']} "
            f"with the committed tokenizer" + (f", {tok['smollm2']['listwise_prompt']} / {tok['smollm2']['instruction']} "
                                               f"with SmolLM2's" if "smollm2" in tok else "") + ".", ""]
    (a.out / "gpu_check.md").write_text("\n".join(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="sub", required=True)
    p = sub.add_parser("model")
    p.add_argument("--arch", choices=ARCH, default="llama2-7b")
    p.add_argument("--layers", type=int, default=0, help="fewer layers than the arch has (0: the arch's)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--tokenizer", type=Path, default=INPUTS / "tokenizer")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--record", type=Path, help="append the result to RECORD/gpu_check.jsonl")
    p.set_defaults(fn=cmd_model)
    p = sub.add_parser("env")
    p.add_argument("--device", default="cuda")
    p.add_argument("--mode", default="gpu")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(fn=cmd_env)
    for name, fn in (("llm", cmd_llm), ("finetune", cmd_finetune)):
        p = sub.add_parser(name)
        p.add_argument("--out", type=Path, required=True)
        p.add_argument("--part", default="finetune")
        p.add_argument("--cmd", dest="command", required=True)
        p.add_argument("--model", type=Path, required=True)
        p.add_argument("--log", type=Path, required=True)
        p.add_argument("--mem", type=Path)
        p.add_argument("--rc", type=int, default=0)
        p.add_argument("--wall", type=float, default=0.0)
        p.add_argument("--result", type=Path, help="llm: the -o file")
        p.add_argument("--prompts", type=Path, help="llm: the prompt file")
        p.add_argument("--ft-out", type=Path, help="finetune: the --out folder")
        p.set_defaults(fn=fn)
    p = sub.add_parser("note")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--part", required=True)
    p.add_argument("--note", required=True)
    p.add_argument("--cmd", dest="command", default="")
    p.set_defaults(fn=cmd_note)
    p = sub.add_parser("report")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
