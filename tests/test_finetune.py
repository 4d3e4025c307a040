"""finetune: output-only labels and logits, left truncation of the input, length-grouped micro-batches,
and real DeepSpeed runs on a tiny Llama (one process on CPU with checkpoint/resume: ZeRO-3 under bf16
autocast and ZeRO-0 in float32; then ZeRO-3 in two processes under torchrun); the saved folder must
reload with from_pretrained, keep its tied embeddings, fit the data better and generate."""
from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from l4r.errors import DataError, UsageError
from l4r.io import write_jsonl

INSTRUCTION = "Rank the candidate movies based on user historical interactions and make the top k recommendations."
MOVIES = ["Toy Story (1995)", "Heat (1995)", "Casino (1995)", "Babe (1995)", "Fargo (1996)", "Star Wars (1977)",
          "Contact (1997)", "Scream (1996)", "Twister (1996)", "Evita (1996)"]
TRAIN = ["--lr", "1e-3", "--batch-size", "4", "--micro-batch", "2", "--warmup", "1", "--max-steps", "6"]


def records(n: int = 16) -> list[dict]:
    out = []
    for i in range(n):
        rng = random.Random(i)
        hist, cands = rng.sample(MOVIES, 5), rng.sample(MOVIES, 4)
        out.append({"id": f"u{i}", "task": "listwise", "instruction": INSTRUCTION,
                    "input": "Interaction History: " + "; ".join(hist) + "\nCandidate Items: " + "; ".join(cands),
                    "output": "; ".join(sorted(cands))})
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from l4r.tiny import build

    d = tmp_path_factory.mktemp("finetune")
    recs = records()
    write_jsonl(d / "ins.jsonl", recs)
    model = build(d / "m", texts=[r["input"] + "\n" + r["output"] for r in recs])
    return d, recs, model


