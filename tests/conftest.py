"""Shared fixtures: a tiny ML-100K-format dataset written in the original file formats, a
prepared folder made from it by `l4r prep`, and a tiny randomly initialised Llama built locally."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

# the tiny models of the tests are all overhead: one thread each keeps a busy 2-core box usable
os.environ.setdefault("OMP_NUM_THREADS", "1")

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]
WORDS = ["Star", "Night", "River", "Ghost", "Summer", "City", "Dream", "Winter", "Heart", "Storm", "Shadow", "King"]


def write_tiny_ml100k(folder: Path, users: int = 40, items: int = 60, seed: int = 7) -> Path:
    """Users in 3 taste groups, each group favouring a third of the items; 8-20 ratings per user,
    timestamps with ties at the end (as ML-100K has)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)), encoding="latin-1")
    rows = []
    for i in range(1, items + 1):
        flags = ["0"] * len(GENRES)
        flags[1 + i % 6] = "1"
        title = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i} ({1950 + i % 48})"
        rows.append(f"{i}|{title}|01-Jan-{1950 + i % 48}||http://x|" + "|".join(flags))
    (folder / "u.item").write_text("\n".join(rows) + "\n", encoding="latin-1")
    (folder / "u.user").write_text("".join(f"{u}|{20 + u % 40}|{'MF'[u % 2]}|student|{10000 + u}\n"
                                           for u in range(1, users + 1)), encoding="latin-1")
    lines = []
    for u in range(1, users + 1):
        group = u % 3
        liked = [i for i in range(1, items + 1) if i % 3 == group]
        n = rng.randint(8, 20)
        chosen = rng.sample(liked, min(n - 2, len(liked))) + rng.sample(range(1, items + 1), 2)
        ts = 880000000 + u * 1000
        for k, i in enumerate(dict.fromkeys(chosen)):
            stamp = ts + min(k, n - 3) * 10  # the last few share one second
            lines.append(f"{u}\t{i}\t{rng.randint(3, 5) if i % 3 == group else rng.randint(1, 3)}\t{stamp}")
    (folder / "u.data").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder


def l4r(*args, input=None, check=True):
    """Run the CLI in a subprocess; return CompletedProcess (text)."""
    proc = subprocess.run([sys.executable, "-m", "l4r", *map(str, args)], input=input, capture_output=True,
                          text=True)
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
