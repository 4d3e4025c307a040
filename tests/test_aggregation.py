import math

import pytest

from l4r.aggregation import alphas, long_tail, merge_rating, merge_topk, positions


def test_long_tail_is_log_n_plus_one():
    assert long_tail(0) == 0
    assert long_tail(9) == pytest.approx(math.log(10))


def test_alpha_follows_eq7():
    counts = {"head": 99, "mid": 9, "tail": 0}
    a = alphas(counts, alpha1=0.5, alpha2=0.1)
    # l: head log100, mid log10, tail 0 -> ratios 0, 0.5, 1
    assert a["tail"] == pytest.approx(0.5)
    assert a["mid"] == pytest.approx(0.25)
    assert a["head"] == pytest.approx(0.05)  # cut-off alpha2 * alpha1


def test_alpha_edge_cases():
    assert alphas({"only": 5}, 0.7, 0.3) == {"only": pytest.approx(0.21)}
    same = alphas({"a": 4, "b": 4}, 0.9, 0.2)
    assert same == {"a": pytest.approx(0.18), "b": pytest.approx(0.18)}
    assert alphas({"a": 1, "b": 100}, 0.3, 0.1, "uniform") == {"a": 0.3, "b": 0.3}
    assert alphas({"a": 1}, 0.3, 0.1, "llm") == {"a": 1.0}


def test_positions_put_unranked_items_after_in_backbone_order():
    assert positions(["c", "x", "a"], ["a", "b", "c", "d"]) == {"c": 1, "a": 2, "b": 3, "d": 4}


def test_merge_topk_by_hand():
    backbone = ["a", "b", "c"]
    # alpha 1: the LLM's order; alpha 0: the backbone's
    assert merge_topk(backbone, ["c", "b", "a"], 1.0)[0] == ["c", "b", "a"]
    assert merge_topk(backbone, ["c", "b", "a"], 0.0)[0] == ["a", "b", "c"]
    # alpha 0.6: U(a) = .6*-3 + .4*-1 = -2.2, U(b) = -2, U(c) = .6*-1 + .4*-3 = -1.8
    items, scores = merge_topk(backbone, ["c", "b", "a"], 0.6)
    assert items == ["c", "b", "a"] and scores == pytest.approx([-1.8, -2.0, -2.2])
    # no LLM answer keeps the backbone order
    assert merge_topk(backbone, None, 0.6)[0] == backbone


def test_merge_rating_is_linear_interpolation():
    assert merge_rating(5.0, 3.0, 0.25) == pytest.approx(3.5)
    assert merge_rating(None, 3.0, 0.25) == 3.0
