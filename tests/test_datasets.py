"""Dataset readers (ML-100K, ML-1M, BookCrossing, csv/jsonl), locate/download, and the
leave-one-out protocol, on the tiny raw fixtures written by tests/raw_fixtures.py."""
from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import raw_fixtures
from conftest import l4r

from l4r.datasets import bookcrossing, csv as csvreader, ml1m
from l4r.errors import DataError, UsageError
from l4r.split import check_protocol, leave_one_out, random_order, split_hash
from l4r.stages import prep

RAW = raw_fixtures.root()   # written at first use, not kept in the repository


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def copy(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(RAW / name, dest)
    return dest


# --- ML-100K-format fixture: the split is fixed -------------------------------------------------

def test_ml100k_tiny_split_has_a_fixed_hash(tmp_path):
    stats = prep.run("ml-100k", RAW / "ml-100k-tiny", tmp_path / "d", prep.Options(offline=True))
    assert (stats["users"], stats["items"], stats["interactions"]) == (30, 40, 288)
    assert (stats["train"], stats["valid"], stats["test"]) == (228, 30, 30)
    assert stats["split_hash"] == "90d1a02c38528daf"
    assert stats["order"] == "timestamp"
    train = lines(tmp_path / "d" / "train.jsonl")
    per_user = {}
    for r in train:
        per_user[r["user"]] = per_user.get(r["user"], 0) + 1
    assert min(per_user.values()) >= 4          # >= 6 ratings per user in the fixture


def test_pipeline_fixture_split_has_a_fixed_hash(tmp_path):
    """The taste-group fixture of conftest's raw_tiny and `make smoke` (raw_fixtures.write_tiny_ml100k)."""
    stats = prep.run("ml-100k", RAW / "ml-100k-groups-tiny", tmp_path / "d", prep.Options(offline=True))
    assert (stats["users"], stats["items"], stats["interactions"]) == (40, 60, 531)
    assert (stats["train"], stats["valid"], stats["test"]) == (451, 40, 40)
    assert stats["split_hash"] == "d6daaeb4368f04d8"


def test_rating_fixture_shape():
    """raw_fixtures.rating_tiny: the prepared rating fixture of test_models_rating.py (generated; it was
    checked byte for byte against the tracked copy it replaced)."""
    made = RAW / "rating-tiny"
    assert sorted(p.name for p in made.iterdir()) == ["attributes.jsonl", "items.jsonl", "test.jsonl",
                                                      "train.jsonl", "users.jsonl", "valid.jsonl"]
    stats = {s: len(lines(made / f"{s}.jsonl")) for s in ("train", "valid", "test", "items", "users")}
    assert stats == {"train": 200, "valid": 20, "test": 20, "items": 15, "users": 20}


def test_equal_timestamps_split_by_item_id(tmp_path):
    # user 4's last two ratings share one second (items 28 and 35): the larger id is the test item
    prep.run("ml-100k", RAW / "ml-100k-tiny", tmp_path / "d", prep.Options(offline=True))
    test = {r["user"]: r for r in lines(tmp_path / "d" / "test.jsonl")}
    valid = {r["user"]: r for r in lines(tmp_path / "d" / "valid.jsonl")}
    assert test["4"]["item"] == "35" and valid["4"]["item"] == "28"
    assert test["4"]["ts"] == valid["4"]["ts"] == 880045954


def test_ml100k_latin1_title(tmp_path):
    prep.run("ml-100k", RAW / "ml-100k-tiny", tmp_path / "d", prep.Options(offline=True))
    titles = {r["item"]: r["title"] for r in lines(tmp_path / "d" / "items.jsonl")}
    assert titles["6"] == "Café Lumière (1996)"


# --- ML-1M ---------------------------------------------------------------------------------------

def test_ml1m_reads_all_three_files():
    raw = ml1m.read(RAW / "ml-1m-tiny")
    assert len(raw.interactions) == 95 and len(raw.items) == 20 and len(raw.users) == 10
    assert {r["user"] for r in raw.interactions} == {str(u) for u in range(1, 11)}
    item6 = next(r for r in raw.items if r["item"] == "6")
    assert item6["title"] == "Café Lumière (1996)" and item6["year"] == 1996 and item6["genres"]
    assert raw.users[0]["attrs"]["occupation"] in ml1m.OCCUPATIONS
    assert raw.users[0]["attrs"]["age_group"] is not None
    first = raw.interactions[0]
    assert isinstance(first["ts"], int) and 1 <= first["rating"] <= 5


def test_ml1m_gzipped_ratings_and_utf8_copy_read_the_same(tmp_path):
    d = copy("ml-1m-tiny", tmp_path)
    plain = ml1m.read(d)
    data = (d / "ratings.dat").read_bytes()
    (d / "ratings.dat").unlink()
    (d / "ratings.dat.gz").write_bytes(gzip.compress(data))
    (d / "movies.dat").write_bytes((d / "movies.dat").read_bytes().decode("latin-1").encode("utf-8"))
    again = ml1m.read(d)
    assert again.interactions == plain.interactions and again.items == plain.items


def test_ml1m_bad_line_names_file_and_line(tmp_path):
    d = copy("ml-1m-tiny", tmp_path)
    rows = (d / "ratings.dat").read_text().splitlines()
    rows[4] = "1::5::4"                      # a field lost
    (d / "ratings.dat").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"ratings\.dat:5: expected 4 '::'-separated fields, got 3"):
        ml1m.read(d)
    rows[4] = "1::5::four::978300760"
    (d / "ratings.dat").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"ratings\.dat:5: rating: expected an integer, got 'four'"):
        ml1m.read(d)


