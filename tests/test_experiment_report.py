"""`l4r report --study` on a small hand-made experiment folder (pure file processing)."""
from __future__ import annotations

import json
import re

import pytest

from l4r.cli import app
from l4r.errors import DataError, UsageError

TOPK = ["HR@3", "NDCG@3", "HR@5", "NDCG@5"]
SECTIONS = ["# Llama4Rec experiment: ml-100k", "## Main results (Tables 2-4)", "## Ablation (Table 5)",
            "## Hyper-parameters α1, α2 (Figure 3)", "## Scaling (Figures 4 and 5)", "## Long tail", "## Cost",
            "## Rounds (beyond the paper)"]
GROUPS = ["q1 (N<=20)", "q2 (N<=80)"]


def jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def metrics(d, name, values: dict, group_shift=0.0):
    rows = [{"metric": m, "value": v, "n": 4, "group": None} for m, v in values.items()]
    rows += [{"metric": m, "value": v + group_shift * (i + 1), "n": 2, "group": g}
             for i, g in enumerate(GROUPS) for m, v in values.items()]
    jsonl(d / f"metrics-{name}.jsonl", rows)


def per_user(d, name, fields: dict):
    """Four users; `fields` maps a per-user key to its value for every user."""
    jsonl(d / f"per-user-{name}.jsonl", [{"user": str(u), "N": 10 * u, "group": GROUPS[u > 2], **fields}
                                         for u in range(1, 5)])


def cell(root, path, **meta):
    d = root / path
    d.mkdir(parents=True)
    (d / "cell.done").touch()
    (d / "cell.json").write_text(json.dumps({"backbone": "mf", "seed": 0, "llm": "smollm2", "instructions": 40,
                                             "dataset": "ml-100k", "rounds": 1, **meta}))
    return d


def topk(v):
    return {m: v for m in TOPK}


def grid(d, shift):
    rows = [{"split": split, "mode": mode, "alpha1": a1, "alpha2": a2,
             "metrics": topk(round(a1 * a2 + shift + (split == "test") * 0.01, 4))}
            for split in ("valid", "test") for mode in ("listwise", "pointwise")
            for a1 in (0.1, 0.3, 0.5, 0.7, 0.9) for a2 in (0.1, 0.3, 0.5, 0.7, 0.9)]
    jsonl(d / "grid-l4r.jsonl", rows)
    (d / "selected-l4r.json").write_text(json.dumps(
        {"criterion": "NDCG@5", "higher_is_better": True, "mode": "listwise", "alpha1": 0.9, "alpha2": 0.7,
         "valid": 0.63 + shift, "test": 0.64 + shift,
         "best_on_test": {"mode": "pointwise", "alpha1": 0.9, "alpha2": 0.9, "value": 0.82 + shift}}))


def main_cell(root, seed):
    d = cell(root, f"main/direct/mf/seed{seed}", kind="main", task="direct", seed=seed)
    metrics(d, "base", topk(0.10 + 0.02 * seed), group_shift=0.01)
    metrics(d, "ift", topk(0.05), group_shift=0.01)
    metrics(d, "l4r", topk(0.20 + 0.02 * seed), group_shift=0.01)
    per_user(d, "base", topk(0.0))
    per_user(d, "ift", topk(0.0))
    per_user(d, "l4r", topk(1.0))
    grid(d, 0.001 * seed)
    jsonl(d / "timings.jsonl", [{"stage": "backbone", "seconds": 10.0, "rc": 0},
                                {"stage": "finetune-l4r", "seconds": 100.0 + seed, "rc": 0}])
    (d / "completions-rank-test.jsonl.stats.json").write_text(json.dumps(
        {"stats": "llm", "backend": "hf", "model": "m", "prompts": 75, "status": {"ok": 74, "unparseable": 1},
         "hallucinated": 63, "duplicates": 162, "prompt_tokens": 37593, "completion_tokens": 12000,
         "seconds": 25.0, "usage": {"cost": 0.5}}))
    (d / "triples.jsonl.work").mkdir()
    (d / "triples.jsonl.work/completions.jsonl.stats.json").write_text(json.dumps(
        {"stats": "llm", "prompts": 20, "status": {"ok": 20}, "prompt_tokens": 2000, "seconds": 4.0}))
    (d / "triples.jsonl.stats.json").write_text(json.dumps({"stats": "augment", "prompts": 20, "unusable": 3}))
    if seed == 0:   # the ablation set and a second round
        metrics(d, "noda", topk(0.15))
        metrics(d, "nopa", topk(0.12))
        metrics(d, "uniform", topk(0.18))
        metrics(d, "aug", topk(0.11))
        metrics(d / "round2", "base", topk(0.11))
        metrics(d / "round2", "aug", topk(0.13))
        metrics(d / "round2", "l4r", topk(0.25))
    return d


