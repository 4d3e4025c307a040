"""Every benchmark script that imports l4r measures this checkout's code: it puts the repository root
first on sys.path, so neither a missing install nor another l4r earlier on PYTHONPATH changes what is
benchmarked (search.py's workers run benchmarks/backbones.py as a script from another directory)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")
                 if "from l4r" in p.read_text() or "import l4r" in p.read_text())

LOAD = """import importlib.util, sys
spec = importlib.util.spec_from_file_location("bench", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
import l4r
print(l4r.__file__)
"""


def test_scripts_found():
    assert {"backbones.py", "search.py", "leakage.py", "prep.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_uses_this_checkout(script, tmp_path):
    decoy = tmp_path / "decoy" / "l4r"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy l4r was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(decoy.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", LOAD, str(ROOT / "benchmarks" / script)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert Path(proc.stdout.strip()).resolve() == (ROOT / "l4r" / "__init__.py").resolve()
