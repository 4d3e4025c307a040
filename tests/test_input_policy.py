"""The bad-input policy of docs/input-policy.md, one case per defect class and reader.

Clean formats (ML-100K, ML-1M, RecBole, one's own csv/jsonl, inter-stage JSONL): a defect is a
DataError reading exactly `file:line: field: what`, prep writes nothing. BookCrossing: bad rows are
skipped and counted. Unusual but valid input (BOM, CRLF, blank lines, latin-1, quoted separators,
string ids) reads like plain input.
"""
from __future__ import annotations

import gzip
import json
import math
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import raw_fixtures

from l4r.datasets import bookcrossing, fetch, ml100k, ml1m, recbole
from l4r.datasets import csv as csvreader
from l4r.errors import DataError, UsageError
from l4r.io import read_jsonl
from l4r.schema import SPECS, check
from l4r.stages import prep

RAW = raw_fixtures.root()


def fails(tmp_path: Path, dataset: str, raw: Path, message: str, **kw) -> None:
    """prep stops with exactly `message` and leaves no output folder."""
    out = tmp_path / "out"
    with pytest.raises(DataError) as err:
        prep.run(dataset, raw, out, prep.Options(offline=True, **kw))
    assert str(err.value) == message
    assert not out.exists()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --- ML-100K ---------------------------------------------------------------------------------------

def ml100k_folder(tmp_path: Path, data: str, items: str | None = None) -> Path:
    d = tmp_path / "ml-100k"
    d.mkdir()
    flags = "|".join(["0"] * 19)
    (d / "u.item").write_text(items if items is not None else
                              "".join(f"{i}|Film {i} (1990)|01-Jan-1990||http://x|{flags}\n" for i in range(1, 6)))
    (d / "u.user").write_text("".join(f"{u}|30|M|writer|12345\n" for u in range(1, 4)))
    (d / "u.data").write_text(data)
    return d


GOOD = "1\t1\t5\t10\n1\t2\t4\t11\n1\t3\t3\t12\n2\t1\t2\t13\n"


@pytest.mark.parametrize("data, where, what", [
    (GOOD + "1\t2\t3\t14\n", 5, "repeated (user 1, item 2); first at line 2"),
    ("1\t1\t6\t10\n", 1, "rating: expected a rating 1-5, got 6"),
    ("1\t1\t0\t10\n", 1, "rating: expected a rating 1-5, got 0"),
    ("1\t1\tnan\t10\n", 1, "rating: expected an integer, got 'nan'"),
    ("1\t1\t4.5\t10\n", 1, "rating: expected an integer, got '4.5'"),
    ("1\t1\t4\t-5\n", 1, "timestamp: expected a non-negative integer, got '-5'"),
    ("1\t1\t4\ttrue\n", 1, "timestamp: expected a number, got 'true'"),
    ("1_0\t1\t4\t10\n", 1, "user id: expected an integer, got '1_0'"),
    (GOOD + "1\t4\t3\n", 5, "expected 4 tab-separated fields, got 3"),
])
def test_ml100k_defects_name_file_line_field(tmp_path, data, where, what):
    d = ml100k_folder(tmp_path, data)
    fails(tmp_path, "ml-100k", d, f"{d / 'u.data'}:{where}: {what}")


def test_ml100k_empty_ratings_and_repeated_item_name_the_file(tmp_path):
    d = ml100k_folder(tmp_path, "\n")
    fails(tmp_path, "ml-100k", d, f"{d / 'u.data'}: no interactions: the file has no data lines")
    flags = "|".join(["0"] * 19)
    (d / "u.data").write_text(GOOD)
    (d / "u.item").write_text(f"1|A (1990)|||x|{flags}\n2|B (1991)|||x|{flags}\n1|C (1992)|||x|{flags}\n")
    fails(tmp_path, "ml-100k", d, f"{d / 'u.item'}:3: repeated item 1; first at line 1")


