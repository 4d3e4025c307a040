"""JSONL in and out: `-` is stdin/stdout, `.gz` is compressed, writes are atomic.

Readers yield records and raise DataError(`file:line: field: what`) on bad lines.
Writers put everything in a temp file beside the target and rename it at the end,
so a failed stage never leaves a partial output; `-` is buffered and written at the end.
"""
from __future__ import annotations

import gzip
import io
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

import orjson

from .errors import DataError, UsageError


def _name(path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


def open_text(path, mode: str = "r") -> IO[str]:
    """Open a path for text reading; `-` is stdin, `.gz` is gunzipped."""
    if str(path) == "-":
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8") if "r" in mode else sys.stdout
    p = Path(path)
    if "r" in mode and not p.exists():
        raise UsageError(f"{p}: no such file")
    if p.suffix == ".gz":
        return gzip.open(p, mode + "t", encoding="utf-8")
    return open(p, mode, encoding="utf-8")


def parse_line(line: str | bytes, file: str, lineno: int) -> dict:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", _name(file), lineno) from None
    if not isinstance(rec, dict):
        raise DataError("a record must be a JSON object", _name(file), lineno)
    return rec


def read_jsonl(path, kind: str | None = None) -> Iterator[dict]:
    """Yield the records of a JSONL file; check each against schema `kind` when given."""
    from .schema import check

    name = _name(path)
    with open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            rec = parse_line(line, name, lineno)
            if kind:
                check(rec, kind, name, lineno)
            yield rec


def dumps(rec: dict) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


@contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temp path beside `path`; rename it over `path` only if the block succeeds."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix + ".tmp", dir=p.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)   # mkstemp makes 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path, records: Iterable[dict]) -> int:
    """Write records atomically; return how many were written."""
    if str(path) == "-":
        chunks = [dumps(r) for r in records]
        sys.stdout.buffer.write(b"".join(chunks))
        sys.stdout.buffer.flush()
        return len(chunks)
    n = 0
    with atomic_path(path) as tmp:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(tmp, "wb") as fh:
            for rec in records:
                fh.write(dumps(rec))
                n += 1
    return n


def log(*parts) -> None:
    """Progress and summaries go to stderr; stdout carries data only."""
    print(*parts, file=sys.stderr, flush=True)
