"""l4r.keep: a study cell's small result files kept and restored, settings checked."""
import subprocess
import sys

from l4r import keep


def make_cell(root):
    cell = root / "cell"
    (cell / "round2").mkdir(parents=True)
    (cell / "llm-l4r").mkdir()
    (cell / "elsewhere").mkdir()
    for name in ("cell.json", "metrics-l4r.jsonl", "per-user-l4r.jsonl", "grid-l4r.jsonl", "selected-l4r.json",
                 "selected-l4r.args", "timings.jsonl", "completions-l4r.jsonl.stats.json", "round2/metrics-aug.jsonl"):
        (cell / name).write_text(name + "\n")
    for name in ("completions-l4r.jsonl", "prompts-l4r.jsonl", "llm-l4r/model.safetensors", "llm-l4r/timings.jsonl"):
        (cell / name).write_text("big\n")
    (cell / "elsewhere" / "metrics-x.jsonl").write_text("linked\n")
    (cell / "round2" / "base").symlink_to(cell / "elsewhere")
    return cell


def run(*args, settings="A"):
    return subprocess.run([sys.executable, "-m", "l4r.keep", *map(str, args)], capture_output=True, text=True,
                          env={"L4R_CELL_SETTINGS": settings, "PATH": ""})


def test_save_keeps_the_reports_inputs_only(tmp_path):
    cell = make_cell(tmp_path)
    assert run("save", cell, tmp_path / "kept").returncode == 0
    kept = sorted(str(p.relative_to(tmp_path / "kept")) for p in (tmp_path / "kept").rglob("*") if p.is_file())
    assert kept == sorted(["cell.done", "settings.txt", "cell.json", "metrics-l4r.jsonl", "per-user-l4r.jsonl",
                           "grid-l4r.jsonl", "selected-l4r.json", "selected-l4r.args", "timings.jsonl",
                           "completions-l4r.jsonl.stats.json", "round2/metrics-aug.jsonl", "elsewhere/metrics-x.jsonl",
                           "llm-l4r/timings.jsonl"])
    assert not (tmp_path / "kept.tmp").exists()


def test_restore_checks_settings(tmp_path):
    cell = make_cell(tmp_path)
    run("save", cell, tmp_path / "kept")
    other = run("restore", tmp_path / "kept", tmp_path / "new", settings="B")
    assert other.returncode == 2 and "kept under other settings" in other.stderr and not (tmp_path / "new").exists()
    same = run("restore", tmp_path / "kept", tmp_path / "new")
    assert same.returncode == 0, same.stderr
    assert (tmp_path / "new" / "round2" / "metrics-aug.jsonl").read_text() == "round2/metrics-aug.jsonl\n"
    assert not (tmp_path / "new" / "completions-l4r.jsonl").exists()


def test_small_files_skip_links(tmp_path):
    cell = make_cell(tmp_path)
    assert "round2/base/metrics-x.jsonl" not in {str(p) for p in keep.small_files(cell)}