def test_ml100k_bom_crlf_blank_lines_and_utf8_copy_read_the_same(tmp_path):
    plain = ml100k.read(RAW / "ml-100k-tiny")
    d = tmp_path / "odd"
    shutil.copytree(RAW / "ml-100k-tiny", d)
    for name in ("u.data", "u.user"):
        text = (d / name).read_text()
        (d / name).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n\r\n").encode())
    (d / "u.item").write_bytes((d / "u.item").read_bytes().decode("latin-1").encode("utf-8"))
    odd = ml100k.read(d)
    assert odd == plain
    assert next(r for r in odd.items if r["item"] == "6")["title"] == "Café Lumière (1996)"


# --- ML-1M -----------------------------------------------------------------------------------------

def ml1m_copy(tmp_path: Path) -> Path:
    d = tmp_path / "ml-1m"
    shutil.copytree(RAW / "ml-1m-tiny", d)
    return d


def with_line(path: Path, n: int, line: str) -> None:
    """Replace line n (1-based) of a text file."""
    rows = path.read_text(encoding="latin-1").splitlines()
    rows[n - 1] = line
    path.write_bytes(("\n".join(rows) + "\n").encode("latin-1"))


@pytest.mark.parametrize("line, what", [
    ("{user}::{movie}::4::978300760", "repeated (user {user}, movie {movie}); first at line 1"),
    ("1::99::9::978300760", "rating: expected a rating 1-5, got 9"),
    ("1::99::4::-1", "timestamp: expected a non-negative integer, got '-1'"),
    ("1::99::4::nan", "timestamp: expected a number, got 'nan'"),
])
def test_ml1m_rating_defects(tmp_path, line, what):
    d = ml1m_copy(tmp_path)
    rows = (d / "ratings.dat").read_text().splitlines()
    user, movie = rows[0].split("::")[:2]
    (d / "ratings.dat").write_text("\n".join(rows + [line.format(user=user, movie=movie)]) + "\n")
    what = what.format(user=user, movie=movie)
    fails(tmp_path, "ml-1m", d, f"{d / 'ratings.dat'}:{len(rows) + 1}: {what}")


def test_ml1m_user_and_movie_defects(tmp_path):
    d = ml1m_copy(tmp_path)
    with_line(d / "users.dat", 2, "2::F::7::3::12345")
    fails(tmp_path, "ml-1m", d, f"{d / 'users.dat'}:2: age: expected an age code (1, 18, 25, 35, 45, 50, 56), got 7")
    with_line(d / "users.dat", 2, "1::F::18::3::12345")
    fails(tmp_path, "ml-1m", d, f"{d / 'users.dat'}:2: repeated user 1; first at line 1")


def test_ml1m_empty_gzipped_ratings_name_the_file(tmp_path):
    d = ml1m_copy(tmp_path)
    (d / "ratings.dat").unlink()
    (d / "ratings.dat.gz").write_bytes(gzip.compress(b"\r\n"))
    fails(tmp_path, "ml-1m", d, f"{d / 'ratings.dat.gz'}: no interactions: the file has no data lines")


def test_ml1m_bom_and_crlf_read_the_same(tmp_path):
    plain = ml1m.read(RAW / "ml-1m-tiny")
    d = ml1m_copy(tmp_path)
    for name in ml1m.FILES:
        (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes().replace(b"\n", b"\r\n"))
    assert ml1m.read(d) == plain


# --- RecBole atomic files --------------------------------------------------------------------------

HEADER = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"


def recbole_folder(tmp_path: Path, inter: bytes | str, items: str = "") -> Path:
    d = tmp_path / "rb"
    d.mkdir()
    (d / "x.inter").write_bytes(inter if isinstance(inter, bytes) else inter.encode())
    if items:
        (d / "x.item").write_text(items)
    return d


