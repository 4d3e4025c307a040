import gzip
import io
import sys

import pytest

from l4r.errors import DataError, UsageError
from l4r.io import read_jsonl, write_jsonl
from l4r.schema import check


def test_roundtrip_plain_and_gz(tmp_path):
    recs = [{"user": "1", "item": "2", "rating": 4.0}, {"user": "2", "item": "3", "rating": None}]
    for name in ("a.jsonl", "a.jsonl.gz"):
        assert write_jsonl(tmp_path / name, recs) == 2
        assert list(read_jsonl(tmp_path / name, "interaction")) == recs
    with gzip.open(tmp_path / "a.jsonl.gz", "rt") as fh:
        assert fh.readline().startswith('{"user":"1"')


def test_bad_json_names_file_and_line(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"user": "1", "item": "2"}\n{"user": \n')
    with pytest.raises(DataError, match=r"x.jsonl:2: not valid JSON"):
        list(read_jsonl(p))


def test_schema_error_names_field(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"user": "1", "item": "2"}\n\n{"user": 3, "item": "2"}\n')
    with pytest.raises(DataError, match=r"x.jsonl:3: user: expected str, got int"):
        list(read_jsonl(p, "interaction"))
    with pytest.raises(DataError, match=r"item: missing"):
        check({"user": "1"}, "interaction", "f", 1)


def test_failed_write_leaves_no_file(tmp_path):
    def gen():
        yield {"a": 1}
        raise DataError("boom", "in.jsonl", 2, "a")

    target = tmp_path / "out.jsonl"
    with pytest.raises(DataError):
        write_jsonl(target, gen())
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_input_is_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        list(read_jsonl(tmp_path / "nope.jsonl"))


def test_stdin_and_stdout(monkeypatch, capsysbinary):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"metric": "HR@5", "value": 0.5}\n')))
    assert list(read_jsonl("-", "metric")) == [{"metric": "HR@5", "value": 0.5}]
    write_jsonl("-", [{"a": 1}])
    assert capsysbinary.readouterr().out == b'{"a":1}\n'


def test_save_torch_gives_byte_identical_files(tmp_path):
    """torch.save into a temp file names the zip's inner folder after it; two identical saves must not differ."""
    import zipfile

    import torch

    from l4r.io import save_torch

    state = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}
    for run in ("a", "b"):
        save_torch(state, tmp_path / run / "model.pt")
    first = (tmp_path / "a" / "model.pt").read_bytes()
    assert first == (tmp_path / "b" / "model.pt").read_bytes()
    assert all(n.startswith("archive/") for n in zipfile.ZipFile(tmp_path / "a" / "model.pt").namelist())
    assert torch.load(tmp_path / "a" / "model.pt")["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["model.pt"]
