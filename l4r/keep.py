"""Keep a finished study cell's small result files, and bring them back: `make experiment` uses it so
the study survives a move to another machine and its report rebuilds without rerunning.

    python -m l4r.keep save CELL_DIR KEPT_DIR       (after a cell finishes)
    python -m l4r.keep restore KEPT_DIR CELL_DIR    (instead of running a cell kept before)

Kept: cell.json, metrics-*.jsonl, per-user-*.jsonl, grid-*.jsonl, selected-*.json/.args, timings.jsonl
and *.stats.json (LLM runs), in the cell and its round<N>/ folders: what `l4r report --study` reads.
Never kept: models, data, prompts, completions. The settings the cell ran with (the environment variables
L4R_CELL_SETTINGS and L4R_CELL_ABLATION, set by experiment.mk) are kept beside them in settings.txt; restore refuses a cell
kept under other settings (exit 2, one line on stderr) rather than mixing them into one report.
A save writes into a temporary folder renamed into place, with cell.done last, so a half-saved cell
is never taken for a kept one.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

PATTERNS = ("cell.json", "metrics-*.jsonl", "per-user-*.jsonl", "grid-*.jsonl", "selected-*.json",
            "selected-*.args", "timings.jsonl", "*.stats.json")
SETTINGS = "settings.txt"


def small_files(cell: Path) -> list[Path]:
    """The kept files of a cell folder, relative to it (symbolic links, e.g. a round's base/, skipped)."""
    found = set()
    for pattern in PATTERNS:
        for path in cell.rglob(pattern):
            rel = path.relative_to(cell)
            if path.is_file() and not any((cell / p).is_symlink() for p in (rel, *rel.parents)):
                found.add(rel)
    return sorted(found)


def settings() -> str:
    """The make settings a cell runs with (experiment.mk exports them), and its ablation flag."""
    ablation = os.environ.get("L4R_CELL_ABLATION")
    return (os.environ.get("L4R_CELL_SETTINGS", "").strip() + (f" ABLATION={ablation}" if ablation else "")).strip()


def save(cell: Path, kept: Path) -> int:
    tmp = kept.with_name(kept.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    files = small_files(cell)
    for rel in files:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(cell / rel, tmp / rel)
    (tmp / SETTINGS).write_text(settings() + "\n", encoding="utf-8")
    (tmp / "cell.done").touch()
    shutil.rmtree(kept, ignore_errors=True)
    tmp.rename(kept)
    print(f"[l4r] kept {len(files)} result files of {cell} in {kept}", file=sys.stderr)
    return 0


def restore(kept: Path, cell: Path) -> int:
    was = (kept / SETTINGS).read_text(encoding="utf-8").strip() if (kept / SETTINGS).exists() else ""
    if was != settings():
        print(f"error: {kept}/{SETTINGS}: the cell was kept under other settings ({was!r}, now {settings()!r});"
              f" delete {kept} to rerun it, or set KEEP= to ignore kept cells", file=sys.stderr)
        return 2
    files = small_files(kept)
    for rel in files:
        (cell / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(kept / rel, cell / rel)
    print(f"[l4r] restored {len(files)} result files of {cell} from {kept}", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in ("save", "restore"):
        print("usage: python -m l4r.keep save CELL_DIR KEPT_DIR | restore KEPT_DIR CELL_DIR", file=sys.stderr)
        return 2
    src, dst = Path(argv[1]), Path(argv[2])
    if not src.is_dir():
        print(f"error: {src}: no such folder", file=sys.stderr)
        return 2
    return (save if argv[0] == "save" else restore)(src, dst)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
