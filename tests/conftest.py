"""Shared fixtures: a tiny ML-100K-format dataset written in the original file formats (by
tests/raw_fixtures.py, the one fixture generator), a prepared folder made from it by `l4r prep`, an
MF backbone trained on it, and a tiny randomly initialised Llama built locally; and `l4r()`, the one
helper that runs the CLI in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from raw_fixtures import write_tiny_ml100k

# the tiny models of the tests are all overhead: one thread each keeps a busy 2-core box usable
os.environ.setdefault("OMP_NUM_THREADS", "1")


def l4r(*args, stdin: str | None = None, cwd=None, check: bool = True) -> subprocess.CompletedProcess:
    """Run `python -m l4r ARGS` in a subprocess (text in and out). `stdin` is fed to it; with `check`
    a non-zero exit fails the test with the command and its stderr, without it the caller looks at
    returncode/stdout/stderr itself."""
    proc = subprocess.run([sys.executable, "-m", "l4r", *map(str, args)], input=stdin, capture_output=True,
                          text=True, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"l4r {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny tensors: thread start-up dominates, and on a busy machine it costs seconds. Modules of small
    torch models use it with `pytestmark = pytest.mark.usefixtures("torch_one_thread")`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def raw_tiny(tmp_path_factory) -> Path:
    return write_tiny_ml100k(tmp_path_factory.mktemp("raw") / "ml-100k")


@pytest.fixture(scope="session")
def prepared(raw_tiny, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prepared") / "data"
    l4r("prep", "--dataset", "ml-100k", "--raw", raw_tiny, "--out", out, "--offline")
    return out


@pytest.fixture(scope="session")
def backbone_out(prepared, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mf")
    l4r("backbone", "--model", "mf", "--data", prepared, "--out", out, "--hp", "epochs=20", "--hp", "dim=16",
        "--k", "5")
    return out


@pytest.fixture(scope="session")
def tiny_llm(raw_tiny, tmp_path_factory) -> Path:
    from l4r.tiny import build

    titles = [line.split("|")[1] for line in (raw_tiny / "u.item").read_text(encoding="latin-1").splitlines()]
    return build(tmp_path_factory.mktemp("llm") / "tiny", texts=titles)
