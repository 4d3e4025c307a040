"""finetune: full-parameter instruction tuning of a causal LM with DeepSpeed (ZeRO-3 by default).

Paper (../shared/paper/llama4rec.txt) 4.5.2 and 5.1.5: full-parameter tuning on Alpaca-style
instruction data with the cross-entropy of Eq. 8 on the output tokens only,
    min_theta  sum_{(x,y)}  sum_{t=1..|y|}  -log P_theta(y_t | x, y_<t),
lr 2e-5, cosine schedule with 50 warm-up steps, 3 epochs, context 2048, global batch 16,
DeepSpeed ZeRO-3 and flash attention.

Reads: instruction records ({id, task, instruction, input, output}). The text is
`l4r.prompts.render(instruction, input)` + output + eos; the prompt and padding carry label -100.
An example longer than --max-len loses tokens from the left of its input; the output is kept.
Writes, into --out: model.safetensors + config + tokenizer (AutoModelForCausalLM.from_pretrained
reloads it), train_log.jsonl (step, loss, lr, tokens/s per optimizer step), train_meta.json
(steps, seconds, tokens/s, peak memory, attention implementation, world size) and checkpoints/
(DeepSpeed checkpoints every --save-every steps; --resume continues from the latest).

Runs in one process (no launcher needed) or under `torchrun` / the deepspeed launcher: each rank
reads its shard through a seeded DistributedSampler; gradient accumulation keeps the global batch
at --batch-size whatever the number of processes. --zero-stage picks ZeRO 0-3: by default the config's
ZeRO-3 (the paper's), except in one process on a CPU, where there is nothing to partition and ZeRO-0
is faster and smaller (docs/benchmarks.md).

Speed: logits are computed only where an output token is predicted (the loss is unchanged); each
step's examples are sorted by length before they are cut into micro-batches (--group-by-length);
--dtype auto trains under bf16 autocast over fp32 weights and optimizer on CPUs with bf16 matrix
instructions (several times faster matmuls), and with DeepSpeed's bf16 on GPU.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import random
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UsageError
from ..io import atomic_path, log, read_jsonl
from ..prompts import render
from ..seeding import seed_all

IGNORE = -100
CONFIG_NAME = "zero3.json"   # the one ZeRO-3 config: l4r/configs/zero3.json, shipped as package data


# ---------------------------------------------------------------- data

def read_instructions(path, sample: int | None = None, seed: int = 0) -> list[dict]:
    """Instruction records, each tagged with its line for error messages; `sample` keeps a seeded subset."""
    name = "<stdin>" if str(path) == "-" else str(path)
    recs = []
    for line, rec in enumerate(read_jsonl(path, "instruction"), 1):
        recs.append({**rec, "_where": (name, line)})
    if not recs:
        raise DataError("no instruction records", name)
    if sample and sample < len(recs):
        recs = random.Random(seed).sample(recs, sample)
    return recs


def prompt_ids(tok, instruction: str, text: str) -> list[int]:
    return tok(render(instruction, text))["input_ids"]


def cut_input(tok, text: str, drop: int) -> str:
    """`text` without its first `drop` tokens (cut at a token boundary of the input alone)."""
    if drop <= 0:
        return text
    if getattr(tok, "is_fast", False):
        offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return text[offsets[drop][0]:] if drop < len(offsets) else ""
    ids = tok(text, add_special_tokens=False)["input_ids"]
    return tok.decode(ids[drop:]) if drop < len(ids) else ""


def encode(rec: dict, tok, max_len: int) -> dict:
    """input_ids = prompt + output + eos; labels = -100 on the prompt, the output ids after it (Eq. 8).

    Over `max_len`, tokens go from the left of the input (the most distant history) until it fits."""
    file, line = rec.get("_where", ("<input>", None))
    out = tok(rec["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    budget = max_len - len(out)
    ids = prompt_ids(tok, rec["instruction"], rec["input"])
    truncated = len(ids) > budget
    if truncated:
        bare = prompt_ids(tok, rec["instruction"], "")
        if len(bare) > budget:
            raise DataError(f"instruction and output need {len(bare) + len(out)} tokens with an empty input, "
                            f"over --max-len {max_len}", file, line, "output")
        text, drop = rec["input"], len(ids) - budget
        while len(ids) > budget:  # re-tokenising the joined prompt can differ by a token: cut again
            text = cut_input(tok, text, drop)
            ids = prompt_ids(tok, rec["instruction"], text)
            drop = len(ids) - budget
    return {"input_ids": ids + out, "labels": [IGNORE] * len(ids) + out, "truncated": truncated}


def collate(batch: list[dict], pad_id: int) -> dict:
    """Right-pad to the longest example; padding has attention 0 and label -100."""
    import torch

    width = max(len(b["input_ids"]) for b in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, b in enumerate(batch):
        n = len(b["input_ids"])
        ids[i, :n] = torch.tensor(b["input_ids"])
        labels[i, :n] = torch.tensor(b["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


class StepBatches:
    """Micro-batches of `sampler`'s order (a seeded DistributedSampler), `micro` examples each. With
    `group`, the examples of each optimizer step (`per_step` = micro x accumulation) are sorted by length
    before they are cut into micro-batches: a step trains on the same examples, with less padding."""

    def __init__(self, sampler, lengths: list[int], micro: int, per_step: int, group: bool):
        self.sampler, self.lengths, self.micro, self.per_step, self.group = sampler, lengths, micro, per_step, group

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.micro)

    def __iter__(self):
        order = list(self.sampler)
        for start in range(0, len(order), self.per_step):
            chunk = order[start:start + self.per_step]
            if self.group:
                chunk.sort(key=lambda i: self.lengths[i])
            for i in range(0, len(chunk), self.micro):
                yield chunk[i:i + self.micro]


@functools.lru_cache(maxsize=1)
def keeps_2d_logits() -> bool:
    """Whether this transformers takes a 2-D boolean `logits_to_keep` (looked up once, not per micro-batch)."""
    return hasattr(importlib.import_module("transformers.modeling_utils"), "slice_logits_to_keep")


def output_loss(engine, batch: dict):
    """Eq. 8 as the model's own loss (the mean cross-entropy of the output tokens), with logits made
    only where an output token is predicted: the prompt's logits (most of a vocab-sized matrix per
    token) are never computed. Transformers without 2-D `logits_to_keep` masks get the full logits.
    No padding mask goes in: the batch is right-padded (collate), so causal attention alone keeps
    every real token from seeing padding, and only the padded positions, which carry no label, change;
    attention then runs its causal kernel instead of a full square under an explicit mask."""
    import torch.nn.functional as F

    if not keeps_2d_logits():
        return engine(**batch).loss
    target = batch["labels"][:, 1:]
    keep = F.pad(target != IGNORE, (0, 1))  # position t predicts token t + 1
    logits = engine(input_ids=batch["input_ids"], logits_to_keep=keep).logits
    return F.cross_entropy(logits.float(), target[target != IGNORE])


# ---------------------------------------------------------------- DeepSpeed set-up

def load_config(path: Path | None = None) -> dict:
    """The DeepSpeed config: --deepspeed-config if given, else the package's configs/zero3.json
    (package data, so an installed l4r finds it too). Keys starting with _ are dropped."""
    if path is None:
        from importlib.resources import files

        place = files("l4r") / "configs" / CONFIG_NAME
        if not place.is_file():
            raise UsageError(f"{place}: the packaged DeepSpeed config is missing; reinstall l4r "
                             "or pass --deepspeed-config")
    else:
        place = Path(path)
        if not place.is_file():
            raise UsageError(f"{place}: no such file")
    try:
        cfg = json.loads(place.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", str(place), exc.lineno) from None
    return {k: v for k, v in cfg.items() if not k.startswith("_")}


def fill_config(cfg: dict, micro: int, batch: int, world: int, on_gpu: bool, dtype: str,
                stage: int | None = None) -> dict:
    """Set the "auto" values: global batch = micro x accumulation x processes = `batch`; `dtype`
    bfloat16 is DeepSpeed's bf16 (bf16 weights, fp32 master copy) on GPU and bf16 autocast over fp32
    weights on CPU; `stage` (0-3) replaces the config's ZeRO stage."""
    if batch % (micro * world):
        raise UsageError(f"--batch-size {batch} is not a multiple of --micro-batch {micro} x {world} process(es)")
    cfg = json.loads(json.dumps(cfg))
    cfg["train_micro_batch_size_per_gpu"] = micro
    cfg["gradient_accumulation_steps"] = batch // (micro * world)
    cfg["train_batch_size"] = batch
    bf16 = dtype == "bfloat16"
    cfg["bf16"] = {**cfg.get("bf16", {}), "enabled": bf16 and on_gpu}
    cfg["torch_autocast"] = {"enabled": bf16 and not on_gpu, "dtype": "bfloat16"}
    cfg.pop("fp16", None)
    if stage is not None:
        cfg["zero_optimization"] = {**cfg.get("zero_optimization", {}), "stage": stage}
    return cfg


