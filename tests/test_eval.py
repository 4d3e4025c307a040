"""Metrics against hand-computed values, the eval stage on the tiny ML-100K-format fixture
(per-user rows, activity groups, rating metrics, --compare, --runs) and the CLI's errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import raw_fixtures
from conftest import l4r

from l4r import metrics as M
from l4r.errors import DataError, UsageError
from l4r.stages import eval as ev
from l4r.stages import prep

RAW = raw_fixtures.root()   # written at first use, not kept in the repository


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "data"
    prep.run("ml-100k", RAW / "ml-100k-tiny", out, prep.Options(offline=True))
    return out


def held_out(data: Path, split: str) -> dict[str, str]:
    """user -> the item held out for `split`."""
    return {r["user"]: r["item"] for r in lines(data / f"{split}.jsonl")}


@pytest.fixture(scope="module")
def test_item_of(data) -> dict[str, str]:
    return held_out(data, "test")


# --- metrics ---------------------------------------------------------------------------------------

def test_ndcg_and_hit_ratio_by_hand():
    assert M.ndcg(0, 3) == 1.0
    assert M.ndcg(1, 3) == pytest.approx(1 / math.log2(3)) == pytest.approx(0.6309298)
    assert M.ndcg(2, 3) == 0.5                       # 1/log2(4)
    assert M.ndcg(3, 3) == 0.0 and M.ndcg(None, 5) == 0.0
    assert M.ndcg(3, 5) == pytest.approx(1 / math.log2(5))
    assert (M.hit_ratio(2, 3), M.hit_ratio(3, 3), M.hit_ratio(None, 3)) == (1.0, 0.0, 0.0)
    assert M.rank_of(["a", "b", "c", "b"], "b") == 1 and M.rank_of(["a"], "z") is None


def test_ndcg_with_several_relevant_items():
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309
    assert M.ndcg_list(["a", "b", "c"], {"a", "c"}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert M.ndcg_list(["x", "y"], {"y"}, 2) == pytest.approx(M.ndcg(1, 2))
    assert M.ndcg_list(["x"], set(), 3) == 0.0


def test_rmse_mae_std_by_hand():
    assert M.rmse([1, -1, 2]) == pytest.approx(math.sqrt(2))
    assert M.mae([1, -1, 2]) == pytest.approx(4 / 3)
    assert M.std([1, 2, 3, 4]) == pytest.approx(math.sqrt(5 / 3))
    assert M.std([1]) is None


def test_paired_ttest_against_closed_forms():
    # df = 1 (Cauchy): d = [1, 3], t = 2 / (sqrt(2) / sqrt(2)) = 2, p = 1 - 2 atan(2) / pi
    t, p = M.paired_ttest([3, 5], [2, 2])
    assert t == pytest.approx(2.0) and p == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    assert p == pytest.approx(0.2951672, abs=1e-6)
    # df = 2: d = [1, 2, 3], t = 2 / (1 / sqrt(3)), p = 1 - t / sqrt(t^2 + 2)
    t, p = M.paired_ttest([2, 4, 6], [1, 2, 3])
    assert t == pytest.approx(2 * math.sqrt(3)) and p == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert M.paired_ttest([1, 2], [1, 2]) == (0.0, 1.0)


def test_quantile_groups():
    assert M.quantile_bounds(list(range(1, 11)), 5) == [2, 4, 6, 8, 10]
    assert M.quantile_bounds([1, 1, 1, 1, 5], 2) == [1, 5]       # ties never split
    assert M.group_label(3, [2, 4, 6]) == "q2 (N<=4)" and M.group_label(1, [2, 4]) == "q1 (N<=2)"


# --- the eval stage --------------------------------------------------------------------------------

def predictions(test_item_of: dict[str, str]) -> list[dict]:
    """User 1: hit at rank 0; 2: rank 2; 3: rank 4; 4: not in the list; 5..30: no prediction."""
    filler = [f"x{i}" for i in range(5)]
    recs = []
    for user, rank in (("1", 0), ("2", 2), ("3", 4), ("4", None)):
        items = list(filler)
        if rank is not None:
            items[rank] = test_item_of[user]
        recs.append({"user": user, "items": items})
    return recs


def test_topk_over_all_held_out_users(tmp_path, data, test_item_of, capsys):
    f = write(tmp_path / "p.jsonl", predictions(test_item_of))
    recs = ev.run(f, data, ev.Options(split="test", ks=[3, 5], per_user=tmp_path / "u.jsonl", groups=0))
    got = {r["metric"]: r for r in recs}
    assert set(got) == {"HR@3", "NDCG@3", "HR@5", "NDCG@5"} and all(r["n"] == 30 for r in recs)
    assert got["HR@3"]["value"] == pytest.approx(2 / 30, abs=1e-6)
    assert got["NDCG@3"]["value"] == pytest.approx((1 + 0.5) / 30, abs=1e-6)
    assert got["HR@5"]["value"] == pytest.approx(3 / 30, abs=1e-6)
    assert got["NDCG@5"]["value"] == pytest.approx((1 + 0.5 + 1 / math.log2(6)) / 30, abs=1e-6)
    assert "26 of 30 users with a test item have no ranked list: counted as misses" in capsys.readouterr().err
    rows = {r["user"]: r for r in lines(tmp_path / "u.jsonl")}
    assert len(rows) == 30 and rows["2"]["rank"] == 2 and rows["2"]["NDCG@3"] == 0.5
    assert rows["4"]["rank"] is None and rows["4"]["predicted"] and not rows["9"]["predicted"]


def test_groups_partition_the_users(tmp_path, data, test_item_of):
    f = write(tmp_path / "p.jsonl", predictions(test_item_of))
    recs = ev.run(f, data, ev.Options(split="test", ks=[3], per_user=tmp_path / "u.jsonl", groups=3))
    overall = {r["metric"]: r for r in recs if r["group"] is None}
    grouped = [r for r in recs if r["group"] is not None and r["metric"] == "NDCG@3"]
    assert sum(r["n"] for r in grouped) == 30
    assert sum(r["n"] * r["value"] for r in grouped) == pytest.approx(overall["NDCG@3"]["value"] * 30, abs=1e-5)
    rows = lines(tmp_path / "u.jsonl")
    counts = {}
    for r in lines(data / "train.jsonl"):
        counts[r["user"]] = counts.get(r["user"], 0) + 1
    assert all(r["N"] == counts[r["user"]] for r in rows)
    labels = [r["group"] for r in grouped]
    assert labels[0].startswith("q1 (N<=") and len(labels) == len(set(labels)) <= 3
    for r in rows:                                   # each user's N is within its group's bound
        assert r["N"] <= int(r["group"].split("<=")[1].rstrip(")"))


def test_candidates_of_other_splits_are_skipped(tmp_path, data, test_item_of):
    recs = [{**p, "split": "test", "scores": [0.0] * 5} for p in predictions(test_item_of)]
    recs += [{"user": "1", "split": "valid", "items": ["zzz"], "scores": [1.0]}]
    got = {r["metric"]: r["value"] for r in ev.run(write(tmp_path / "c.jsonl", recs), data, ev.Options(split="test", ks=[3], groups=0))}
    assert got["HR@3"] == pytest.approx(2 / 30, abs=1e-6)


def test_rating_metrics_and_missing_predictions(tmp_path, data):
    held = lines(data / "test.jsonl")
    preds = [{"user": r["user"], "item": r["item"], "rating": r["rating"] + (1 if i % 2 else -3)}
             for i, r in enumerate(held)]
    preds.append({"user": "1", "item": "not-held-out", "rating": 3.0})
    recs = {r["metric"]: r for r in ev.run(write(tmp_path / "r.jsonl", preds), data, ev.Options(split="test", ks=[3], groups=0))}
    # 15 errors of +1 and 15 of -3: MAE = 2, RMSE = sqrt((15 + 135) / 30) = sqrt(5)
    assert recs["MAE"]["value"] == pytest.approx(2.0) and recs["RMSE"]["value"] == pytest.approx(math.sqrt(5))
    assert recs["MAE"]["n"] == 30
    with pytest.raises(DataError, match=r"r2\.jsonl: rating: 1 of 30 held-out interactions have no rating "
                                        r"prediction \(first: user 1,"):
        ev.run(write(tmp_path / "r2.jsonl", [p for p in preds if p["user"] != "1"]), data, ev.Options(split="test", ks=[3]))


def test_markdown_table(tmp_path, data, test_item_of):
    f = write(tmp_path / "p.jsonl", predictions(test_item_of))
    ev.run(f, data, ev.Options(split="test", ks=[3], markdown_to=tmp_path / "t.md", label="mf", groups=2))
    text = (tmp_path / "t.md").read_text()
    assert "| run | HR@3 | NDCG@3 | users |" in text and "| mf | 0.0667 | 0.0500 | 30 |" in text
    assert "| group | users | HR@3 | NDCG@3 |" in text and "| q1 (N<=" in text


def test_compare_two_per_user_files(tmp_path):
    a = write(tmp_path / "a.jsonl", [{"user": "1", "NDCG@5": 3.0}, {"user": "2", "NDCG@5": 5.0},
                                     {"user": "3", "NDCG@5": 1.0}])
    b = write(tmp_path / "b.jsonl", [{"user": "1", "NDCG@5": 2.0}, {"user": "2", "NDCG@5": 2.0}])
    rec = ev.compare(a, b, "NDCG@5")
    assert rec["n"] == 2 and rec["mean_a"] == 4.0 and rec["mean_b"] == 2.0 and rec["diff"] == 2.0
    assert rec["p"] == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    with pytest.raises(DataError, match=r"a\.jsonl:1: HR@3: missing or not a number"):
        ev.compare(a, b, "HR@3")


def test_runs_mean_and_std(tmp_path):
    runs = [write(tmp_path / f"m{s}.jsonl", [{"metric": "HR@3", "value": v, "n": 30, "group": None},
                                             {"metric": "HR@3", "value": v / 2, "n": 10, "group": "q1 (N<=9)"}])
            for s, v in enumerate([0.1, 0.2, 0.3])]
    recs = ev.over_runs(runs, tmp_path / "runs.md")
    assert recs[0] == {"metric": "HR@3", "value": 0.2, "std": 0.1, "runs": 3, "n": 30, "group": None}
    assert recs[1]["value"] == 0.1 and recs[1]["std"] == 0.05 and recs[1]["group"] == "q1 (N<=9)"
    assert "| HR@3 | all | 0.2000 | 0.1000 | 3 |" in (tmp_path / "runs.md").read_text()


def test_bad_k_and_split(tmp_path, data):
    with pytest.raises(UsageError):
        ev.parse_ks("3,x")
    with pytest.raises(UsageError):
        ev.parse_ks("0")
    assert ev.parse_ks("5,3,5") == [3, 5]
    # --split picks whose held-out item is the target: the valid items ranked first score 1 on valid only
    valid_item_of = held_out(data, "valid")
    f = write(tmp_path / "v.jsonl", [{"user": u, "items": [i, "x1", "x2"]} for u, i in valid_item_of.items()])
    on_valid = {r["metric"]: r for r in ev.run(f, data, ev.Options(split="valid", ks=[1, 3], groups=0))}
    assert on_valid["HR@1"]["value"] == on_valid["NDCG@3"]["value"] == 1.0 and on_valid["HR@1"]["n"] == 30
    test_item_of = held_out(data, "test")
    expected = sum(test_item_of[u] == i for u, i in valid_item_of.items()) / 30
    on_test = {r["metric"]: r["value"] for r in ev.run(f, data, ev.Options(split="test", ks=[1], groups=0))}
    assert on_test["HR@1"] == pytest.approx(expected, abs=1e-6) and expected < 1
    for bad in ("dev", "valid,test", ""):
        with pytest.raises(UsageError, match=f"--split must be one of .*; got '{bad}'"):
            ev.run(f, data, ev.Options(split=bad, ks=[1]))


# --- the CLI ------------------------------------------------------------------------------------------

def test_cli_pipe_and_outputs(tmp_path, data, test_item_of):
    stdin = "".join(json.dumps(r) + "\n" for r in predictions(test_item_of))
    res = l4r("eval", "--data", str(data), "--k", "3", "--groups", "2", "--per-user", str(tmp_path / "u.jsonl"),
              "--markdown", str(tmp_path / "t.md"), "--label", "pop", stdin=stdin)
    recs = [json.loads(x) for x in res.stdout.splitlines()]
    assert recs[0] == {"metric": "HR@3", "value": round(2 / 30, 6), "n": 30, "group": None, "label": "pop"}
    assert any(r["group"] for r in recs) and (tmp_path / "u.jsonl").exists() and (tmp_path / "t.md").exists()
    res = l4r("eval", "--compare", str(tmp_path / "u.jsonl"), str(tmp_path / "u.jsonl"), "--metric", "NDCG@3")
    assert json.loads(res.stdout)["p"] == 1.0


def test_cli_missing_field_exits_1_without_partial_output(tmp_path, data):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "1", "items": ["2"]}\n{"items": ["3"]}\n')
    res = l4r("eval", str(bad), "--data", str(data), "--per-user", str(tmp_path / "u.jsonl"),
              "--markdown", str(tmp_path / "t.md"), check=False)
    assert res.returncode == 1 and f"{bad}:2: user: missing" in res.stderr and res.stdout == ""
    assert not (tmp_path / "u.jsonl").exists() and not (tmp_path / "t.md").exists()
    assert not list(tmp_path.glob(".*.tmp"))
    bad.write_text('{"user": "1"}\n')
    res = l4r("eval", str(bad), "--data", str(data), check=False)
    assert res.returncode == 1 and f"{bad}:1: items: missing" in res.stderr
    bad.write_text('{"user": "1", "items": [2, 3]}\n')
    res = l4r("eval", str(bad), "--data", str(data), check=False)
    assert res.returncode == 1 and f"{bad}:1: items: every ranked id must be a string" in res.stderr
    bad.write_text('{"user": "1", "items": ["2"]}\n{"user": "1", "items": ["3"]}\n')
    res = l4r("eval", str(bad), "--data", str(data), check=False)
    assert res.returncode == 1 and f"{bad}:2: user: a second ranked list for user 1" in res.stderr


def test_cli_bad_flags_exit_2(tmp_path, data):
    f = write(tmp_path / "p.jsonl", [{"user": "1", "items": ["2"]}])
    for args, text in ((["--k", "three"], "--k takes cutoffs"), (["--bogus"], "No such option"),
                       (["--split", "dev"], "--split must be one of"), (["--groups", "-1"], "--groups must be >= 0"),
                       (["--compare"], "--compare takes two"), (["--runs", "--compare"], "exclude each other")):
        res = l4r("eval", str(f), "--data", str(data), *args, check=False)
        assert res.returncode == 2 and text in res.stderr, (args, res.stderr)
    res = l4r("eval", str(tmp_path / "nope.jsonl"), "--data", str(data), check=False)
    assert res.returncode == 2 and "no such file" in res.stderr
    res = l4r("eval", str(f), "--data", str(tmp_path), check=False)
    assert res.returncode == 2 and "not a prepared dataset folder" in res.stderr