def test_recbole_bom_crlf_blank_lines_and_string_ids_just_work(tmp_path):
    """A BOM before the header was a KeyError traceback."""
    text = HEADER + "u1\tm1\t4\t874965758\n\nu1\tm2\t3.5\t874965759.0\nu2\tm1\t5\t874965760\n"
    d = recbole_folder(tmp_path, b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(),
                       items="item_id:token\tmovie_title:token_seq\trelease_year:token\nm1\tFirst\t1995\n")
    raw = recbole.read(d)
    assert raw.interactions == [{"user": "u1", "item": "m1", "rating": 4.0, "ts": 874965758},
                                {"user": "u1", "item": "m2", "rating": 3.5, "ts": 874965759},
                                {"user": "u2", "item": "m1", "rating": 5.0, "ts": 874965760}]
    assert raw.items[0]["title"] == "First (1995)"


@pytest.mark.parametrize("row, what", [
    ("u1\tm1\t4\t3", "repeated (user u1, item m1); first at line 2"),
    ("u1\tm2\t7\t3", "rating: expected a rating 1-5, got 7"),
    ("u1\tm2\tnan\t3", "rating: expected a number, got 'nan'"),
    ("u1\tm2\tinf\t3", "rating: expected a number, got 'inf'"),
    ("u1\tm2\t1e999\t3", "rating: expected a finite number, got '1e999'"),
    ("u1\tm2\ttrue\t3", "rating: expected a number, got 'true'"),
    ("u1\tm2\t4\t-3", "timestamp: expected a non-negative integer, got '-3'"),
    ("u1\tm2\t4\t3.5", "timestamp: expected a non-negative integer, got '3.5'"),
    ("\tm2\t4\t3", "user_id: empty"),
    ("u1\tm2\t4", "expected 4 tab-separated fields, got 3"),
])
def test_recbole_defects_name_file_line_field(tmp_path, row, what):
    d = recbole_folder(tmp_path, HEADER + "u1\tm1\t4\t1\n" + row + "\n")
    fails(tmp_path, "recbole", d, f"{d / 'x.inter'}:3: {what}")


def test_recbole_invalid_utf8_and_header_only_name_the_file(tmp_path):
    d = recbole_folder(tmp_path, HEADER.encode() + b"u1\tm1\t4\t1\nu\xff\tm2\t4\t2\n")
    fails(tmp_path, "recbole", d, f"{d / 'x.inter'}:3: not UTF-8 text (byte 0xff at column 2); "
                                  "convert the file to UTF-8")
    (d / "x.inter").write_text(HEADER)
    fails(tmp_path, "recbole", d, f"{d / 'x.inter'}: no interactions: the file has no data lines")
    (d / "x.inter").write_text(HEADER + "u1\tm1\t4\t1\n")
    (d / "x.item").write_text("item_id:token\trelease_year:token\nm1\tabc\n")
    fails(tmp_path, "recbole", d, f"{d / 'x.item'}:2: year: expected a number, got 'abc'")


# --- BookCrossing: dirty rows are skipped and counted ------------------------------------------------

def bx_copy(tmp_path: Path) -> Path:
    d = tmp_path / "bx"
    shutil.copytree(RAW / "bookcrossing-tiny", d)
    return d


def test_bookcrossing_odd_digits_are_counted_not_crashed_on(tmp_path):
    d = bx_copy(tmp_path)
    path = d / "BX-Book-Ratings.csv"
    path.write_bytes(path.read_bytes() + '"2";"0100000009";"²"\r\n"³";"0100000009";"4"\r\n'.encode("latin-1"))
    raw = bookcrossing.read(d)
    assert raw.skipped["BX-Book-Ratings.csv: rating not 0-10"] == 3
    assert raw.skipped["BX-Book-Ratings.csv: user id not a number"] == 2


def test_bookcrossing_bom_is_dropped(tmp_path):
    d = bx_copy(tmp_path)
    for name in bookcrossing.FILES:
        (d / name).write_bytes(b"\xef\xbb\xbf" + (d / name).read_bytes().decode("latin-1").encode("utf-8"))
    plain = bookcrossing.read(RAW / "bookcrossing-tiny")
    assert bookcrossing.read(d) == plain


