"""JSONL in and out: `-` is stdin/stdout, `.gz` is compressed, writes are atomic.

Readers yield records and raise DataError(`file:line: field: what`) on bad lines; input is strict
UTF-8 (a BOM before line 1 and CRLF line ends are fine, blank lines are skipped).
Writers put everything in a temp file beside the target and rename it at the end,
so a failed stage never leaves a partial output; `-` is buffered and written at the end.
"""
from __future__ import annotations

import gzip
import io
import os
import sys
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable, Iterator

import orjson

from .errors import DataError, UsageError


def _name(path) -> str:
    return "<stdin>" if str(path) == "-" else str(path)


BOM = b"\xef\xbb\xbf"


@contextmanager
def open_bytes(path) -> Iterator[IO[bytes]]:
    """Open a path for binary reading; `-` is stdin (left open), `.gz` is gunzipped."""
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    with (gzip.open(p, "rb") if p.suffix == ".gz" else open(p, "rb")) as fh:
        yield fh


def text_lines(path) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) of a UTF-8 text file, blank lines and line ends included.

    A BOM before line 1 is dropped; a byte that is not UTF-8 is a DataError naming file and line."""
    name = _name(path)
    try:
        with open_bytes(path) as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(f"not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                                    "convert the file to UTF-8", name, lineno) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"damaged gzip file ({exc})", name) from None


def parse_line(line: str | bytes, file: str, lineno: int) -> dict:
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"not valid JSON ({exc.msg})", _name(file), lineno) from None
    if not isinstance(rec, dict):
        raise DataError("a record must be a JSON object", _name(file), lineno)
    return rec


def read_jsonl(path, kind: str | None = None, with_lines: bool = False) -> Iterator:
    """Yield the records of a JSONL file (as (line number, record) with `with_lines`); check each
    against schema `kind` when given."""
    from .schema import check

    name = _name(path)
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        rec = parse_line(line, name, lineno)
        if kind:
            check(rec, kind, name, lineno)
        yield (lineno, rec) if with_lines else rec


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


def save_torch(obj, path) -> None:
    """torch.save, atomically and byte for byte the same for the same object: saving to a buffer
    names the zip's inner folder "archive", where saving to a temp file would name it after the file."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.getvalue())


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



def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
