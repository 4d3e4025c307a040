"""Where a dataset's original files are: the folder named by --raw, an archive there (unpacked into a
temporary folder: --raw is never written), or, where allowed, the official archive downloaded into
the default folder data/raw/DATASET or into --raw with --download (l4r.datasets.fetch).
`locate(...)` returns (reader name, folder of files, where they came from)."""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError, UsageError
from ..io import log
from . import READERS, fetch, reader, spec

DEFAULT_RAW = Path("data/raw")



def downloadable() -> list[str]:
    return [n for n in READERS if spec(n).url]


def raw_folder(dataset: str, raw: Path | None, download: bool, offline: bool) -> tuple[Path, bool]:
    """(the folder of original files, whether prep may download into it). A path the user names
    must exist unless --download; the default data/raw/DATASET is where downloads go."""
    default = DEFAULT_RAW / dataset
    raw = default if raw is None else raw
    if download and offline:
        raise UsageError("--download and --offline contradict each other")
    if download and not spec(dataset).url:
        raise UsageError(f"--download: prep can download {', '.join(downloadable())}, not {dataset}")
    named = raw.resolve() != default.resolve()
    if named and not download and not raw.exists():
        raise UsageError(f"{raw}: no such file or folder; {what_to_put(dataset)}")
    return raw, (download or not named) and not offline


def what_to_put(dataset: str) -> str:
    if spec(dataset).url:
        return f"put {spec(dataset).files} there, or pass --download to fetch them into it"
    if dataset in ("csv", "jsonl"):
        return "pass the interaction table (or its folder) as --raw"
    return f"put the original {dataset} files there"


def find_in(root: Path, dataset: str, present, deep: bool = False) -> Path | None:
    """The folder that holds the dataset's files: root, root/DATASET, or (deep) any folder below."""
    folders = [root, root / dataset]
    if deep:
        folders += sorted(p for p in root.rglob("*") if p.is_dir())
    return next((f for f in folders if f.is_dir() and present(f)), None)


def unpack(archive: Path, tmp: Path, dataset: str, present) -> Path:
    """Unzip into the temporary folder `tmp`; return the folder inside that holds the files."""
    fetch.unzip(archive, tmp / archive.stem)
    folder = find_in(tmp / archive.stem, dataset, present, deep=True)
    if not folder:
        raise UsageError(f"{archive}: the archive holds no {spec(dataset).files}")
    return folder


def locate_ml100k(raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, folder, where the files came from) for ML-100K, fetching it if allowed."""
    from . import ml100k

    for folder in (raw, raw / "ml-100k"):
        if ml100k.present(folder):
            return "ml-100k", folder, str(folder)
    for archive in (raw / "ml-100k.zip", raw.parent / "ml-100k.zip"):
        if archive.exists():
            return "ml-100k", unpack(archive, tmp, "ml-100k", ml100k.present), str(archive)
    if list((raw / "recbole-ml-100k").glob("*.inter")):
        return "recbole", raw / "recbole-ml-100k", str(raw / "recbole-ml-100k")
    if may_fetch:
        raw.mkdir(parents=True, exist_ok=True)
        log(f"prep: no ML-100K files in {raw}: downloading {ml100k.URL} into it")
        try:
            archive = fetch.download(ml100k.URL, raw / "ml-100k.zip", ml100k.MD5)
            return "ml-100k", unpack(archive, tmp, "ml-100k", ml100k.present), str(archive)
        except OSError as exc:
            log(f"prep: official download failed ({exc}); trying the copy in the RecBole wheel")
        copy = fetch.recbole_copy("ml-100k", raw)
        if copy:
            return "recbole", copy, str(copy)
    raise UsageError(f"{raw}: no ML-100K files; put {spec('ml-100k').files} there"
                     + ("" if may_fetch else ", or let prep download them (see --download)"))


def check_md5s(folder: Path, sums: dict[str, str]) -> None:
    for name, expect in sums.items():
        got = fetch.md5(folder / name)
        if got != expect:
            raise UsageError(f"{folder / name}: checksum mismatch (md5 {got}, expected {expect}); "
                             "delete the download and retry, or put the original files in --raw")


def locate_download(dataset: str, raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, folder, where the files came from) for ml-1m or bookcrossing: the files in
    --raw, an archive there, or the official archive downloaded (checksum verified, resumed)."""
    mod = reader(dataset)
    folder = find_in(raw, dataset, mod.present)
    if folder:
        return dataset, folder, str(folder)
    archive = raw / spec(dataset).archive
    where = f"put {spec(dataset).files} in {raw} (official home: {mod.URL.rsplit('/', 1)[0]}/)"
    if not archive.exists():
        if not may_fetch:
            raise UsageError(f"{raw}: no {dataset} files; {where}")
        try:
            raw.mkdir(parents=True, exist_ok=True)
            log(f"prep: no {dataset} files in {raw}: downloading {mod.URL} into it")
            fetch.download(mod.URL, archive, getattr(mod, "MD5", None))
        except OSError as exc:
            raise UsageError(f"{raw}: no {dataset} files and the download failed ({exc}); {where}") from None
    folder = unpack(archive, tmp, dataset, mod.present)
    if getattr(mod, "FILE_MD5", None):   # no published archive sum: check each file instead
        check_md5s(folder, mod.FILE_MD5)
    return dataset, folder, str(archive)


def locate(dataset: str, raw: Path, may_fetch: bool, tmp: Path) -> tuple[str, Path, str]:
    """(reader name, path of the original files, where they came from); archives unpack into `tmp`."""
    if dataset == "ml-100k":
        return locate_ml100k(raw, may_fetch, tmp)
    if spec(dataset).url:
        return locate_download(dataset, raw, may_fetch, tmp)
    if not raw.exists():
        raise UsageError(f"{raw}: no such file or folder; {what_to_put(dataset)}")
    return dataset, raw, str(raw)


def in_archive(exc: DataError, tmp: Path, archive: str) -> DataError:
    """`exc` naming ARCHIVE/member instead of the temporary unpacked copy, which is gone after prep."""
    file = Path(exc.file)
    if not file.is_relative_to(tmp):
        return exc
    return DataError(exc.what, f"{archive}/{file.relative_to(tmp / Path(archive).stem)}", exc.line, exc.field)