def pick_stage(opts, world: int, on_gpu: bool) -> int | None:
    """--zero-stage if given; else the config's stage (3 in the packaged one), except for the packaged
    config in one process on a CPU: ZeRO-0 there (one process has nothing to partition, and ZeRO-3
    only adds gathers and copies: slower and larger, docs/benchmarks.md). None keeps the config's."""
    if opts.zero_stage is not None or opts.ds_config is not None or world > 1 or on_gpu:
        return opts.zero_stage
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_dist() -> tuple[int, int, int, bool]:
    """(rank, local rank, world size, on GPU); one process without a launcher sets the env itself."""
    import torch

    if "RANK" not in os.environ:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0", LOCAL_RANK="0",
                          WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
    on_gpu = torch.cuda.is_available()
    os.environ.setdefault("DS_ACCELERATOR", "cuda" if on_gpu else "cpu")
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    if on_gpu:
        torch.cuda.set_device(local)
    import logging
    import warnings

    import deepspeed
    import deepspeed.ops
    from deepspeed.utils import logger as ds_logger

    if not on_gpu:  # the shared-memory op only speeds up inference all-reduce; skip its minutes-long JIT build
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.distributed")
    for handler in ds_logger.handlers:  # DeepSpeed logs to stdout; stdout carries data only
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    ds_logger.setLevel(logging.WARNING)
    deepspeed.init_distributed(dist_backend="nccl" if on_gpu else "gloo")
    return rank, local, int(os.environ["WORLD_SIZE"]), on_gpu


