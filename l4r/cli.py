"""The command line: flags in, stage `run` out. The only place errors become exit codes
(1 bad data, 2 bad usage). Heavy imports happen inside the commands that need them."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import L4RError
from .models import PATIENCE

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="l4r: Llama4Rec (LLM-augmented recommendation) as JSONL stages. "
                       "Each command reads and writes JSONL; `-` is stdin/stdout; .gz is transparent.")

SEED = typer.Option(0, "--seed", help="random seed: the same seed and inputs give the same output")
DATA = typer.Option(Path("out/ml-100k/data"), "--data", "-d", help="prepared dataset folder (from `l4r prep`)")

ANSWER = typer.Option("labels", help="labels: candidates shown as `A. title`, the LLM ranks by its label "
                      "probabilities (one forward pass); titles: the paper's generated titles, matched back")


@app.callback()
def _root(local_rank: int = typer.Option(-1, "--local_rank", hidden=True,
                                         help="set by the deepspeed launcher (ranks come from the env)")) -> None:
    """l4r: Llama4Rec (LLM-augmented recommendation) as JSONL stages."""


def main() -> None:
    try:
        app(standalone_mode=False)
    except L4RError as exc:
        print(f"l4r: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click's usage errors (typer vendors click, so match by shape)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code or 2)
        raise


def run_module(entry) -> None:
    """Run a `python -m l4r.<module>` entry point with the CLI's error-to-exit-code mapping."""
    try:
        entry()
    except L4RError as exc:
        print(f"l4r: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


@app.command(epilog="Example: l4r prep --dataset ml-100k --raw ../shared/data/raw/ml-100k --out out/ml-100k/data")
def prep(dataset: str = typer.Option("ml-100k", help="ml-100k, ml-1m, bookcrossing, recbole, csv, jsonl"),
         raw: Optional[Path] = typer.Option(None, help="folder with the original files; must exist unless "
                                            "--download [default: data/raw/DATASET, downloaded into when missing]"),
         out: Path = typer.Option(..., "--out", "-o", help="folder to write the prepared dataset into"),
         offline: bool = typer.Option(False, help="never try the network"),
         download: bool = typer.Option(False, help="download the dataset into --raw (created) when its files "
                                       "are not there"),
         min_rating: Optional[float] = typer.Option(None, help="keep only ratings >= this (implicit feedback) "
                                                    "[default: 1 for bookcrossing (drops its implicit 0s), else all]"),
         core: Optional[int] = typer.Option(None, help="iterated k-core filter on users and items "
                                            "[default: 5 for bookcrossing, else 0: none]"),
         seed: int = typer.Option(0, help="seed of the random history order of data without timestamps"),
         user_col: Optional[str] = typer.Option(None, help="csv/jsonl: user column [default: user]"),
         item_col: Optional[str] = typer.Option(None, help="csv/jsonl: item column [default: item]"),
         rating_col: Optional[str] = typer.Option(None, help="csv/jsonl: rating column [default: rating, optional]"),
         time_col: Optional[str] = typer.Option(None, help="csv/jsonl: timestamp column, seconds or ISO date "
                                                "[default: timestamp, optional]"),
         title_col: Optional[str] = typer.Option(None, help="csv/jsonl: item title column [default: title]"),
         items: Optional[Path] = typer.Option(None, help="csv/jsonl: item table [default: items.* beside --raw]"),
         users: Optional[Path] = typer.Option(None, help="csv/jsonl: user table [default: users.* beside --raw]"),
         sep: Optional[str] = typer.Option(None, help="csv: field separator [default: ',' ; tab for .tsv/.txt]")):
    """Original dataset files -> items, users, train/valid/test (interaction records), stats.

    Leave-one-out per user in (timestamp, item id) order: last = test, second last = valid.
    --raw is a folder (or, for csv/jsonl, the interaction table itself). Prints the stats record on stdout.
    """
    from .io import write_jsonl
    from .stages import prep as stage

    columns = {"user": user_col, "item": item_col, "rating": rating_col, "time": time_col, "title": title_col}
    options = {"columns": columns, "items": items, "users": users, "sep": sep}
    opts = stage.Options(offline=offline, download=download, min_rating=min_rating, core=core, seed=seed,
                         table=options)
    stats = stage.run(dataset, raw, out, opts)
    write_jsonl("-", [stats])


@app.command(epilog="Example: l4r backbone --model mf --data out/ml-100k/data --out out/ml-100k/mf")
def backbone(model: str = typer.Option("mf", "--model", "-m", help="mf, lightgcn, mixgcf, sgl, sasrec, bert4rec, "
                                       "cl4srec; deepfm, nfm, dcn, afm, xdeepfm, autoint"),
             data: Path = DATA,
             out: Path = typer.Option(..., "--out", "-o", help="folder for candidates.jsonl, embeddings.jsonl, model.pt"),
             k: int = typer.Option(10, "--k", help="k': candidates kept per user"),
             seed: int = SEED,
             hp: list[str] = typer.Option([], "--hp", help="hyper-parameter key=value (repeatable), e.g. --hp dim=64"),
             extra: Optional[Path] = typer.Option(None, help="augmentation file: triple records (direct), "
                                                  "or attribute records (rating)"),
             sequences: Optional[Path] = typer.Option(None, help="sequence records replacing training sequences"),
             load: Optional[Path] = typer.Option(None, help="load this checkpoint instead of training"),
             patience: int = typer.Option(PATIENCE, help="early stopping: validation evaluations in a row without a new best"),
             threads: int = typer.Option(1, help="torch CPU threads"),
             refit: bool = typer.Option(True, "--refit/--no-refit", help="top-k: serve the test split from a model "
                                        "retrained on train + valid for the validation-selected epochs")):
    """Train a conventional recommender; write its candidates (top-k' per user and split) and user embeddings.

    Reads a prepared dataset (+ optional triple / sequence / attribute records). Writes candidates,
    embedding records, model.pt and meta.json into --out.
    """
    from .stages import backbone as stage

    opts = stage.Options(k=k, seed=seed, hp=stage.parse_hp(hp), extra=extra, sequences=sequences, load=load,
                         patience=patience, threads=threads, refit=refit)
    stage.run(model, data, out, opts)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@app.command(epilog="Example: l4r instruct --data out/ml-100k/data --candidates out/ml-100k/mf/candidates.jsonl "
                    "--embeddings out/ml-100k/mf/embeddings.jsonl --per-task 200 > instructions.jsonl")
def instruct(data: Path = DATA,
             candidates: Optional[Path] = typer.Option(None, help="backbone candidates (split train is used)"),
             embeddings: Optional[Path] = typer.Option(None, help="backbone user embeddings (similar users)"),
             rating_predictions: Optional[Path] = typer.Option(None, help="rating backbone predictions (rating task)"),
             tasks: str = typer.Option("listwise,pointwise,pairwise", help="comma list of listwise, pointwise, "
                                       "pairwise, sequential, rating"),
             per_task: int = typer.Option(5000, help="sample at most N instructions per task (0: all)"),
             augment: bool = typer.Option(True, "--augment/--no-augment", help="prompt augmentation (off: IFT)"),
             history: int = typer.Option(10, help="most recent history items shown"),
             answer: str = ANSWER,
             seed: int = SEED,
             out: str = typer.Option("-", "--out", "-o", help="output JSONL (- for stdout)")):
    """Build instruction-tuning data (instruction records) from the training split only."""
    from .io import write_jsonl
    from .stages import instruct as stage

    opts = stage.Options(candidates=candidates, embeddings=embeddings, rating_predictions=rating_predictions,
                         tasks=tuple(_csv(tasks)), per_task=per_task, seed=seed, augment=augment, history=history,
                         answer=answer)
    write_jsonl(out, stage.run(data, opts))


def _shard(value: Optional[str]):
    from .errors import UsageError

    if not value:
        return None
    try:
        k, n = (int(x) for x in value.split("/"))
    except ValueError:
        raise UsageError(f"--shard takes K/N, got {value!r}") from None
    if not 0 <= k < n:
        raise UsageError(f"--shard {value}: need 0 <= K < N")
    return k, n


@app.command(epilog="Example: l4r prompt --data out/ml-100k/data --candidates out/ml-100k/mf/candidates.jsonl "
                    "--embeddings out/ml-100k/mf/embeddings.jsonl | l4r llm --model smollm2 > completions.jsonl")
def prompt(data: Path = DATA,
           candidates: Optional[Path] = typer.Option(None, help="backbone candidates (top-k tasks)"),
           embeddings: Optional[Path] = typer.Option(None, help="backbone user embeddings (similar user)"),
           rating_predictions: Optional[Path] = typer.Option(None, help="rating backbone predictions (rating task)"),
           split: str = typer.Option("test", help="valid, test, or both as valid,test (in that order)"),
           tasks: str = typer.Option("listwise", help="comma list of listwise, pointwise, rating"),
           augment: bool = typer.Option(True, "--augment/--no-augment", help="prompt augmentation (off: IFT)"),
           reachable_only: bool = typer.Option(False, help="skip users whose held-out item is not a candidate "
                                               "(identical metrics, less LLM work)"),
           history: int = typer.Option(10, help="most recent history items shown"),
           shard: Optional[str] = typer.Option(None, help="K/N: keep only shard K of N (by user)"),
           answer: str = ANSWER,
           seed: int = SEED,
           out: str = typer.Option("-", "--out", "-o", help="output JSONL (- for stdout)")):
    """Build test-time prompts (prompt records) with similar-user and backbone-prediction augmentation."""
    from .io import write_jsonl
    from .stages import prompt as stage

    opts = stage.Options(candidates=candidates, embeddings=embeddings, rating_predictions=rating_predictions,
                         split=split, tasks=tuple(_csv(tasks)), augment=augment, reachable_only=reachable_only,
                         seed=seed, history=history, shard=_shard(shard), answer=answer)
    write_jsonl(out, stage.run(data, opts))


@app.command(epilog="Example: l4r finetune instructions.jsonl --model smollm2 --out out/ml-100k/llm --epochs 3")
def finetune(instructions: str = typer.Argument("-", help="instruction records (JSONL; - for stdin)"),
             model: str = typer.Option("smollm2", "--model", "-m", help="smollm2 (embedded), a local folder or a hub id"),
             out: Path = typer.Option(..., "--out", "-o", help="folder for the tuned model, train_log.jsonl, "
                                      "train_meta.json, checkpoints/"),
             lr: float = typer.Option(2e-5, help="peak learning rate (AdamW)"),
             epochs: int = typer.Option(3),
             batch_size: int = typer.Option(16, help="global batch: micro batch x accumulation x processes"),
             micro_batch: int = typer.Option(4, help="examples per process per forward pass"),
             max_len: int = typer.Option(2048, help="context length; longer inputs lose their left part"),
             warmup: int = typer.Option(50, help="linear warm-up steps before the cosine decay"),
             seed: int = SEED,
             max_steps: Optional[int] = typer.Option(None, help="stop after N optimizer steps"),
             sample: Optional[int] = typer.Option(None, help="train on a seeded sample of N instructions"),
             save_every: Optional[int] = typer.Option(None, help="DeepSpeed checkpoint every N steps"),
             resume: bool = typer.Option(False, help="continue from the latest checkpoint in OUT/checkpoints"),
             grad_checkpointing: bool = typer.Option(True, "--grad-checkpointing/--no-grad-checkpointing"),
             deepspeed_config: Optional[Path] = typer.Option(None, help="DeepSpeed JSON [default: l4r/configs/zero3.json]"),
             zero_stage: Optional[int] = typer.Option(None, help="ZeRO stage 0-3 [default: the config's (3); 0 in one "
                                              "CPU process with the packaged config]"),
             dtype: str = typer.Option("auto", help="auto: bfloat16 on GPU and on CPUs with bf16 matrix "
                                       "instructions (autocast, fp32 weights), else float32; or float32, bfloat16"),
             group_by_length: bool = typer.Option(True, "--group-by-length/--no-group-by-length",
                                                  help="sort each step's examples by length into micro-batches")):
    """Full-parameter instruction tuning with DeepSpeed ZeRO-3; loss on the output tokens only (paper Eq. 8).

    Reads instruction records. Writes into --out a from_pretrained folder (model.safetensors, config,
    tokenizer), train_log.jsonl, train_meta.json (also printed on stdout) and checkpoints/.
    Runs in one process, under `torchrun --nproc_per_node N -m l4r finetune ...` or under
    `deepspeed --module l4r finetune ...`.
    """
    from .io import write_jsonl
    from .stages import finetune as stage

    opts = stage.Options(model=model, lr=lr, epochs=epochs, batch_size=batch_size, micro_batch=micro_batch,
                         max_len=max_len, warmup=warmup, seed=seed, max_steps=max_steps, sample=sample,
                         save_every=save_every, resume=resume, grad_ckpt=grad_checkpointing,
                         ds_config=deepspeed_config, zero_stage=zero_stage, dtype=dtype,
                         group_by_length=group_by_length)
    meta = stage.run(instructions, out, opts)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        write_jsonl("-", [meta])


@app.command(epilog="Example: l4r prompt ... | l4r llm --backend openai --model gpt-4o-mini --base-url URL > completions.jsonl")
def llm(prompts: str = typer.Argument("-", help="prompt records (- for stdin)"),
        model: str = typer.Option("smollm2", "--model", "-m", help="smollm2 (embedded), a local folder or a hub id"),
        backend: str = typer.Option("hf", help="hf (transformers), vllm (GPU), openai (any compatible endpoint)"),
        out: str = typer.Option("-", "--out", "-o", help="completion records (a file enables resume)"),
        batch_size: int = typer.Option(16, help="prompts per batch"),
        answer: str = typer.Option("auto", help="auto: as each prompt asks; labels: rank by the label "
                                   "probabilities (listwise, pairwise, sequential); titles: generate and parse"),
        permutations: int = typer.Option(1, help="labels, listwise/sequential: average N cyclic shifts of the "
                                         "candidate order (pairwise always scores both orders)"),
        max_new_tokens: int = typer.Option(0, help="0: per task (listwise 160, pairwise 32, ...)"),
        resume: bool = typer.Option(True, "--resume/--restart", help="skip ids already answered in OUT.partial"),
        dry_run: bool = typer.Option(False, help="print the request count and token estimate, call nothing"),
        device: Optional[str] = typer.Option(None, help="hf: cpu or cuda (default: cuda if available)"),
        dtype: str = typer.Option("auto", help="hf: float32, bfloat16, or auto (bfloat16 on CUDA and on CPUs with "
                                  "AMX-BF16 or AVX512-BF16, else float32)"),
        base_url: Optional[str] = typer.Option(None, help="openai: endpoint base URL (default $OPENAI_BASE_URL)"),
        api_key_env: str = typer.Option("OPENAI_API_KEY", help="openai: env variable holding the key"),
        concurrency: int = typer.Option(8, help="openai: requests in flight"),
        timeout: float = typer.Option(60.0, help="openai: seconds per request"),
        max_retries: int = typer.Option(5, help="openai: retries on 429/5xx/timeouts"),
        cost_prompt: float = typer.Option(0.0, help="openai: price per 1k prompt tokens"),
        cost_completion: float = typer.Option(0.0, help="openai: price per 1k completion tokens"),
        tensor_parallel: int = typer.Option(1, help="vllm: tensor parallel size"),
        shard: Optional[str] = typer.Option(None, help="K/N: answer only shard K of N (by user); shards "
                                            "concatenate back to the whole")):
    """Answer prompt records with an LLM; write completion records (ranked item ids / ratings).

    Labelled candidates are ranked by the LLM's own label probabilities (one forward pass, nothing to
    parse); ratings are scored over the dataset's scale; --answer titles generates and parses, counting
    unparseable answers, hallucinated and duplicate items. Stats on stderr and in OUT.stats.json; a
    prompt whose engine call failed is recorded failed, the run exits 1, and a rerun asks only those.
    """
    from .stages import llm as stage

    engine = {"hf": {"device": device, "dtype": dtype},
              "vllm": {"tensor_parallel_size": tensor_parallel},
              "openai": {"base_url": base_url, "api_key_env": api_key_env, "concurrency": concurrency,
                         "timeout": timeout, "max_retries": max_retries, "cost_per_1k_prompt": cost_prompt,
                         "cost_per_1k_completion": cost_completion}}.get(backend, {})
    stage.run(prompts, out, stage.Options(backend=backend, model=model, batch_size=batch_size,
                                          max_new_tokens=max_new_tokens, answer=answer, permutations=permutations,
                                          resume=resume, dry_run=dry_run, shard=_shard(shard), engine=engine))


@app.command(epilog="Example: l4r llm prompts.jsonl | l4r aggregate --data out/ml-100k/data "
                    "--candidates out/ml-100k/mf/candidates.jsonl > predictions.jsonl")
def aggregate(completions: str = typer.Argument("-", help="completion records (- for stdin; '' for none)"),
              data: Path = DATA,
              task: str = typer.Option("topk", help="topk or rating"),
              mode: str = typer.Option("listwise", help="top-k: listwise or pointwise"),
              candidates: Optional[Path] = typer.Option(None, help="backbone candidates (top-k)"),
              predictions: Optional[Path] = typer.Option(None, help="rating backbone predictions (rating)"),
              split: str = typer.Option("test", help="valid or test"),
              alpha1: float = typer.Option(0.5, help="alpha1 of Eq. 7 (weight)"),
              alpha2: float = typer.Option(0.1, help="alpha2 of Eq. 7 (cut-off, < 1)"),
              scheme: str = typer.Option("adaptive", help="adaptive, uniform (ablation), llm (IFT), rec (backbone)"),
              uniform: bool = typer.Option(False, "--uniform", help="same as --scheme uniform"),
              c: float = typer.Option(1.0, "--C", help="utility step C"),
              utility: str = typer.Option("position", help="top-k U_LLM: position (paper: -p*C for LLM position p) "
                                          "or score (the LLM's own: log p of label ranking, expected rating)"),
              use: str = typer.Option("expected", help="rating: expected (probability-weighted) or rating (greedy)"),
              out: str = typer.Option("-", "--out", "-o", help="prediction records (- for stdout)")):
    """Adaptive aggregation of LLM and backbone answers (Eq. 5-7); writes prediction records."""
    from .io import write_jsonl
    from .stages import aggregate as stage

    from .aggregation import Setting

    setting = Setting(mode=mode, alpha1=alpha1, alpha2=alpha2, scheme="uniform" if uniform else scheme, c=c,
                      use=use, utility=utility)
    opts = stage.Options(task=task, split=split, candidates=candidates, predictions=predictions, setting=setting)
    write_jsonl(out, stage.run(completions or None, data, opts))


@app.command(epilog="Example: l4r select completions.jsonl --data out/ml-100k/data --candidates cands.jsonl "
                    "--modes listwise,pointwise --grid grid.jsonl --selected selected.json --args selected.args")
def select(completions: Path = typer.Argument(..., help="completion records of the valid and test prompts"),
           data: Path = DATA,
           task: str = typer.Option("topk", help="topk or rating"),
           modes: str = typer.Option("listwise", help="top-k: comma list of listwise, pointwise"),
           candidates: Optional[Path] = typer.Option(None, help="backbone candidates (top-k)"),
           predictions: Optional[Path] = typer.Option(None, help="rating backbone predictions (rating)"),
           scheme: str = typer.Option("adaptive", help="adaptive (alphas, mode, utility) or llm (mode only: IFT)"),
           criterion: Optional[str] = typer.Option(None, help="metric to select on [default: NDCG@5; rating RMSE]"),
           grid: Optional[Path] = typer.Option(None, help="write every setting's metrics here (JSONL)"),
           selected: Optional[Path] = typer.Option(None, help="write the selection here (JSON)"),
           args: Optional[Path] = typer.Option(None, "--args", help="write the selection as l4r aggregate flags")):
    """Choose alpha1, alpha2, the ranking mode and U_LLM's form on the validation split; report test once."""
    from .stages import select as stage

    opts = stage.Options(task=task, modes=tuple(_csv(modes)), candidates=candidates, predictions=predictions,
                         criterion=criterion, scheme=scheme)
    records, chosen = stage.run(completions, data, opts)
    stage.write(records, chosen, task, grid, selected, args)


@app.command(epilog="Examples: l4r report --dir out/ml-100k/mf --dataset ml-100k --backbone mf   |   "
                    "l4r report --study --dir out/ml-100k/exp --dataset ml-100k > report.md")
def report(dir: Path = typer.Option(..., "--dir", help="a run's folder (make all: OUT/RUN), or with --study the "
                                    "experiment folder (cells hold cell.json)"),
           dataset: str = typer.Option(..., help="dataset name, for the paper's rows (ml-100k, ml-1m, bookcrossing)"),
           backbone: Optional[str] = typer.Option(None, help="the run's backbone (results table)"),
           timings: Optional[Path] = typer.Option(None, help="the run's timings.jsonl (results table)"),
           study: bool = typer.Option(False, "--study", help="the study report of `make experiment`"),
           figures: Optional[Path] = typer.Option(None, help="study: where PNGs go [default: DIR/figures]"),
           report_dir: Optional[Path] = typer.Option(None, help="study: the folder the report is written to; "
                                                     "figure links are relative to it [default: DIR/..]"),
           plots: bool = typer.Option(True, "--plots/--no-plots", help="study: draw figures (needs matplotlib)"),
           notes: Optional[Path] = typer.Option(None, help="study: a markdown file of hand-written reading, "
                                                "placed after the headline")):
    """Markdown on stdout: one run's results table beside the paper's rows, or the study report."""
    from .errors import UsageError

    if study:
        from .report.study import Options, report as study_report

        sys.stdout.write(study_report(dir, Options(dataset, figures, report_dir, plots, notes)))
        return
    if not backbone:
        raise UsageError("--backbone is needed for a run's results table (or pass --study)")
    from .report.results import results

    sys.stdout.write(results(dataset, backbone, dir, timings))


@app.command(epilog="Example: l4r augment --task direct --data out/ml-100k/data --model out/ml-100k/llm --users 300 "
                    "-o out/ml-100k/triples.jsonl")
def augment(task: str = typer.Option("direct", help="direct (triples), sequential (sequences), rating (attributes)"),
            data: Path = DATA,
            model: str = typer.Option("smollm2", "--model", "-m", help="the instruction-tuned LLM"),
            backend: str = typer.Option("hf", help="hf, vllm or openai"),
            users: int = typer.Option(0, help="sample this many users (0: all)"),
            items: int = typer.Option(0, help="rating: the N most popular items (0: all)"),
            pairs: int = typer.Option(1, help="direct: item pairs per user"),
            options: int = typer.Option(10, help="sequential: unseen items offered per user"),
            batch_size: int = typer.Option(16),
            seed: int = SEED,
            emit_prompts: bool = typer.Option(False, help="only write the prompt records (run them elsewhere)"),
            completions: Optional[Path] = typer.Option(None, help="completion records made elsewhere"),
            base_url: Optional[str] = typer.Option(None, help="openai: endpoint base URL"),
            answer: str = ANSWER,
            out: str = typer.Option(..., "--out", "-o", help="triple / sequence / attribute records")):
    """LLM data augmentation: triple (direct), sequence (sequential) or attribute (rating) records."""
    from .stages import augment as stage

    opts = stage.Options(task=task, model=model, backend=backend, users=users, pairs=pairs, options=options,
                         items=items, seed=seed, batch_size=batch_size, answer=answer,
                         emit_prompts=emit_prompts, completions=completions,
                         engine={"base_url": base_url} if backend == "openai" else {})
    stage.run(data, out, opts)


@app.command("eval", epilog="Example: l4r aggregate --data out/ml-100k/data --candidates out/ml-100k/mf/candidates.jsonl "
                            "| l4r eval --data out/ml-100k/data --k 3,5 --per-user out/ml-100k/users.jsonl")
def evaluate(files: Optional[list[Path]] = typer.Argument(None, help="prediction records (- or none: stdin); "
                                                          "with --compare two --per-user files; with --runs metric files"),
             data: Path = DATA,
             split: str = typer.Option("test", help="train, valid or test: whose held-out items to score"),
             k: str = typer.Option("3,5", "--k", help="top-k cutoffs, comma-separated"),
             per_user: Optional[Path] = typer.Option(None, help="write per-user rows (rank, N(u), group, metrics)"),
             markdown: Optional[Path] = typer.Option(None, help="write the metrics as a markdown table"),
             label: Optional[str] = typer.Option(None, help="name of this run in the records and table"),
             groups: int = typer.Option(5, help="user-activity quantile groups by N(u) (0: none)"),
             compare: bool = typer.Option(False, "--compare", help="paired t-test of two --per-user files"),
             metric: str = typer.Option("NDCG@5", help="--compare: the per-user metric to test"),
             runs: bool = typer.Option(False, "--runs", help="mean and std over metric files (one per seed)")):
    """Prediction records + held-out interactions -> metric records (HR@k, NDCG@k; RMSE, MAE).

    Reads prediction (or candidates) records and the split of a prepared dataset. Writes metric records
    on stdout, overall and per user-activity group; --compare writes one comparison record (paired
    t-test), --runs one metric record (mean, std) per metric and group.
    """
    from .errors import UsageError
    from .io import write_jsonl
    from .stages import eval as stage

    files = [str(f) for f in files or []]
    if compare and runs:
        raise UsageError("--compare and --runs exclude each other")
    if compare:
        if len(files) != 2:
            raise UsageError(f"--compare takes two --per-user files, got {len(files)}")
        write_jsonl("-", [stage.compare(Path(files[0]), Path(files[1]), metric)])
    elif runs:
        if not files:
            raise UsageError("--runs takes metric files, one per run")
        write_jsonl("-", stage.over_runs([Path(f) for f in files], markdown))
    else:
        if len(files) > 1:
            raise UsageError(f"give one prediction file (or - for stdin), got {len(files)}")
        opts = stage.Options(split=split, ks=stage.parse_ks(k), per_user=per_user, markdown_to=markdown, label=label,
                             groups=groups)
        write_jsonl("-", stage.run(files[0] if files else "-", data, opts))
