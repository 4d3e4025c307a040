"""The documented interface: every command of `python -m l4r --help` has help text and appears in
README.md; the README's shell pipe runs as written on the fixture; `make help` lists the targets."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import l4r

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def listed_commands() -> list[str]:
    """The names under `Commands:` in `python -m l4r --help` (box-drawing characters stripped, should the
    help ever be rendered with rich)."""
    text = l4r("--help").stdout
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip(" │╭─╮").startswith("Commands"))
    names = []
    for line in lines[start + 1:]:
        words = line.strip(" │╭╰─╮╯").split()
        if words and re.fullmatch(r"[a-z][a-z0-9-]*", words[0]) and line.startswith((" ", "│")):
            names.append(words[0])
    return names


def test_help_lists_every_command():
    import typer

    from l4r.cli import app

    names = listed_commands()
    assert names and names == list(typer.main.get_command(app).commands)


def test_every_command_has_help_and_a_readme_mention():
    missing_help, missing_readme = [], []
    for name in listed_commands():
        proc = l4r(name, "--help", check=False)
        # the description: the paragraph between the usage line and the first section
        body = proc.stdout.split("\n\n", 1)[1] if "\n\n" in proc.stdout else ""
        description = re.split(r"^(Arguments|Options):", body, flags=re.M)[0].strip()
        if proc.returncode != 0 or not proc.stdout.startswith("Usage:") or len(description) < 20:
            missing_help.append(f"{name}: exit {proc.returncode}, description {description!r}")
        if not re.search(rf"\bl4r {re.escape(name)}\b", README):
            missing_readme.append(name)
    assert not missing_help, missing_help
    assert not missing_readme, f"README.md never mentions `l4r CMD` for: {', '.join(missing_readme)}"


def readme_block(heading: str) -> str:
    """The first ```bash block after the README heading `## heading`."""
    section = README.split(f"## {heading}\n", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)


def test_readme_pipe_runs_on_the_fixture(raw_tiny, tiny_llm, tmp_path):
    """The README's "Stages compose in shell pipes" block, as written, in a fresh folder: only the raw
    data folder, the backbone (MF, 3 epochs instead of LightGCN) and the tuned LLM (the tiny one) differ."""
    script = readme_block("Stages compose in shell pipes")
    for old, new in (("../shared/data/raw/ml-100k", str(raw_tiny)),
                     ("--model lightgcn", "--model mf --hp epochs=3 --hp dim=16"),
                     ("out/ml-100k/mf/llm-l4r", str(tiny_llm))):
        assert old in script, f"the README pipe no longer has {old!r}: update this test"
        script = script.replace(old, new)
    shell = f'set -euo pipefail\nl4r() {{ "{sys.executable}" -m l4r "$@"; }}\n{script}'
    proc = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    metrics = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"metric"')]
    overall = {r["metric"]: r for r in metrics if r["group"] is None}
    assert set(overall) == {"HR@3", "NDCG@3", "HR@5", "NDCG@5"}, proc.stdout[-2000:]
    assert all(0 <= r["value"] <= 1 and r["n"] == 40 for r in overall.values())
    assert (tmp_path / "out" / "ml-100k" / "data" / "train.jsonl").exists()


# --- make -------------------------------------------------------------------------------------------

def make_files() -> str:
    return (REPO / "Makefile").read_text() + (REPO / "experiment.mk").read_text()


def test_make_help_lists_every_target_with_a_line():
    proc = subprocess.run(["make", "-s", "-C", str(REPO), "help"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    described = dict(re.findall(r"^  (\S+) +(\S.*)$", proc.stdout, flags=re.M))
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", make_files(), flags=re.M) for name in line.split()}
    assert {"all", "smoke", "test", "experiment", "help"} <= phony
    assert phony <= set(described), f"targets without a `## ` line: {sorted(phony - set(described))}"


def test_phony_targets_exist_and_the_makefile_leaves_rounds_to_experiment_mk():
    text = make_files()
    phony = {name for line in re.findall(r"^\.PHONY:(.*)$", text, flags=re.M) for name in line.split()}
    rules = set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.M))
    assert phony <= rules, f".PHONY names targets without a rule: {sorted(phony - rules)}"
    makefile = (REPO / "Makefile").read_text()
    assert "PREV" not in makefile
    assert re.search(r"^\.SHELLFLAGS := -euo pipefail -c$", makefile, flags=re.M)


@pytest.mark.parametrize("llm", ["smollm2", "meta-llama/Llama-2-7b-hf"])
def test_cell_json_is_the_cell(tmp_path, llm):
    out = tmp_path / "out"
    target = out / "exp" / "direct" / "mf" / "s3" / "cell.json"
    proc = subprocess.run(["make", "-s", "-C", str(REPO), f"OUT={out}", "RUN=exp/direct/mf/s3", "KIND=main",
                           "TASK=direct", "BACKBONE=mf", "SEED=3", f"LLM={llm}", "INSTRUCTIONS=6", "ROUNDS=2",
                           "DATASET=ml-100k", str(target)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(target.read_text()) == {"kind": "main", "task": "direct", "backbone": "mf", "seed": 3,
                                              "llm": llm, "instructions": 6, "dataset": "ml-100k", "rounds": 2}