def attention_impl(on_gpu: bool) -> str:
    import importlib.util

    return "flash_attention_2" if on_gpu and importlib.util.find_spec("flash_attn") else "sdpa"


def load_model(source: str, on_gpu: bool, grad_ckpt: bool, ds_cfg: dict):
    """Model and tokenizer; under ZeRO-3 the weights are partitioned while they load (zero.Init).
    The weights are bf16 where DeepSpeed's bf16 is on (GPU), else fp32 (CPU autocast keeps fp32 weights)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.integrations import HfDeepSpeedConfig

    tok = AutoTokenizer.from_pretrained(source)
    if tok.eos_token_id is None:
        raise UsageError(f"{source}: the tokenizer has no eos token")
    attn = attention_impl(on_gpu)
    keep = HfDeepSpeedConfig(ds_cfg)  # noqa: F841 -- must stay alive while from_pretrained runs
    dtype = torch.bfloat16 if ds_cfg["bf16"]["enabled"] else torch.float32
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype,
                                                 attn_implementation=attn)
    del keep
    model.config.use_cache = False
    if grad_ckpt:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5 name
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, tok, attn


# ---------------------------------------------------------------- training

def peak_memory_mb(on_gpu: bool) -> float:
    import resource

    import torch

    if on_gpu:
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def all_sum(values: list[float], device) -> list[float]:
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def read_log(path: Path, upto: int) -> list[dict]:
    if not path.exists():
        return []
    return [r for r in read_jsonl(path) if r.get("step", 0) <= upto]


def write_json(path: Path, rec: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rec, indent=1) + "\n")


def write_log(path: Path, rows: list[dict]) -> None:
    from ..io import write_jsonl

    write_jsonl(path, rows)


def save_model(engine, model, tok, out: Path, rank: int) -> None:
    """Gather the ZeRO-3 partitions (engine.save_16bit_model) and write a from_pretrained folder."""
    import torch
    import torch.distributed as dist
    from safetensors.torch import save_file

    stage = out / ".weights"
    engine.save_16bit_model(str(stage), "weights.pt")  # every rank takes part in the gather
    if rank == 0:
        state = torch.load(stage / "weights.pt", map_location="cpu", weights_only=True, mmap=True)
        tied = getattr(model.config, "tie_word_embeddings", False)
        # tied lm_head shares the embedding; from_pretrained re-ties it (safetensors refuses shared tensors)
        state = {k: v.contiguous() for k, v in state.items() if not (tied and k == "lm_head.weight")}
        with atomic_path(out / "model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})
        for f in stage.iterdir():
            f.unlink()
        stage.rmdir()
        model.config.use_cache = True
        model.config.save_pretrained(out)
        if model.generation_config is not None:
            model.generation_config.save_pretrained(out)
        tok.save_pretrained(out)
    dist.barrier()


@dataclass
class Options:
    """How `l4r finetune` trains (checked when made): global `batch_size` = `micro_batch` x
    accumulation x processes; `max_steps`/`sample` cut the run short; `save_every` writes DeepSpeed
    checkpoints that `resume` continues from; `ds_config` overrides the packaged ZeRO-3 config and
    `zero_stage` (0-3) its stage (None: pick_stage); `dtype` auto is bfloat16 on GPU and on CPUs with bf16 matrix
    instructions (autocast over fp32 weights there), else float32; `group_by_length` sorts each
    step's examples by length before cutting them into micro-batches (less padding)."""
    model: str = "smollm2"
    lr: float = 2e-5
    epochs: int = 3
    batch_size: int = 16
    micro_batch: int = 4
    max_len: int = 2048
    warmup: int = 50
    seed: int = 0
    max_steps: int | None = None
    sample: int | None = None
    save_every: int | None = None
    resume: bool = False
    grad_ckpt: bool = True
    ds_config: Path | None = None
    zero_stage: int | None = None
    dtype: str = "auto"
    group_by_length: bool = True

    def __post_init__(self):
        for flag in ("lr", "epochs", "batch_size", "micro_batch", "max_len"):
            if getattr(self, flag) <= 0:
                raise UsageError(f"--{flag.replace('_', '-')} must be positive")
        if self.zero_stage not in (None, 0, 1, 2, 3):
            raise UsageError(f"--zero-stage must be 0, 1, 2 or 3, not {self.zero_stage}")
        if self.dtype not in ("auto", "float32", "bfloat16"):
            raise UsageError(f"--dtype must be auto, float32 or bfloat16, not {self.dtype!r}")