def cli(*args, timeout=240, launcher=()) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"  # a tiny model: threads only add contention on a busy machine
    proc = subprocess.run([sys.executable, *launcher, "-m", "l4r", "finetune", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, proc.stdout[-2000:]  # stdout carries the meta record only
    return json.loads(lines[0])


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def data_loss(model_dir, recs) -> float:
    """Mean output-token cross-entropy of a saved model on the training examples."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from l4r.stages.finetune import collate, encode

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    batch = collate([encode(r, tok, 2048) for r in recs], tok.pad_token_id)
    with torch.no_grad():
        return float(model(**batch).loss)


def check_saved(out: Path, base: Path, recs) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied
    saved = load_file(out / "model.safetensors")
    assert torch.equal(model.model.embed_tokens.weight, saved["model.embed_tokens.weight"])
    assert data_loss(out, recs) < data_loss(base, recs) - 0.2  # the gathered ZeRO-3 weights are the trained ones
    tok = AutoTokenizer.from_pretrained(out)
    x = tok("Below is an instruction", return_tensors="pt")
    gen = model.generate(**x, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert gen.shape[1] > x["input_ids"].shape[1]


# ---------------------------------------------------------------- data

def test_labels_cover_only_output_and_eos(tiny):
    from transformers import AutoTokenizer

    from l4r.prompts import render
    from l4r.stages.finetune import IGNORE, collate, encode

    _, recs, model = tiny
    tok = AutoTokenizer.from_pretrained(model)
    enc = encode(recs[0], tok, 2048)
    prompt = tok(render(recs[0]["instruction"], recs[0]["input"]))["input_ids"]
    assert enc["input_ids"][:len(prompt)] == prompt and not enc["truncated"]
    assert enc["labels"][:len(prompt)] == [IGNORE] * len(prompt)
    assert enc["labels"][len(prompt):] == enc["input_ids"][len(prompt):]
    assert enc["labels"][-1] == tok.eos_token_id
    assert tok.decode(enc["labels"][len(prompt):-1]) == recs[0]["output"]
    batch = collate([enc, encode({**recs[1], "output": "Heat (1995)"}, tok, 2048)], tok.pad_token_id)
    pad = batch["attention_mask"] == 0
    assert pad.any() and (batch["labels"][pad] == IGNORE).all()


def test_truncation_cuts_input_from_the_left_and_keeps_output(tiny):
    from transformers import AutoTokenizer

    from l4r.stages.finetune import IGNORE, encode

    _, recs, model = tiny
    tok = AutoTokenizer.from_pretrained(model)
    full = len(encode(recs[0], tok, 2048)["input_ids"])
    for limit in (full - 3, full - 25):
        enc = encode(recs[0], tok, limit)
        assert enc["truncated"] and len(enc["input_ids"]) <= limit
        n = enc["labels"].count(IGNORE)
        assert tok.decode(enc["input_ids"][n:-1]) == recs[0]["output"]
        prompt = tok.decode(enc["input_ids"][:n])
        assert prompt.startswith("Below is an instruction") and recs[0]["input"].endswith(prompt.split("### Input:\n")[1]
                                                                                          .split("\n\n### Response")[0])
        assert "Interaction History" not in prompt or limit == full - 3
    with pytest.raises(DataError, match="output: .*over --max-len 40"):
        encode({**recs[0], "_where": ("ins.jsonl", 1)}, tok, 40)


def test_logits_only_at_outputs_give_the_models_own_loss(tiny):
    """output_loss makes logits only where an output token is predicted and passes no padding mask;
    the loss must equal the model's full-logits loss with the mask on the same right-padded batch
    (and so must its gradient)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from l4r.stages.finetune import collate, encode, output_loss

    _, recs, model_dir = tiny
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    batch = collate([encode(r, tok, 2048) for r in recs[:4]], tok.pad_token_id)
    assert (batch["attention_mask"] == 0).any()    # padded rows: output_loss passes no mask
    full = model(**batch).loss
    (g_full,) = torch.autograd.grad(full, model.model.embed_tokens.weight)
    mine = output_loss(model, batch)
    (g_mine,) = torch.autograd.grad(mine, model.model.embed_tokens.weight)
    assert float(mine.detach()) == pytest.approx(float(full.detach()), rel=1e-5)
    assert torch.allclose(g_mine, g_full, rtol=1e-4, atol=1e-7)


def test_length_grouping_keeps_each_steps_examples_and_cuts_padding():
    from torch.utils.data import DistributedSampler

    from l4r.stages.finetune import StepBatches

    rng = random.Random(3)
    lengths = [rng.randint(20, 600) for _ in range(37)]
    sampler = DistributedSampler(lengths, num_replicas=1, rank=0, shuffle=True, seed=5)
    plain, grouped = (list(StepBatches(sampler, lengths, 4, 8, group)) for group in (False, True))
    assert len(plain) == len(grouped) == len(StepBatches(sampler, lengths, 4, 8, True)) == 10
    steps = lambda bs: [sorted(sum(bs[i:i + 2], [])) for i in range(0, len(bs), 2)]  # noqa: E731
    assert steps(plain) == steps(grouped)  # the same examples in every optimizer step
    assert sorted(sum(grouped, [])) == list(range(37))
    for a, b in zip(grouped[::2], grouped[1::2]):  # a step's two micro-batches: the shorter four, then the longer
        assert max(lengths[i] for i in a) <= min(lengths[i] for i in b)
    padded = lambda bs: sum(len(b) * max(lengths[i] for i in b) for b in bs)  # noqa: E731
    assert padded(grouped) < 0.9 * padded(plain)
    assert grouped == list(StepBatches(sampler, lengths, 4, 8, True))  # deterministic within the epoch
    sampler.set_epoch(1)
    assert list(StepBatches(sampler, lengths, 4, 8, True)) != grouped


def test_bad_record_and_batch_flags(tiny, tmp_path):
    from l4r.stages.finetune import Options, fill_config, load_config, read_instructions

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(records(1)[0]) + "\n" + json.dumps({"id": "x", "task": "t", "instruction": "i"}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: input: missing"):
        read_instructions(bad)
    assert [r["id"] for r in read_instructions(tiny[0] / "ins.jsonl", 5, 0)] == \
        [r["id"] for r in read_instructions(tiny[0] / "ins.jsonl", 5, 0)] != [f"u{i}" for i in range(5)]
    cfg = fill_config(load_config(), 4, 16, 2, on_gpu=False, dtype="float32")
    assert (cfg["gradient_accumulation_steps"], cfg["train_batch_size"], cfg["bf16"]["enabled"]) == (2, 16, False)
    assert cfg["zero_optimization"]["stage"] == 3 and "_comment" not in cfg and not cfg["torch_autocast"]["enabled"]
    gpu = fill_config(load_config(), 4, 16, 1, on_gpu=True, dtype="bfloat16")
    assert gpu["bf16"]["enabled"] is True and not gpu["torch_autocast"]["enabled"]  # bf16 weights, fp32 master
    cpu = fill_config(load_config(), 4, 16, 1, on_gpu=False, dtype="bfloat16", stage=0)
    assert cpu["bf16"]["enabled"] is False and cpu["torch_autocast"] == {"enabled": True, "dtype": "bfloat16"}
    assert cpu["zero_optimization"]["stage"] == 0 and cpu["zero_optimization"]["overlap_comm"]
    with pytest.raises(UsageError):
        fill_config(load_config(), 4, 16, 3, on_gpu=False, dtype="float32")
    for bad in ({"zero_stage": 4}, {"dtype": "float16"}):
        with pytest.raises(UsageError, match="zero-stage|dtype"):
            Options(**bad)


def test_zero_stage_default_is_0_only_for_the_packaged_config_in_one_cpu_process(tmp_path):
    from l4r.stages.finetune import Options, fill_config, load_config, pick_stage

    assert pick_stage(Options(), 1, on_gpu=False) == 0
    assert pick_stage(Options(), 2, on_gpu=False) is None and pick_stage(Options(), 1, on_gpu=True) is None
    assert pick_stage(Options(zero_stage=3), 1, on_gpu=False) == 3
    assert pick_stage(Options(ds_config=tmp_path / "mine.json"), 1, on_gpu=False) is None
    kept = fill_config(load_config(), 1, 8, 2, on_gpu=False, dtype="float32", stage=pick_stage(Options(), 2, False))
    assert kept["zero_optimization"]["stage"] == 3  # several processes: the paper's ZeRO-3


def test_one_zero3_config_in_the_package_and_an_override(tmp_path):
    """The ZeRO-3 config lives once, as package data (an installed l4r finds it); --deepspeed-config
    replaces it; a missing or broken override is refused."""
    from importlib.resources import files

    from l4r.stages.finetune import load_config

    packaged = files("l4r") / "configs" / "zero3.json"
    shipped = json.loads(packaged.read_text())
    assert load_config() == {k: v for k, v in shipped.items() if not k.startswith("_")}
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'l4r = ["configs/*.json"]' in pyproject  # package data: installed with l4r
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"_note": "dropped", "zero_optimization": {"stage": 2}, "train_batch_size": "auto"}))
    assert load_config(mine) == {"zero_optimization": {"stage": 2}, "train_batch_size": "auto"}
    with pytest.raises(UsageError, match="nope.json: no such file"):
        load_config(tmp_path / "nope.json")
    mine.write_text('{"stage": 3,}')
    with pytest.raises(DataError, match=r"mine\.json:1: not valid JSON"):
        load_config(mine)


