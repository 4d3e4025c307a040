"""Wall time and peak memory of `l4r prep` on the real datasets; prints a markdown table.

Each dataset runs in a fresh child process (so peak memory is its own: ru_maxrss of that process).
Bars (issue 3): ML-100K < 3 s, ML-1M < 15 s, BookCrossing < 30 s, each < 2 GB.
Run from the repository root (under the CPU lock on shared machines):
    flock /tmp/l4r-cpu.lock python benchmarks/prep.py [--raw-root ../shared/data/raw]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's l4r, installed or not

CASES = [  # (label, dataset, folder under --raw-root, wall-time bar in s)
    ("ML-100K", "ml-100k", "ml-100k", 3),
    ("ML-1M (first half of ratings.dat)", "ml-1m", "ml-1m-partial", 15),
    ("BookCrossing (explicit, 5-core)", "bookcrossing", "bookcrossing", 30),
]
MEMORY_BAR_MB = 2048


def one(dataset: str, raw: str, out: str) -> None:
    """Child: run prep once and print {"wall_s", "peak_mb", stats...} as JSON on stdout."""
    import resource

    t0 = time.perf_counter()
    from l4r.stages import prep

    stats = prep.run(dataset, Path(raw), Path(out), prep.Options(offline=True))
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_mb": peak, **{k: stats[k] for k in
                      ("users", "items", "interactions", "split_hash")}}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw-root", default="../shared/data/raw")
    ap.add_argument("--one", nargs=3, metavar=("DATASET", "RAW", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(*args.one)
    rows = ["| dataset | users | items | interactions | wall time | bar | peak memory | bar | split hash |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, dataset, folder, bar in CASES:
            raw = Path(args.raw_root) / folder
            if not raw.exists():
                print(f"skip {label}: {raw} not found", file=sys.stderr)
                continue
            res = subprocess.run([sys.executable, __file__, "--one", dataset, str(raw), f"{tmp}/{dataset}"],
                                 capture_output=True, text=True)
            if res.returncode:
                sys.exit(f"{label}: prep failed\n{res.stderr}")
            m = json.loads(res.stdout.strip().splitlines()[-1])
            ok_t = "ok" if m["wall_s"] < bar else "MISSED"
            ok_m = "ok" if m["peak_mb"] < MEMORY_BAR_MB else "MISSED"
            rows.append(f"| {label} | {m['users']:,} | {m['items']:,} | {m['interactions']:,} | "
                        f"{m['wall_s']:.2f} s | < {bar} s {ok_t} | {m['peak_mb']:.0f} MB | < 2 GB {ok_m} | "
                        f"`{m['split_hash']}` |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