def run(instructions, out: Path, opts: Options) -> dict:
    """Fine-tune `opts.model` on instruction records; return the train_meta record (rank 0's view)."""
    with contextlib.redirect_stdout(sys.stderr):  # DeepSpeed also print()s; stdout carries data only
        return _run(instructions, Path(out), opts)


def _run(instructions, out: Path, opts: Options) -> dict:
    import torch

    from ..backends.hf import pick_dtype
    from ..backends.weights import resolve

    model_name, lr, epochs, batch_size, micro_batch = opts.model, opts.lr, opts.epochs, opts.batch_size, opts.micro_batch
    max_len, warmup, seed, max_steps = opts.max_len, opts.warmup, opts.seed, opts.max_steps
    cfg = load_config(opts.ds_config)
    rank, _, world, on_gpu = setup_dist()
    if world > 1 and str(instructions) == "-":
        raise UsageError("with several processes give the instructions as a file, not stdin")
    dtype = pick_dtype(opts.dtype, "cuda" if on_gpu else "cpu")
    cfg = fill_config(cfg, micro_batch, batch_size, world, on_gpu, dtype, pick_stage(opts, world, on_gpu))
    say = log if rank == 0 else (lambda *a: None)
    seed_all(seed)

    import deepspeed
    from torch.utils.data import DataLoader, DistributedSampler
    from transformers import get_cosine_schedule_with_warmup

    recs = read_instructions(instructions, opts.sample, seed)  # bad records fail before the model loads
    source = resolve(model_name)
    model, tok, attn = load_model(source, on_gpu, opts.grad_ckpt, cfg)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    data = [encode(r, tok, max_len) for r in recs]
    gas = cfg["gradient_accumulation_steps"]
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed)
    batches = StepBatches(sampler, [len(d["input_ids"]) for d in data], micro_batch, micro_batch * gas,
                          opts.group_by_length)
    loader = DataLoader(data, batch_sampler=batches, collate_fn=lambda b: collate(b, pad_id))
    total = len(loader) * epochs // gas
    if max_steps:
        total = min(total, max_steps)
    if total < 1:
        raise UsageError(f"{len(data)} examples make no optimizer step of {batch_size}: lower --batch-size")
    autocast = cfg["torch_autocast"]["enabled"]
    say(f"finetune: {model_name} ({source}), {len(data)} examples ({sum(d['truncated'] for d in data)} truncated "
        f"to {max_len} tokens), attention {attn}, {world} process(es) on {'GPU' if on_gpu else 'CPU'}, "
        f"ZeRO-{cfg['zero_optimization']['stage']}, {dtype}{' autocast' if autocast else ''}, "
        f"batch {batch_size} = {micro_batch} x {gas} x {world}, {total} steps")

    fused = {} if on_gpu else {"fused": True}  # one kernel for all of AdamW on CPU (torch's default loops per tensor)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=0.0, **fused)
    engine, _, _, scheduler = deepspeed.initialize(
        model=model, optimizer=optimizer, config=cfg,
        lr_scheduler=lambda opt: get_cosine_schedule_with_warmup(opt, warmup, total))
    ckpt_dir = out / "checkpoints"
    done = 0
    if opts.resume:
        path, _ = engine.load_checkpoint(str(ckpt_dir)) if ckpt_dir.exists() else (None, None)
        done = engine.global_steps if path else 0
        say(f"finetune: resumed from {path} at step {done}" if path else "finetune: no checkpoint, starting fresh")
    rows = read_log(out / "train_log.jsonl", done) if rank == 0 and done else []
    local = world == 1 and cfg["zero_optimization"]["stage"] < 2  # nothing to reduce: skip DeepSpeed's flatten-and-copy
    plan = Plan(gas, total, done, ckpt_dir, rank, on_gpu, local)
    train_meta = _loop(engine, scheduler, loader, sampler, plan, opts, out, rows, say)
    save_model(engine, model, tok, out, rank)
    params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())  # ZeRO-3 partitions report 0
    train_meta.update(model=model_name, source=source, attention=attn, world_size=world,
                      device="cuda" if on_gpu else "cpu", dtype=dtype, autocast=autocast, params=params,
                      zero_stage=cfg["zero_optimization"]["stage"], examples=len(data), lr=lr, epochs=epochs,
                      batch_size=batch_size, micro_batch=micro_batch, accumulation=gas, max_len=max_len,
                      warmup=warmup, seed=seed, gradient_checkpointing=opts.grad_ckpt,
                      group_by_length=opts.group_by_length, deepspeed=deepspeed.__version__)
    if rank == 0:
        write_json(out / "train_meta.json", train_meta)
        say(f"finetune: {train_meta['steps']} steps in {train_meta['seconds']:.1f} s "
            f"({train_meta['seconds_per_step']:.2f} s/step, {train_meta['tokens_per_s']:.0f} tokens/s, "
            f"peak {train_meta['peak_memory_mb']:.0f} MiB); model in {out}")
    return train_meta