def rating_cell(root):
    d = cell(root, "main/rating/mf/seed0", kind="main", task="rating")
    metrics(d, "base", {"RMSE": 1.0, "MAE": 0.8})
    metrics(d, "ift", {"RMSE": 1.3, "MAE": 0.9})
    metrics(d, "l4r", {"RMSE": 0.95, "MAE": 0.78})
    metrics(d, "ift-greedy", {"RMSE": 1.5, "MAE": 1.1})
    metrics(d, "l4r-greedy", {"RMSE": 0.97, "MAE": 0.79})
    per_user(d, "base", {"SE": 1.0, "AE": 0.8})
    per_user(d, "l4r", {"SE": 1.0, "AE": 0.8})   # same errors: no star


@pytest.fixture
def exp(tmp_path):
    root = tmp_path / "out" / "ml-100k" / "exp"
    main_cell(root, 0)
    main_cell(root, 1)
    rating_cell(root)
    for name, v in (("SmolLM2-70M", 0.2), ("Qwen-1.5B", 0.3)):
        d = cell(root, f"scale-llm/{name}", kind="scale-llm", task="direct", llm=name)
        metrics(d, "ift", topk(v - 0.1))
        metrics(d, "l4r", topk(v))
    for n, v in ((80, 0.25), (20, 0.15)):
        d = cell(root, f"scale-ins/{n}", kind="scale-ins", task="direct", instructions=n)
        metrics(d, "ift", topk(v - 0.1))
        metrics(d, "l4r", topk(v))
    return root


def run(capsys, argv):
    app(["report", "--study", *argv], standalone_mode=False)   # errors propagate as raised
    return capsys.readouterr().out


def section(text, title):
    start = text.index(title)
    nxt = text.find("\n## ", start + len(title))
    return text[start:] if nxt < 0 else text[start:nxt]


def table_row(text, label):
    """The cells of the first markdown table row starting with `label`."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_every_section_has_numbers(exp, capsys):
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    assert out.startswith(SECTIONS[0])
    for title in SECTIONS[1:]:
        assert re.search(r"\d\.\d{4}", section(out, title)), title
    assert "7 cells (3 main, 2 scale-ins, 2 scale-llm)" in out
    assert "seeds: 0, 1" in out and "unfinished" not in out


def test_unfinished_cells_are_left_out(exp, capsys):
    """A cell still running (cell.json, some metrics, no cell.done) never enters the means."""
    before = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    d = exp / "main/direct/mf/seed2"
    d.mkdir()
    (d / "cell.json").write_text(json.dumps({"kind": "main", "task": "direct", "backbone": "mf", "seed": 2}))
    metrics(d, "base", topk(0.9))
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    assert "Left out, unfinished (no cell.done): main/direct/mf/seed2." in out
    assert out.replace("\nLeft out, unfinished (no cell.done): main/direct/mf/seed2.", "") == before


def test_headline_first(exp, capsys):
    """Right after the summary: per scenario, does Llama4Rec beat Base and IFT (p <= 0.05), and the paper's gain."""
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    head = section(out, "## Headline")
    assert out.index("## Headline") < out.index("## Main results")
    direct = next(line for line in head.splitlines() if line.startswith("- direct, mf (2 seeds)"))
    assert "NDCG@5 0.2100 **beats** Base (+90.91%" in direct and "**beats** IFT" in direct
    assert "paper: +40.00% over Base, +20.49% over IFT" in direct
    rating = next(line for line in head.splitlines() if line.startswith("- rating, mf (1 seed)"))
    assert "is better than Base, not significantly (+5.00%" in rating and "paper" not in rating