def test_bookcrossing_without_usable_ratings_names_the_ratings_file(tmp_path):
    d = bx_copy(tmp_path)
    path = d / "BX-Book-Ratings.csv"
    path.write_bytes(b'"User-ID";"ISBN";"Book-Rating"\r\n')
    fails(tmp_path, "bookcrossing", d, f"{path}: no ratings: the file has no data lines")
    path.write_bytes(b'"User-ID";"ISBN";"Book-Rating"\r\n"1";"nope";"5"\r\n"2";"0100000001";"12"\r\n')
    fails(tmp_path, "bookcrossing", d, f"{path}: no usable ratings: all 2 rows were skipped (reasons above)")


# --- one's own csv / jsonl -----------------------------------------------------------------------------

def table(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("row, what", [
    ("a,x,4,3", "repeated (user a, item x); first at line 2"),
    ("a,y,nan,3", "rating: expected a number, got 'nan'"),
    ("a,y,Infinity,3", "rating: expected a number, got 'Infinity'"),
    ("a,y,true,3", "rating: expected a number, got 'true'"),
    ("a,y,4,-3", "timestamp: expected a time from 1970 on, got '-3'"),
    ("a,y,4,1969-12-31", "timestamp: expected a time from 1970 on, got '1969-12-31'"),
    ("a,,4,3", "item: empty"),
])
def test_csv_defects_name_file_line_column(tmp_path, row, what):
    path = table(tmp_path, "t.csv", f"user,item,rating,timestamp\na,x,4,1\n{row}\n")
    fails(tmp_path, "csv", path, f"{path}:3: {what}")


@pytest.mark.parametrize("row, what", [
    ('{"user": "a", "item": "y", "rating": true}', "rating: expected a number, got true"),
    ('{"user": "a", "item": "y", "rating": "nan"}', "rating: expected a number, got 'nan'"),
    ('{"user": true, "item": "y"}', "user: expected a string or integer id, got true"),
    ('{"user": 1.5, "item": "y"}', "user: expected a string or integer id, got 1.5"),
    ('{"user": "a", "item": "y", "rating": NaN}', "not valid JSON (unexpected character, expected a JSON value)"),
    ('{"user": "a", "item": "x"}', "repeated (user a, item x); first at line 1"),
])
def test_jsonl_defects_name_file_line_field(tmp_path, row, what):
    path = table(tmp_path, "t.jsonl", '{"user": "a", "item": "x", "rating": 4}\n' + row + "\n")
    fails(tmp_path, "jsonl", path, f"{path}:2: {what}")


def test_csv_and_jsonl_bom_crlf_blank_lines_quoted_separators_string_ids(tmp_path):
    rows = ["user,item,rating,timestamp", '"Doe, J.",b-1,4,10', "", '"Doe, J.",b-2,5,2020-01-01T00:00:00',
            "x9,b-1,3.5,12"]
    path = table(tmp_path, "t.csv", b"\xef\xbb\xbf" + "\r\n".join(rows).encode() + b"\r\n")
    got = csvreader.read(path).interactions
    assert got == [{"user": "Doe, J.", "item": "b-1", "rating": 4.0, "ts": 10.0},
                   {"user": "Doe, J.", "item": "b-2", "rating": 5.0, "ts": 1577836800.0},
                   {"user": "x9", "item": "b-1", "rating": 3.5, "ts": 12.0}]
    lines = [json.dumps({"user": r["user"], "item": r["item"], "rating": r["rating"], "timestamp": r["ts"]})
             for r in got]
    path = table(tmp_path, "t.jsonl", b"\xef\xbb\xbf" + "\r\n\r\n".join(lines).encode() + b"\r\n")
    assert csvreader.read(path, forced="jsonl").interactions == got


def test_csv_items_table_defects(tmp_path):
    path = table(tmp_path, "interactions.csv", "user,item\na,x\na,y\n")
    items = table(tmp_path, "items.csv", "item,title,year\nx,X,1990\ny,Y,19x0\n")
    fails(tmp_path, "csv", path, f"{items}:3: year: expected a number, got '19x0'")
    items.write_text("item,title\nx,X\nx,Again\n")
    fails(tmp_path, "csv", path, f"{items}:3: repeated item x; first at line 2")


# --- inter-stage JSONL: every record type of l4r/schema.py -------------------------------------------

SAMPLES = {
    "interaction": {"user": "1", "item": "2", "rating": 4.0, "ts": 881250949},
    "item": {"item": "2", "title": "Film (1995)", "year": 1995, "genres": ["Drama"], "attrs": {}},
    "user": {"user": "1", "attrs": {"age": 24}},
    "attribute": {"item": "2", "attrs": {"director": "Someone"}},
    "candidates": {"user": "1", "split": "test", "items": ["2", "3"], "scores": [0.5, 0.25], "model": "mf"},
    "embedding": {"user": "1", "vector": [0.1, 0.2]},
    "triple": {"user": "1", "pos": "2", "neg": "3"},
    "sequence": {"user": "1", "items": ["2", "3"]},
    "instruction": {"id": "a", "task": "listwise", "instruction": "Rank", "input": "x", "output": "y"},
    "prompt": {"id": "a", "task": "listwise", "user": "1", "instruction": "Rank", "input": "x"},
    "completion": {"id": "a", "task": "rating", "user": "1", "text": "4", "rating": 4, "status": "ok"},
    "prediction": {"user": "1", "item": "2", "rating": 3.5},
    "metric": {"metric": "HR@5", "value": 0.5, "n": 943},
}


def test_every_record_type_has_a_sample():
    assert set(SAMPLES) == set(SPECS)


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_records_read_through_bom_crlf_and_blank_lines(tmp_path, kind):
    rec = SAMPLES[kind]
    path = table(tmp_path, "r.jsonl", b"\xef\xbb\xbf" + (json.dumps(rec) + "\r\n\r\n" + json.dumps(rec)).encode())
    assert list(read_jsonl(path, kind)) == [rec, rec]


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_record_defects_name_file_line_field(tmp_path, kind):
    rec = SAMPLES[kind]
    field = next(f for f, (_, required) in SPECS[kind].items() if required)
    cases = [({k: v for k, v in rec.items() if k != field}, f"{field}: missing (a {kind} record needs it)"),
             ({**rec, field: True}, f"{field}: expected {SPECS[kind][field][0][0].__name__}, got bool")]
    for bad, what in cases:
        path = table(tmp_path, "r.jsonl", json.dumps(rec) + "\n" + json.dumps(bad) + "\n")
        with pytest.raises(DataError) as err:
            list(read_jsonl(path, kind))
        assert str(err.value) == f"{path}:2: {what}"


@pytest.mark.parametrize("kind", sorted(k for k, spec in SPECS.items() if any(float in t for t, _ in spec.values())))
def test_numbers_are_finite_and_not_booleans(kind):
    field = next(f for f, (types, _) in SPECS[kind].items() if float in types and list not in types)
    for value, what in ((True, "expected " + "/".join("null" if t is type(None) else t.__name__
                                                       for t in SPECS[kind][field][0]) + ", got bool"),
                        (math.nan, "expected a finite number, got nan"),
                        (math.inf, "expected a finite number, got inf")):
        with pytest.raises(DataError) as err:
            check({**SAMPLES[kind], field: value}, kind, "f.jsonl", 7)
        assert str(err.value) == f"f.jsonl:7: {field}: {what}"


def test_jsonl_invalid_utf8_names_file_and_line(tmp_path):
    path = table(tmp_path, "r.jsonl", b'{"user": "1", "item": "2"}\n{"user": "\xe9", "item": "2"}\n')
    with pytest.raises(DataError) as err:
        list(read_jsonl(path, "interaction"))
    assert str(err.value) == f"{path}:2: not UTF-8 text (byte 0xe9 at column 11); convert the file to UTF-8"
    gz = tmp_path / "r.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError, match=r"r\.jsonl\.gz:2: not UTF-8 text"):
        list(read_jsonl(gz))


# --- prep: inputs are read-only, a named --raw must exist, short users are counted --------------------

def no_network(*args, **kwargs):
    raise AssertionError("prep tried the network")


def test_mistyped_raw_is_a_usage_error_that_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch, "download", no_network)
    monkeypatch.setattr(fetch, "recbole_copy", no_network)
    missing = tmp_path / "typo"
    with pytest.raises(UsageError) as err:
        prep.run("ml-100k", missing, tmp_path / "out")
    assert str(err.value) == (f"{missing}: no such file or folder; put u.data, u.item, u.user (or ml-100k.zip) "
                              "there, or pass --download to fetch them into it")
    assert not missing.exists() and not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="--download and --offline contradict each other"):
        prep.run("ml-100k", missing, tmp_path / "out", prep.Options(offline=True, download=True))