@dataclass
class Plan:
    """Where the training loop starts and ends: `gas` micro-batches a step, steps `done`..`total`."""
    gas: int
    total: int
    done: int
    ckpt_dir: Path
    rank: int
    on_gpu: bool
    local: bool = False  # one process, gradients not partitioned: backward runs under engine.no_sync()


def _loop(engine, scheduler, loader, sampler, plan: Plan, opts: Options, out: Path, rows: list, say) -> dict:
    """Optimizer steps `done`..`total`; accumulation may run across an epoch boundary."""
    gas, total, done, ckpt_dir, rank = plan.gas, plan.total, plan.done, plan.ckpt_dir, plan.rank
    epochs, save_every, seed = opts.epochs, opts.save_every, opts.seed
    device = engine.device
    per_epoch = len(loader)
    consumed = done * gas  # micro-batches already seen, so a resumed run skips exactly these
    epoch, skip = divmod(consumed, per_epoch)
    step, t0 = done, time.time()
    window = {"loss": 0.0, "micro": 0, "tokens": 0, "start": time.time()}
    n_tokens = 0
    engine.train()
    while step < total and epoch < epochs:  # total <= epochs * per_epoch // gas
        sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if skip and i < skip:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            lr = scheduler.get_last_lr()[0]  # the rate this step uses
            loss = output_loss(engine, batch)
            with engine.no_sync() if plan.local else contextlib.nullcontext():
                engine.backward(loss)
            engine.step()
            window["loss"] += float(loss.detach())
            window["micro"] += 1
            window["tokens"] += int(batch["attention_mask"].sum())
            if engine.global_steps == step:
                continue
            step = engine.global_steps
            loss_sum, micro, tokens = all_sum([window["loss"], window["micro"], window["tokens"]], device)
            seconds = time.time() - window["start"]
            n_tokens += tokens
            row = {"step": step, "epoch": epoch, "loss": loss_sum / micro, "lr": lr,
                   "tokens": int(tokens), "tokens_per_s": tokens / max(seconds, 1e-9), "seconds": seconds}
            rows.append(row)
            say(f"finetune: step {step}/{total} loss {row['loss']:.4f} lr {row['lr']:.2e} "
                f"{row['tokens_per_s']:.0f} tokens/s")
            window = {"loss": 0.0, "micro": 0, "tokens": 0, "start": time.time()}
            if save_every and step % save_every == 0 and step < total:
                engine.save_checkpoint(str(ckpt_dir), client_state={"step": step, "seed": seed})
                if rank == 0:
                    write_log(out / "train_log.jsonl", rows)
            if step >= total:
                break
        epoch, skip = epoch + 1, 0
    if save_every:
        engine.save_checkpoint(str(ckpt_dir), client_state={"step": step, "seed": seed})
    seconds = time.time() - t0
    if rank == 0:
        write_log(out / "train_log.jsonl", rows)
    peak = all_max(peak_memory_mb(plan.on_gpu), device)
    steps_run = step - done
    return {"steps": step, "steps_this_run": steps_run, "seconds": seconds,
            "seconds_per_step": seconds / max(steps_run, 1), "tokens": int(n_tokens),
            "tokens_per_s": n_tokens / max(seconds, 1e-9), "peak_memory_mb": peak,
            "first_loss": rows[0]["loss"] if rows else None, "last_loss": rows[-1]["loss"] if rows else None}


def all_max(value: float, device) -> float:
    import torch
    import torch.distributed as dist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())
