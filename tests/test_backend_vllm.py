"""The vllm backend: a clear UsageError where vllm is absent; on a CUDA machine with vllm, greedy
generation and scoring on a tiny locally built Llama (l4r.tiny)."""
from __future__ import annotations

import sys

import pytest

from l4r.backends import get
from l4r.errors import UsageError


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail even where it is installed
    with pytest.raises(UsageError, match=r"pip install l4r\[vllm\]"):
        get("vllm", model="x")


def test_generate_and_score_on_tiny_model(tmp_path):
    pytest.importorskip("vllm", reason="vllm is not installed (needs `pip install l4r[vllm]` and a CUDA GPU)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA GPU")
    from l4r.prompts import render
    from l4r.tiny import build

    model = build(tmp_path / "tiny", hidden=128, heads=2)
    texts = [render("Predict the rating.", f"Candidate Item: {i}") for i in range(4)]
    with get("vllm", model=str(model), max_model_len=512, gpu_memory_utilization=0.2) as b:
        first, again = b.generate(texts, 6), b.generate(texts, 6)
        dists = b.score(texts[:2], ["", ""], ["1", "2", "3", "4", "5"])
    assert len(first) == 4 and [a.text for a in first] == [a.text for a in again]
    assert all(a.prompt_tokens > 0 and 0 < a.completion_tokens <= 6 for a in first)
    assert all(len(d.probs) == 5 and sum(d.probs) == pytest.approx(1.0) for d in dists)


def test_ten_scored_as_the_hf_backend_scores_it(tmp_path):
    """On a tokenizer that writes each digit alone, vLLM's 1-10 probabilities (prompt logprobs along
    each choice) equal the hf backend's exact ones, to the rounding of float32 kernels on two devices."""
    pytest.importorskip("vllm", reason="vllm is not installed (needs `pip install l4r[vllm]` and a CUDA GPU)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA GPU")
    from l4r.backends.hf import HFBackend
    from l4r.tiny import build

    model = build(tmp_path / "tiny", split_digits=True, seed=3)
    texts = ["Predict the rating. Rating History: Star 1: 4\n\n### Response:\n", "Short:\n"]
    choices = [str(i) for i in range(1, 11)]
    want = HFBackend(str(model), device="cpu", dtype="float32").score(texts, ["", ""], choices)
    with get("vllm", model=str(model), max_model_len=512, gpu_memory_utilization=0.2, dtype="float32") as b:
        got = b.score(texts, ["", ""], choices)
    for g, w in zip(got, want):
        assert g.extra["score"] == "exact" and g.probs == pytest.approx(w.probs, abs=1e-3)