def test_ml1m_utf16_file_is_refused(tmp_path):
    d = copy("ml-1m-tiny", tmp_path)
    (d / "users.dat").write_bytes((d / "users.dat").read_text().encode("utf-16"))
    with pytest.raises(DataError, match=r"users\.dat:1: NUL byte: not latin-1"):
        ml1m.read(d)


def test_ml1m_prep_from_a_zip_archive(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    with zipfile.ZipFile(raw / "ml-1m.zip", "w") as z:
        for f in ml1m.FILES:
            z.write(RAW / "ml-1m-tiny" / f, f"ml-1m/{f}")
    stats = prep.run("ml-1m", raw, tmp_path / "d", prep.Options(offline=True))
    assert (stats["users"], stats["items"], stats["interactions"]) == (10, 20, 95)


def test_ml1m_download_checks_md5(tmp_path, monkeypatch):
    """The download path with a file:// URL (no network): checksum verified, then unzipped."""
    src = tmp_path / "src"
    src.mkdir()
    with zipfile.ZipFile(src / "ml-1m.zip", "w") as z:
        for f in ml1m.FILES:
            z.write(RAW / "ml-1m-tiny" / f, f"ml-1m/{f}")
    monkeypatch.setattr(ml1m, "URL", (src / "ml-1m.zip").as_uri())
    monkeypatch.setattr(ml1m, "MD5", "0" * 32)
    with pytest.raises(UsageError, match="checksum mismatch"):
        prep.run("ml-1m", tmp_path / "raw", tmp_path / "d", prep.Options(download=True))
    monkeypatch.setattr(ml1m, "MD5", hashlib.md5((src / "ml-1m.zip").read_bytes()).hexdigest())
    stats = prep.run("ml-1m", tmp_path / "raw", tmp_path / "d", prep.Options(download=True))
    assert stats["users"] == 10 and (tmp_path / "raw" / "ml-1m.zip").exists()
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["ml-1m.zip"]   # unpacked elsewhere


def test_offline_message_says_which_files_go_where(tmp_path):
    with pytest.raises(UsageError, match=r"ratings\.dat .*movies\.dat, users\.dat .*ml-1m\.zip"):
        prep.run("ml-1m", tmp_path / "nothing", tmp_path / "d", prep.Options(offline=True))
    with pytest.raises(UsageError, match=r"BX-Book-Ratings\.csv, BX-Books\.csv, BX-Users\.csv"):
        prep.run("bookcrossing", tmp_path / "nothing", tmp_path / "d", prep.Options(offline=True))


def test_download_failure_is_a_clear_usage_error(tmp_path, monkeypatch):
    monkeypatch.setattr(bookcrossing, "URL", (tmp_path / "missing" / "BX-CSV-Dump.zip").as_uri())
    with pytest.raises(UsageError, match=r"download failed .*put BX-Book-Ratings\.csv"):
        prep.run("bookcrossing", tmp_path / "raw", tmp_path / "d", prep.Options(download=True))


# --- BookCrossing ----------------------------------------------------------------------------------

def test_bookcrossing_counts_every_dirty_row():
    raw = bookcrossing.read(RAW / "bookcrossing-tiny")
    assert raw.skipped == {"BX-Books.csv: empty or repeated ISBN": 1,
                           "BX-Books.csv: wrong number of fields": 1,
                           "BX-Book-Ratings.csv: ISBN not in BX-Books.csv": 2,
                           "BX-Book-Ratings.csv: rating not 0-10": 2,
                           "BX-Book-Ratings.csv: wrong number of fields": 1,
                           "BX-Book-Ratings.csv: repeated user and ISBN": 1,
                           "BX-Book-Ratings.csv: user id not a number": 1}
    assert raw.repaired == {"BX-Books.csv: HTML entity unescaped": 1,
                            "BX-Books.csv: year not in 1-2004 set to null": 1,
                            "BX-Users.csv: age not in 5-100 set to null": 2,
                            "BX-Users.csv: line break inside a field joined": 1}
    # 8 users x 7 explicit + 2 of user 9 + 6 implicit zeros of user 10
    assert len(raw.interactions) == 64
    assert sum(r["rating"] == 0 for r in raw.interactions) == 6
    assert all(r["ts"] is None for r in raw.interactions)


def test_bookcrossing_fields_survive_escaped_quotes():
    raw = bookcrossing.read(RAW / "bookcrossing-tiny")
    books = {r["item"]: r for r in raw.items}
    assert len(books) == 10
    assert books["0100000002"]["title"] == 'Three Novels: "A Strange Address"; "Raag"'
    assert books["0100000003"]["title"] == 'Readers: How It All Began (Level 4)"'
    assert books["0100000003"]["attrs"] == {"author": "Author 3", "publisher": "Press 3"}
    assert books["0100000004"]["title"] == "Salt & Pepper"
    assert books["0100000005"]["title"] == "Éloge de l'ombre"
    assert books["0100000006"]["year"] is None and books["0100000007"]["year"] == 1987
    users = {r["user"]: r["attrs"] for r in raw.users}
    assert users["5"]["location"] == "cernusco s , milan, italy"
    assert users["6"]["location"] == 'porto, "n/a", portugal'
    assert users["2"]["age"] is None and users["3"]["age"] is None and users["7"]["age"] == 27


def test_bookcrossing_prep_defaults_explicit_5core(tmp_path):
    stats = prep.run("bookcrossing", RAW / "bookcrossing-tiny", tmp_path / "d", prep.Options(offline=True))
    assert (stats["users"], stats["items"], stats["interactions"]) == (8, 8, 56)
    assert stats["min_rating"] == 1.0 and stats["core"] == 5
    assert stats["order"] == "random permutation (seed 0)"
    assert stats["skipped"]["BX-Book-Ratings.csv: ISBN not in BX-Books.csv"] == 2
    # --min-rating 0 keeps the implicit zeros: user 10 (6 zeros) survives the 5-core
    stats0 = prep.run("bookcrossing", RAW / "bookcrossing-tiny", tmp_path / "d0", prep.Options(offline=True, min_rating=0))
    assert (stats0["users"], stats0["items"], stats0["interactions"]) == (9, 8, 62)


def test_bookcrossing_split_is_reproducible_under_a_seed(tmp_path):
    a = prep.run("bookcrossing", RAW / "bookcrossing-tiny", tmp_path / "a", prep.Options(offline=True, seed=1))
    b = prep.run("bookcrossing", RAW / "bookcrossing-tiny", tmp_path / "b", prep.Options(offline=True, seed=1))
    c = prep.run("bookcrossing", RAW / "bookcrossing-tiny", tmp_path / "c", prep.Options(offline=True, seed=2))
    assert a["split_hash"] == b["split_hash"] != c["split_hash"]
    assert (tmp_path / "a" / "train.jsonl").read_bytes() == (tmp_path / "b" / "train.jsonl").read_bytes()
    assert a["split_hash"] == "d61caf1a31057b10"


def test_bookcrossing_gz_and_header_and_encoding_errors(tmp_path):
    d = copy("bookcrossing-tiny", tmp_path)
    plain = bookcrossing.read(d)
    for f in bookcrossing.FILES:
        (d / f"{f}.gz").write_bytes(gzip.compress((d / f).read_bytes()))
        (d / f).unlink()
    assert bookcrossing.read(d).interactions == plain.interactions
    (d / "BX-Users.csv.gz").write_bytes(gzip.compress(b'"User-ID";"Place";"Age"\r\n"1";"x";"20"\r\n'))
    with pytest.raises(DataError, match=r"BX-Users\.csv\.gz:1: header: expected the columns User-ID;Location;Age"):
        bookcrossing.read(d)
    (d / "BX-Users.csv.gz").write_bytes(gzip.compress('"User-ID";"Location";"Age"\r\n'.encode("utf-16")))
    with pytest.raises(DataError, match=r"BX-Users\.csv\.gz:1: NUL bytes"):
        bookcrossing.read(d)


# --- csv / jsonl -----------------------------------------------------------------------------------

COLS = {"user": "uid", "item": "iid", "rating": "stars", "time": "when", "title": "name"}


def test_csv_with_column_flags(tmp_path):
    stats = prep.run("csv", RAW / "csv-tiny", tmp_path / "d", prep.Options(table={"columns": COLS}))
    assert (stats["users"], stats["items"], stats["interactions"]) == (8, 12, 55)
    assert stats["order"] == "timestamp"
    items = {r["item"]: r for r in lines(tmp_path / "d" / "items.jsonl")}
    assert items["m3"] == {"item": "m3", "title": "Film 3, Part 0", "year": 1993, "genres": ["Drama", "Comedy"],
                           "attrs": {"director": "Dir 3"}}
    users = {r["user"]: r for r in lines(tmp_path / "d" / "users.jsonl")}
    assert users["u2"]["attrs"] == {"age": "22"}
    first = lines(tmp_path / "d" / "train.jsonl")[0]
    assert first["user"] == "u1" and isinstance(first["ts"], float)


def test_jsonl_table_and_random_order_without_time(tmp_path):
    src = csvreader.read(RAW / "csv-tiny", COLS)
    table = tmp_path / "events.jsonl"
    table.write_text("".join(json.dumps({"u": r["user"], "i": r["item"]}) + "\n" for r in src.interactions))
    stats = prep.run("jsonl", table, tmp_path / "d", prep.Options(table={"columns": {"user": "u", "item": "i"}}))
    assert stats["interactions"] == 55 and stats["order"] == "random permutation (seed 0)"


def test_csv_missing_column_names_file_line_and_column(tmp_path):
    with pytest.raises(DataError, match=r"interactions\.csv:2: user: no such column \(columns: uid, iid, stars"):
        csvreader.read(RAW / "csv-tiny")
    with pytest.raises(DataError, match=r"interactions\.csv:2: score: no such column"):
        csvreader.read(RAW / "csv-tiny", {**COLS, "rating": "score"})


def test_csv_bad_lines(tmp_path):
    d = copy("csv-tiny", tmp_path)
    rows = (d / "interactions.csv").read_text().splitlines()
    bad = rows[:3] + ["u9,m1,4"] + rows[3:]
    (d / "interactions.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"interactions\.csv:4: expected 4 fields separated by ',', got 3"):
        csvreader.read(d, COLS)
    bad = rows[:3] + ["u9,m1,four,2020-01-01"] + rows[3:]
    (d / "interactions.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"interactions\.csv:4: stars: expected a number, got 'four'"):
        csvreader.read(d, COLS)
    bad = rows[:3] + ["u9,m1,4,last tuesday"] + rows[3:]
    (d / "interactions.csv").write_text("\n".join(bad) + "\n")
    with pytest.raises(DataError, match=r"interactions\.csv:4: when: expected seconds or an ISO date"):
        csvreader.read(d, COLS)
    (d / "interactions.csv").write_bytes(("\n".join(rows[:5]) + "\nu\xe9,m1,4,2020-01-01\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"interactions\.csv:6: not UTF-8 text \(byte 0xe9"):
        csvreader.read(d, COLS)


def test_some_timestamps_missing_is_an_error(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("user,item,timestamp\n1,a,5\n1,b,\n1,c,7\n")
    with pytest.raises(DataError, match="1 of 3 interactions have no timestamp"):
        prep.run("csv", table, tmp_path / "d")


# --- the protocol ----------------------------------------------------------------------------------

def events(spec: dict[str, int]) -> list[dict]:
    return [{"user": u, "item": f"i{j}", "rating": 1.0, "ts": j} for u, n in spec.items() for j in range(n)]


def test_leave_one_out_shapes_and_checks_pass():
    inter = events({"a": 1, "b": 2, "c": 3, "d": 6})
    train, valid, test = leave_one_out(inter)
    check_protocol(train, valid, test, len(inter))
    assert [r["user"] for r in test] == ["b", "c", "d"] and [r["user"] for r in valid] == ["c", "d"]
    assert next(r for r in test if r["user"] == "d")["item"] == "i5"


@pytest.mark.parametrize("breakage, message", [
    (lambda tr, va, te: (tr + [te[0]], va, te), "the test item i1 is also in train"),
    (lambda tr, va, te: (tr + [{**te[0], "ts": 0}], va, te), "the test item i1 is also in train"),
    (lambda tr, va, te: (tr, va, te + [te[0]]), "has two test interactions"),
    (lambda tr, va, te: ([{**r, "ts": 99} if r["user"] == "d" else r for r in tr], va, te),
     "older than a training event"),
    (lambda tr, va, te: (tr, [r for r in va if r["user"] != "d"], te), "no validation event"),
    (lambda tr, va, te: (tr, va, [r for r in te if r["user"] != "c"]), "but no test event"),
    (lambda tr, va, te: (tr, [{**r, "ts": 50} if r["user"] == "d" else r for r in va], te),
     "test event is older than the validation event"),
])
def test_check_protocol_catches(breakage, message):
    train, valid, test = leave_one_out(events({"a": 1, "b": 2, "c": 3, "d": 6}))
    with pytest.raises(DataError, match=message):
        check_protocol(*breakage(train, valid, test))


def test_check_protocol_counts_interactions():
    inter = events({"c": 3, "d": 6})
    train, valid, test = leave_one_out(inter)
    with pytest.raises(DataError, match="the split holds 9 interactions, the data 10"):
        check_protocol(train, valid, test, 10)


def test_random_order_is_per_user_and_seeded():
    inter = events({"a": 8, "b": 8})
    one, again = random_order(inter, 3), random_order(inter, 3)
    assert one == again and one != random_order(inter, 4)
    # dropping user b does not change user a's order
    only_a = random_order([r for r in inter if r["user"] == "a"], 3)
    assert [r["item"] for r in only_a] == [r["item"] for r in one if r["user"] == "a"]
    assert split_hash(*leave_one_out(one)) == split_hash(*leave_one_out(again))


# --- the CLI -------------------------------------------------------------------------------------

def test_cli_prep_bookcrossing_with_seed_and_bad_data_exit_codes(tmp_path):
    res = l4r("prep", "--dataset", "bookcrossing", "--raw", str(RAW / "bookcrossing-tiny"), "--out",
              str(tmp_path / "d"), "--seed", "1", "--offline")
    assert json.loads(res.stdout)["split_hash"] == "d61caf1a31057b10"
    d = copy("ml-1m-tiny", tmp_path)
    (d / "movies.dat").write_text("1::Title (1999)\n")
    res = l4r("prep", "--dataset", "ml-1m", "--raw", str(d), "--out", str(tmp_path / "e"), check=False)
    assert res.returncode == 1 and "movies.dat:1: expected 3 '::'-separated fields, got 2" in res.stderr
    assert not (tmp_path / "e" / "train.jsonl").exists()
    res = l4r("prep", "--dataset", "ml-1m", "--raw", str(tmp_path / "none"), "--out", str(tmp_path / "f"), "--offline",
              check=False)
    assert res.returncode == 2 and "ratings.dat" in res.stderr
    res = l4r("prep", "--dataset", "csv", "--raw", str(RAW / "csv-tiny"), "--out", str(tmp_path / "g"),
              "--user-col", "uid", "--item-col", "iid", "--rating-col", "stars", "--time-col", "when")
    assert json.loads(res.stdout)["users"] == 8
