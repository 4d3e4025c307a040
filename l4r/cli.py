"""The command line: flags in, stage `run` out. The only place errors become exit codes
(1 bad data, 2 bad usage). Heavy imports happen inside the commands that need them."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .errors import L4RError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="l4r: Llama4Rec (LLM-augmented recommendation) as JSONL stages. "
                       "Each command reads and writes JSONL; `-` is stdin/stdout; .gz is transparent.")

DATA = typer.Option(Path("out/ml-100k/data"), "--data", "-d", help="prepared dataset folder (from `l4r prep`)")


@app.callback()
def _root() -> None:
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


@app.command(epilog="Example: l4r prep --dataset ml-100k --raw ../shared/data/raw/ml-100k --out out/ml-100k/data")
def prep(dataset: str = typer.Option("ml-100k", help="ml-100k, ml-1m, bookcrossing, recbole, csv"),
         raw: Optional[Path] = typer.Option(None, help="folder with the original files [default: data/raw/DATASET]"),
         out: Path = typer.Option(..., "--out", "-o", help="folder to write the prepared dataset into"),
         offline: bool = typer.Option(False, help="never try the network"),
         min_rating: Optional[float] = typer.Option(None, help="keep only ratings >= this (implicit feedback)"),
         core: int = typer.Option(0, help="iterated k-core filter on users and items (0: none)")):
    """Original dataset files -> items, users, train/valid/test (interaction records), stats.

    Leave-one-out per user in (timestamp, item id) order: last = test, second last = valid.
    Prints the stats record on stdout.
    """
    from .io import write_jsonl
    from .stages import prep as stage

    stats = stage.run(dataset, raw or Path("data/raw") / dataset, out, offline, min_rating, core)
    write_jsonl("-", [stats])


@app.command(epilog="Example: l4r backbone --model mf --data out/ml-100k/data --out out/ml-100k/mf")
def backbone(model: str = typer.Option("mf", "--model", "-m", help="mf, lightgcn, mixgcf, sgl, sasrec, bert4rec, "
                                       "cl4srec; deepfm, nfm, dcn, afm, xdeepfm, autoint"),
             data: Path = DATA,
             out: Path = typer.Option(..., "--out", "-o", help="folder for candidates.jsonl, embeddings.jsonl, model.pt"),
             k: int = typer.Option(10, "--k", help="k': candidates kept per user"),
             seed: int = typer.Option(0),
             hp: list[str] = typer.Option([], "--hp", help="hyper-parameter key=value (repeatable), e.g. --hp dim=64"),
             extra: Optional[Path] = typer.Option(None, help="augmentation file: triple records (direct), "
                                                  "or attribute records (rating)"),
             sequences: Optional[Path] = typer.Option(None, help="sequence records replacing training sequences"),
             load: Optional[Path] = typer.Option(None, help="load this checkpoint instead of training"),
             patience: int = typer.Option(10, help="early stopping: evaluations without validation gain")):
    """Train a conventional recommender; write its candidates (top-k' per user and split) and user embeddings.

    Reads a prepared dataset (+ optional triple / sequence / attribute records). Writes candidates,
    embedding records, model.pt and meta.json into --out.
    """
    from .stages import backbone as stage

    stage.run(model, data, out, k, seed, stage.parse_hp(hp), extra, sequences, load, patience)
