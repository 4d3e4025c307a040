"""Run one pipeline step and record its wall time: `python -m l4r.timed TIMINGS NAME -- CMD ...`.

Appends {"stage", "seconds", "rc"} to TIMINGS (JSONL) and prints the time on stderr; used by the
Makefile so every `make all` reports what each stage cost.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m l4r.timed TIMINGS NAME -- CMD [ARGS...]", file=sys.stderr)
        return 2
    timings, name, cmd = Path(argv[0]), argv[1], argv[3:]
    t0 = time.time()
    rc = subprocess.call(cmd if len(cmd) > 1 else ["bash", "-c", cmd[0]])
    seconds = round(time.time() - t0, 1)
    timings.parent.mkdir(parents=True, exist_ok=True)
    with open(timings, "ab") as fh:
        fh.write(orjson.dumps({"stage": name, "seconds": seconds, "rc": rc}) + b"\n")
    print(f"[l4r] {name}: {seconds}s (exit {rc})", file=sys.stderr)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