def test_mean_std_improvement_and_star(exp, capsys):
    out = section(run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"]), "### Table 2")
    # base 0.10 and 0.12: mean 0.11, sample std 0.0141; l4r 0.20 and 0.22
    assert table_row(out, "Base")[1:3] == ["2", "0.1100 ± 0.0141"]
    assert table_row(out, "Llama4Rec")[2] == "0.2100 ± 0.0141"
    # best baseline is Base (0.11 > IFT 0.05): (0.21 - 0.11) / 0.11; per-user l4r all 1 vs base all 0 -> p = 0
    improv = table_row(out, "Improv.")[2]
    assert improv.startswith("+90.91%*")
    assert table_row(out, "paper Llama4Rec")[2:] == ["0.0645", "0.0474", "0.0919", "0.0588"]


def test_rating_table(exp, capsys):
    out = section(run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"]), "### Table 4")
    assert table_row(out, "Base")[1:] == ["1", "1.0000", "0.8000"]
    improv = table_row(out, "Improv.")
    assert improv[2].startswith("+5.00%") and "*" not in improv[2]   # lower RMSE is better; equal errors: p = 1
    assert table_row(out, "Llama4Rec (greedy digit)")[2:] == ["0.9700", "0.7900"]
    assert table_row(out, "paper IFT")[2:] == ["1.2792", "0.8940"]     # LLaMA IFT row under every rating backbone
    assert "paper Llama4Rec" not in out                                # the paper has no MF rating row


def test_ablation_grid_scaling_tail_cost_rounds(exp, capsys):
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    abl = section(out, "## Ablation")
    assert table_row(abl, "w/o DA")[2] == "0.1500 (+50.00%)"       # seed 0 only: base 0.10
    assert table_row(abl, "DA only")[1:3] == ["1", "0.1100 (+10.00%)"]   # metrics-aug: the augmented backbone
    assert table_row(abl, "w/o AA")[1:3] == ["1", "0.1800 (+80.00%)"]
    assert table_row(abl, "w/o AA")[3] == "0.1800 (+80.00%)"
    assert "| Llama4Rec | 0.0304 (+7.42%) | 0.0222 (+9.36%) | 0.0434 (+21.23%) | 0.0338 (+24.26%) |" in abl
    hp = section(out, "## Hyper-parameters")
    assert "**0.8105**" in hp                                     # best of valid, mean over seeds: 0.81 + 0.0005
    assert "validation-selected" in hp and "best result on test" in hp
    scale = section(out, "## Scaling")
    # ordered by the size in the name; the main cells (smollm2, 40 instructions) add a point to each series
    assert scale.index("| SmolLM2-70M |") < scale.index("| smollm2 |") < scale.index("| Qwen-1.5B |")
    assert scale.index("| 20 |") < scale.index("| 40 |") < scale.index("| 80 |")   # 40: the main cells' point
    assert table_row(scale, "40")[1:3] == ["1", "0.0500"]   # seed 0's main cell only (scale cells run seed 0)
    tail = section(out, "## Long tail")
    assert table_row(tail, "q1 (N<=20)")[1:5] == ["2", "0.1200", "0.0600", "0.2200"]
    assert table_row(tail, "q2 (N<=80)")[2] == "0.1300"
    cost = section(out, "## Cost")
    assert table_row(cost, "finetune-l4r")[1:3] == ["2", "201.0"]
    assert table_row(cost, "rank-test")[1:4] == ["2", "150", "75186"]
    assert table_row(cost, "rank-test")[-1] == "1.0000"
    assert table_row(cost, "augment")[1:8] == ["2", "40", "4000", "0", "8.0", "5.00", "6"]   # unusable: augment's
    rounds = section(out, "## Rounds")
    assert table_row(rounds, "2")[1:3] == ["1", "0.1300"]


def test_missing_parts_say_not_run(tmp_path, capsys):
    root = tmp_path / "exp"
    d = cell(root, "main/direct/mf/seed0", kind="main", task="direct")
    metrics(d, "base", topk(0.1))
    out = run(capsys, ["--dir", str(root), "--dataset", "ml-100k", "--no-plots"])
    for title in SECTIONS[1:]:
        assert title in out
    for title in ("## Ablation", "## Hyper-parameters", "## Scaling", "## Rounds"):
        assert "not run" in section(out, title), title
    assert "not run" in section(out, "### Table 3")
    (tmp_path / "empty").mkdir()
    empty = run(capsys, ["--dir", str(tmp_path / "empty"), "--dataset", "ml-100k", "--no-plots"])
    assert all(t in empty for t in SECTIONS) and "0 cells" in empty
    with pytest.raises(UsageError):
        run(capsys, ["--dir", str(tmp_path / "nothing"), "--dataset", "ml-100k"])


def test_notes_follow_the_headline(exp, tmp_path, capsys):
    notes = tmp_path / "notes.md"
    notes.write_text("Seed noise dominates.\n")
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots", "--notes", str(notes)])
    assert out.index("## Headline") < out.index("## Reading\n\nSeed noise dominates.") < out.index("## Main results")
    assert "## Reading" not in run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])
    with pytest.raises(UsageError, match="no such notes file"):
        run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots", "--notes", str(tmp_path / "gone.md")])