# ---------------------------------------------------------------- real DeepSpeed runs

@pytest.mark.parametrize("stage,dtype", [(3, "bfloat16"), (0, "float32")])
def test_one_process_trains_saves_and_resumes(tiny, stage, dtype):
    """ZeRO-3 (the paper's, asked for) under bf16 autocast, and ZeRO-0 (the default in one CPU process)
    in float32: each trains, saves a from_pretrained folder, and a run resumed from its step-3
    checkpoint repeats steps 4..6."""
    d, recs, model = tiny
    out = d / f"one-{stage}"
    flags = ("--zero-stage", stage) if stage == 3 else ()
    meta = cli(d / "ins.jsonl", "--model", model, "--out", out, *TRAIN, "--save-every", "3", "--dtype", dtype, *flags)
    assert (meta["world_size"], meta["zero_stage"], meta["steps"], meta["attention"]) == (1, stage, 6, "sdpa")
    assert (meta["dtype"], meta["autocast"]) == (dtype, dtype == "bfloat16")
    assert meta["gradient_checkpointing"] and meta["accumulation"] == 2 and meta["tokens_per_s"] > 0
    log = read_log(out / "train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert log[-1]["loss"] < log[0]["loss"] - 0.3
    assert json.loads((out / "train_meta.json").read_text())["steps"] == 6
    check_saved(out, model, recs)

    # resume from the step-3 checkpoint: steps 4..6 repeat the uninterrupted run
    again = d / f"again-{stage}"
    shutil.copytree(out / "checkpoints", again / "checkpoints")
    (again / "checkpoints" / "latest").write_text("global_step3")
    (again / "train_log.jsonl").write_text("\n".join(json.dumps(r) for r in log[:3]) + "\n")
    meta2 = cli(d / "ins.jsonl", "--model", model, "--out", again, *TRAIN, "--resume", "--no-grad-checkpointing",
                "--dtype", dtype, *flags)
    assert (meta2["steps"], meta2["steps_this_run"]) == (6, 3)
    log2 = read_log(again / "train_log.jsonl")
    assert [r["step"] for r in log2] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(log[3:], log2[3:]):
        assert b["loss"] == pytest.approx(a["loss"], abs=1e-4) and b["lr"] == pytest.approx(a["lr"])


def test_zero3_two_processes_under_torchrun(tiny):
    if importlib.util.find_spec("torch.distributed.run") is None or not shutil.which("torchrun"):
        pytest.skip("torchrun is not available")
    d, recs, model = tiny
    out = d / "two"
    meta = cli(d / "ins.jsonl", "--model", model, "--out", out, *TRAIN, "--no-grad-checkpointing", "--dtype", "float32",
               launcher=("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"))
    assert (meta["world_size"], meta["accumulation"], meta["steps"], meta["zero_stage"]) == (2, 1, 6, 3)  # ZeRO-3 default
    log = read_log(out / "train_log.jsonl")
    assert log[-1]["loss"] < log[0]["loss"] - 0.3
    check_saved(out, model, recs)