def test_default_folder_offline_says_what_to_put_where(tmp_path, monkeypatch):
    from l4r.datasets import locate

    monkeypatch.setattr(locate, "DEFAULT_RAW", tmp_path / "data" / "raw")
    with pytest.raises(UsageError) as err:
        prep.run("ml-100k", None, tmp_path / "out", prep.Options(offline=True))
    assert str(err.value) == (f"{tmp_path / 'data' / 'raw' / 'ml-100k'}: no ML-100K files; put u.data, u.item, "
                              "u.user (or ml-100k.zip) there, or let prep download them (see --download)")


def zip_ml100k(archive: Path, extra: str = "") -> None:
    with zipfile.ZipFile(archive, "w") as z:
        for f in ("u.item", "u.user", "u.genre"):
            z.write(RAW / "ml-100k-tiny" / f, f"ml-100k/{f}")
        z.writestr("ml-100k/u.data", (RAW / "ml-100k-tiny" / "u.data").read_text() + extra)


def test_archives_unpack_outside_raw_even_on_failure(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    zip_ml100k(raw / "ml-100k.zip")
    stats = prep.run("ml-100k", raw, tmp_path / "d", prep.Options(offline=True))
    assert stats["split_hash"] == "90d1a02c38528daf"
    assert stats["dataset"] == "ml-100k" and stats["source"] == f"ml-100k files in {raw / 'ml-100k.zip'}"
    assert listing(raw) == ["ml-100k.zip"]
    zip_ml100k(raw / "ml-100k.zip", "1\t999\t9\t1\n")
    with pytest.raises(DataError) as err:    # named inside the archive: the unpacked copy is gone
        prep.run("ml-100k", raw, tmp_path / "e", prep.Options(offline=True))
    assert str(err.value) == f"{raw / 'ml-100k.zip'}/ml-100k/u.data:289: rating: expected a rating 1-5, got 9"
    assert listing(raw) == ["ml-100k.zip"] and not (tmp_path / "e").exists()


def test_short_users_are_counted_and_stay_in_training(tmp_path):
    path = table(tmp_path, "t.csv", "user,item,timestamp\na,x,1\nb,x,1\nb,y,2\nc,x,1\nc,y,2\nc,z,3\n")
    stats = prep.run("csv", path, tmp_path / "d")
    assert stats["short_users"] == {"train_only": 1, "no_valid": 1}
    train = [json.loads(x) for x in (tmp_path / "d" / "train.jsonl").read_text().splitlines()]
    assert [(r["user"], r["item"]) for r in train] == [("a", "x"), ("b", "x"), ("c", "x")]


def test_cli_bad_raw_row_is_exit_1_one_line_no_output(tmp_path):
    d = ml100k_folder(tmp_path, GOOD + "2\t1\t3\t14\n")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "l4r", "prep", "--raw", str(d), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr == f"l4r: {d / 'u.data'}:5: repeated (user 2, item 1); first at line 4\n"
    assert not out.exists()