def test_malformed_line_is_a_data_error(exp, capsys):
    (exp / "main/direct/mf/seed0/metrics-ift.jsonl").write_text("{not json\n")
    with pytest.raises(DataError):
        run(capsys, ["--dir", str(exp), "--dataset", "ml-100k", "--no-plots"])


def test_figures(exp, capsys):
    pytest.importorskip("matplotlib")
    out = run(capsys, ["--dir", str(exp), "--dataset", "ml-100k"])
    figs = sorted(p.name for p in (exp / "figures").glob("*.png"))
    assert figs == [   # the rating cell has no grid.jsonl, hence no heat map
        "hparams-direct-mf.png", "longtail-direct-mf.png", "longtail-rating-mf.png", "rounds-direct-mf.png",
        "scale-ins-direct-mf.png", "scale-llm-direct-mf.png"]
    for name in figs:
        assert f"](exp/figures/{name})" in out
    assert "plot` extra" not in out


def test_make_all_results_table_tests_rating_runs_on_squared_errors(tmp_path):
    """l4r.report.results (the results.md of `make all`): per-user rating rows carry SE/AE, not RMSE/MAE."""
    from l4r.report import results as report

    metrics(tmp_path, "base", {"RMSE": 1.0, "MAE": 0.8})
    metrics(tmp_path, "ift", {"RMSE": 1.3, "MAE": 0.9})
    metrics(tmp_path, "l4r", {"RMSE": 0.9, "MAE": 0.7})
    jsonl(tmp_path / "per-user-base.jsonl", [{"user": str(u), "SE": 1.0 + u % 2, "AE": 0.8} for u in range(1, 9)])
    jsonl(tmp_path / "per-user-l4r.jsonl", [{"user": str(u), "SE": 0.5, "AE": 0.6 + u % 2 / 10} for u in range(1, 9)])
    row = next(line for line in report.table("ml-100k", "deepfm", tmp_path) if "Impro." in line)
    assert re.findall(r"([+-]\d+\.\d+)% \(p=(\d\.\d+)\)", row) == [("+10.00", "0.001"), ("+12.50", "0.000")], row
