"""`l4r llm` end to end, labels scored vs titles generated, side by side in one run.

Takes two `make all` run folders of the same dataset, backbone and seed, one made with
ANSWER=labels and one with ANSWER=titles (each has its own tuned LLM and its own prompts), and
times `l4r llm` on each folder's Llama4Rec test prompts with that folder's tuned model, back to
back, `--repeat` times each, alternating. Prints a markdown table: prompts, seconds, seconds per
user, prompts/s, hallucinated and duplicate items, and the ratio titles/labels.

    flock /tmp/l4r-cpu.lock python benchmarks/answer_modes.py out/ml-100k-labels/mf out/ml-100k-titles/mf
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(run_dir: Path, name: str, threads: int, dtype: str) -> dict:
    prompts = run_dir / f"prompts-{name}.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "c.jsonl"
        t0 = time.time()
        subprocess.run([sys.executable, "-m", "l4r", "llm", str(prompts), "--model", str(run_dir / f"llm-{name}"),
                        "--dtype", dtype, "-o", str(out)], env=env, check=True, capture_output=True)
        seconds = time.time() - t0
        stats = json.loads((Path(str(out) + ".stats.json")).read_text())
    return {"seconds": seconds, "llm_seconds": stats["seconds"], "prompts": stats["prompts"],
            "hallucinated": stats["hallucinated"], "duplicates": stats["duplicates"], "answer": stats["answer"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels_run", type=Path)
    ap.add_argument("titles_run", type=Path)
    ap.add_argument("--name", default="l4r", help="which prompts and model: l4r (Llama4Rec) or ift")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtype", default="auto", help="hf weights: float32, bfloat16 or auto (l4r llm --dtype)")
    a = ap.parse_args()
    runs = {"labels": [], "titles": []}
    for _ in range(a.repeat):
        for mode, d in (("labels", a.labels_run), ("titles", a.titles_run)):
            runs[mode].append(one_run(d, a.name, a.threads, a.dtype))
    print(f"`l4r llm --dtype {a.dtype}` on the {a.name} test prompts, {a.threads} torch threads, best of {a.repeat} "
          f"(load before: {os.getloadavg()[0]:.2f})\n")
    print("| answer | prompts | seconds (end to end) | s per user | prompts/s | hallucinated | duplicates |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    best = {}
    for mode, rs in runs.items():
        r = min(rs, key=lambda r: r["seconds"])
        best[mode] = r
        print(f"| {mode} | {r['prompts']} | {r['seconds']:.1f} | {r['seconds'] / r['prompts']:.2f} | "
              f"{r['prompts'] / r['seconds']:.2f} | {r['hallucinated']} | {r['duplicates']} |")
    print(f"\ntitles / labels, end to end: **{best['titles']['seconds'] / best['labels']['seconds']:.1f}x**; "
          f"inside the stage (model loaded): {best['titles']['llm_seconds'] / best['labels']['llm_seconds']:.1f}x")


if __name__ == "__main__":
    main()
