"""The openai backend against a real chat-completions server on 127.0.0.1 (http.server in a thread).

The server answers "echo:<last word of the user message>", counts usage (one prompt token per
word, two completion tokens), returns top logprobs when asked, and follows a script of failures
(500, 429 + Retry-After, hang past the client timeout) before succeeding.
"""
from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from l4r.backends import get
from l4r.backends.openai import choice_in, retry_after, top_distribution
from l4r.errors import UsageError

KEY = "sk-test-SECRET-0123456789"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.state["lock"]:
            self.server.state["connections"] += 1

    def do_POST(self):
        st = self.server.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with st["lock"]:
            st["requests"].append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            st["inflight"] += 1
            st["peak"] = max(st["peak"], st["inflight"])
            action = st["script"].pop(0) if st["script"] else st["default"]
            if st.get("fail_text") and st["fail_text"] in body["messages"][-1]["content"]:
                action = "500"
        try:
            self.act(action, body, st)
        finally:
            with st["lock"]:
                st["inflight"] -= 1

    def act(self, action, body, st):
        if action == "hang":
            st["stop"].wait(2.0)
            return self.reply(200, self.completion(body, st))
        if action == "503":
            return self.reply(503, {"error": {"message": "overloaded"}})
        if action == "500":
            return self.reply(500, {"error": {"message": f"boom; you sent {self.headers.get('Authorization')}"}})
        if action == "429":
            return self.reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
        if action == "400":
            return self.reply(400, {"error": {"message": "bad request"}})
        if action == "drop":  # reply as if keeping the connection alive, then close it
            self.close_connection = True
        if action == "malformed":
            return self.reply(200, None, raw=b'{"choices": [{"message": ')
        if action == "empty":
            return self.reply(200, {"id": "x", "object": "chat.completion", "choices": []})
        if action == "sleep":
            time.sleep(0.002 * (hash(body["messages"][-1]["content"]) % 20))
        return self.reply(200, self.completion(body, st))

    def completion(self, body, st):
        text = body["messages"][-1]["content"]
        choice = {"index": 0, "message": {"role": "assistant", "content": st["answer"] or "echo:" + text.split()[-1]},
                  "finish_reason": "stop"}
        if body.get("logprobs") and st["top"] is not None:
            top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in st["top"]]
            choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                               "top_logprobs": top[:body["top_logprobs"]]}]}
        return {"id": "x", "object": "chat.completion", "model": body["model"], "choices": [choice],
                "usage": {"prompt_tokens": len(text.split()), "completion_tokens": 2,
                          "total_tokens": len(text.split()) + 2}}

    def reply(self, status, obj, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.state = {"lock": threading.Lock(), "requests": [], "script": [], "default": "ok", "inflight": 0,
                 "peak": 0, "stop": threading.Event(), "answer": None, "top": None, "connections": 0}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield srv
    srv.state["stop"].set()
    srv.shutdown()
    srv.server_close()


def backend(server, **kw):
    opts = {"model": "m", "base_url": server.url, "backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0}
    return get("openai", **{**opts, **kw})


def test_generation_keeps_order_under_concurrency(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.state["default"] = "sleep"
    texts = [f"### Response:\nitem{i}" for i in range(24)]
    with backend(server, concurrency=4, max_new_tokens=7) as b:
        answers = b.generate(texts, 7)
    assert [a.text for a in answers] == [f"echo:item{i}" for i in range(24)]
    assert 1 < server.state["peak"] <= 4
    req = server.state["requests"][0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {KEY}"
    assert req["body"]["temperature"] == 0 and req["body"]["max_tokens"] == 7
    assert req["body"]["messages"][0]["role"] == "user"


def test_idle_connection_closed_by_server_is_reopened_without_retry(server):
    server.state["default"] = "drop"
    with backend(server, concurrency=1, max_retries=0) as b:
        assert [b.generate([f"t{i}"], 2)[0].text for i in range(3)] == ["echo:t0", "echo:t1", "echo:t2"]
        assert b.usage["retries"] == 0 and len(server.state["requests"]) == 3


def test_keep_alive_reuses_connections(server):
    with backend(server, concurrency=1) as b:
        b.generate(["a", "b", "c"], 2)
    assert len(server.state["requests"]) == 3 and server.state["connections"] == 1


def test_system_message_is_sent_first(server):
    with backend(server, system="You rate movies.") as b:
        b.generate(["hello"], 3)
    msgs = server.state["requests"][0]["body"]["messages"]
    assert [m["role"] for m in msgs] == ["system", "user"] and msgs[0]["content"] == "You rate movies."


def test_retries_then_success_honouring_retry_after(server, capsys):
    server.state["script"] = ["500", "429"]
    with backend(server, max_retries=3) as b:
        start = time.monotonic()
        answers = b.generate(["one two"], 5)
        took = time.monotonic() - start
    assert answers[0].text == "echo:two"
    assert len(server.state["requests"]) == 3 and b.usage["retries"] == 2
    assert took >= 0.2  # the 429's Retry-After, far above the 0.01 s backoff
    err = capsys.readouterr().err
    assert "HTTP 500" in err and "HTTP 429" in err and "retry 2/3" in err


def test_gives_up_after_max_retries(server):
    server.state["default"] = "500"
    b = backend(server, max_retries=2)
    (answer,) = b.generate(["a"], 5)   # one text that keeps failing is an answer marked with its error
    b.close()
    assert answer.text == "" and answer.extra["error"].startswith("gave up after 3 attempts; last error: HTTP 500")
    assert len(server.state["requests"]) == 3


def test_client_error_is_not_retried(server):
    server.state["default"] = "400"
    with backend(server, max_retries=4) as b, pytest.raises(UsageError, match="HTTP 400"):
        b.generate(["a"], 5)
    assert len(server.state["requests"]) == 1


def test_timeout_is_retried_then_gives_up(server):
    server.state["script"] = ["hang"]
    with backend(server, timeout=0.2, max_retries=2) as b:
        assert b.generate(["x y"], 5)[0].text == "echo:y"
        assert b.usage["retries"] == 1
    server.state["default"] = "hang"
    with backend(server, timeout=0.2, max_retries=1) as b:
        assert "no reply within 0.2s" in b.generate(["z"], 5)[0].extra["error"]


def test_usage_and_cost_are_summed(server):
    with backend(server, cost_per_1k_prompt=2.0, cost_per_1k_completion=10.0, concurrency=2) as b:
        answers = b.generate(["a b c", "d e", "f"], 5)
    assert [(a.prompt_tokens, a.completion_tokens) for a in answers] == [(3, 2), (2, 2), (1, 2)]
    assert b.usage["requests"] == 3 and b.usage["prompt_tokens"] == 6 and b.usage["completion_tokens"] == 6
    assert b.usage["cost"] == pytest.approx(6 / 1000 * 2.0 + 6 / 1000 * 10.0)


def test_key_never_printed(server, monkeypatch, capsys):
    monkeypatch.setenv("MY_KEY", KEY)
    server.state["default"] = "500"  # the server echoes the Authorization header in its error body
    with backend(server, api_key_env="MY_KEY", max_retries=2) as b:
        error = b.generate(["a"], 5)[0].extra["error"]
    assert server.state["requests"][0]["auth"] == f"Bearer {KEY}"
    captured = capsys.readouterr()
    assert "***" in error and "***" in captured.err
    assert KEY not in error and KEY not in captured.err and KEY not in captured.out
    assert KEY not in repr(b.__dict__.get("usage"))


def test_missing_key_only_for_remote_urls(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(UsageError, match="OPENAI_API_KEY"):
        get("openai", model="gpt-4o-mini")
    with pytest.raises(UsageError, match="NOPE_KEY"):
        get("openai", model="m", base_url="https://llm.example.org/v1", api_key_env="NOPE_KEY")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    with get("openai", model="m") as b:  # loopback: no key needed, none sent
        assert b.generate(["p q"], 2)[0].text == "echo:q"
    assert server.state["requests"][0]["auth"] is None


def test_score_from_top_logprobs(server):
    server.state["top"] = [(" 4", math.log(0.5)), ("5", math.log(0.2)), ("4", math.log(0.1)), ("The", math.log(0.1))]
    with backend(server) as b:
        dists = [a.probs for a in b.score(["history A\n", "history A\n"], ["target 1", "target 2"],
                                          ["1", "2", "3", "4", "5"])]
    assert dists[0] == pytest.approx([0, 0, 0, 0.75, 0.25]) and dists[1] == pytest.approx(dists[0])
    body = server.state["requests"][0]["body"]
    assert body["logprobs"] is True and body["top_logprobs"] == 20 and body["max_tokens"] == 1
    sent = sorted(r["body"]["messages"][-1]["content"] for r in server.state["requests"])
    assert sent == ["history A\ntarget 1", "history A\ntarget 2"]   # the two go out concurrently


def test_score_without_logprobs_falls_back_to_generation(server):
    server.state["answer"] = "Rating: 3 (out of 5)"  # and no logprobs in the replies
    with backend(server, score_max_tokens=12) as b:
        got = b.score(["p"], ["s"], ["1", "2", "3", "4", "5"])
        assert [a.probs for a in got] == [[0, 0, 1.0, 0, 0]] and got[0].extra["score"] == "no-logprobs"
        b.score(["q"], ["s"], ["1", "2", "3", "4", "5"])     # not asked for logprobs again
    assert [r["body"]["max_tokens"] for r in server.state["requests"]] == [1, 12, 12]
    server.state["answer"] = "no idea"
    with backend(server) as b:
        assert [a.probs for a in b.score(["p"], ["s"], ["1", "2"])] == [[0.5, 0.5]]


def test_score_when_server_rejects_logprobs(server):
    server.state["script"] = ["400"]
    server.state["answer"] = "5"
    Handler_reply = Handler.reply

    def reply(self, status, obj, headers=None):  # a 400 that names the parameter
        if status == 400:
            obj = {"error": {"message": "logprobs are not supported"}}
        return Handler_reply(self, status, obj, headers)

    Handler.reply = reply
    try:
        with backend(server) as b:
            assert [a.probs for a in b.score(["p", "q"], ["s", "t"], ["4", "5"])] == [[0, 1.0], [0, 1.0]]
            assert b.logprobs_ok is False
            b.score(["p"], ["s"], ["4", "5"])
    finally:
        Handler.reply = Handler_reply
    assert "logprobs" not in server.state["requests"][-1]["body"]


def test_estimate_for_dry_run(server):
    with backend(server, cost_per_1k_prompt=1.0, cost_per_1k_completion=3.0) as b:
        est = b.estimate(["x" * 10, "y" * 400], 8)
    assert est == {"requests": 2, "prompt_tokens": 3 + 100, "completion_tokens": 16,
                   "cost": pytest.approx(103 / 1000 * 1.0 + 16 / 1000 * 3.0)}
    assert server.state["requests"] == []


def test_helpers():
    assert retry_after("1.5") == 1.5 and retry_after(None) == 0 and retry_after("soon") == 0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past
    assert 50 < retry_after(time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))) <= 60
    assert choice_in("I'd say 4, maybe 5", ["1", "2", "3", "4", "5"]) == 3
    assert choice_in("10 stars", ["1", "2"]) is None
    assert top_distribution([("x", 0.0)], ["1"]) is None


def test_bad_base_url():
    with pytest.raises(UsageError, match="base-url"):
        get("openai", model="m", base_url="ftp://host")


# -- the llm stage over this server: label ranking by logprobs, and faults ------------------------

def labelled_prompts(path, n=3):
    from l4r.prompts import candidate_line

    recs = []
    for u in range(n):
        names = [f"Film {u}{k}" for k in range(3)]
        recs.append({"id": f"test:listwise:{u}", "task": "listwise", "user": str(u), "split": "test",
                     "instruction": "Rank them.", "input": "History: X\n" + candidate_line(names, ["A", "B", "C"]),
                     "candidates": [[f"{u}{k}", n] for k, n in enumerate(names)], "labels": ["A", "B", "C"],
                     "answer": "labels"})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def run_stage(prompts, out, server, **kw):
    from l4r import answering as stage

    engine = {"base_url": server.url, "backoff": 0.01, "max_backoff": 0.05, "timeout": 1.0, "max_retries": 3}
    return stage.run(str(prompts), str(out), stage.Options(backend="openai", model="m", batch_size=4,
                                                           engine=engine, **kw))


def test_label_ranking_reads_top_logprobs(server, tmp_path):
    server.state["top"] = [("B", math.log(0.5)), (" A", math.log(0.3)), ("C", math.log(0.1)), ("x", math.log(0.1))]
    stats = run_stage(labelled_prompts(tmp_path / "p.jsonl"), tmp_path / "c.jsonl", server)
    recs = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [r["items"] for r in recs] == [["01", "00", "02"], ["11", "10", "12"], ["21", "20", "22"]]
    assert recs[0]["probs"] == pytest.approx([5 / 9, 3 / 9, 1 / 9], abs=1e-5)
    assert stats["answer"] == {"labels": 3} and stats["status"] == {"ok": 3}
    assert all(r["body"]["max_tokens"] == 1 and r["body"]["logprobs"] for r in server.state["requests"])


def test_label_ranking_without_logprobs_names_titles(server, tmp_path):
    server.state["answer"] = "B; A; C"          # and no logprobs in the replies
    with pytest.raises(UsageError, match="--answer titles"):
        run_stage(labelled_prompts(tmp_path / "p.jsonl"), tmp_path / "c.jsonl", server)
    run_stage(tmp_path / "p.jsonl", tmp_path / "c.jsonl", server, answer="titles")
    recs = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
    assert [r["items"] for r in recs][0] == ["01", "00", "02"]


def test_faults_are_retried_and_a_failing_prompt_reruns(server, tmp_path, monkeypatch):
    from l4r.errors import DataError

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.state["answer"] = "A; B; C"
    server.state["script"] = ["429", "500", "503", "malformed", "empty", "drop", "hang"]
    server.state["fail_text"] = "Film 2"              # one prompt fails on every attempt
    prompts = labelled_prompts(tmp_path / "p.jsonl", n=6)
    out = tmp_path / "c.jsonl"
    with pytest.raises(DataError, match=r"1 of 6 prompts failed \(first: test:listwise:2: gave up after 4"):
        run_stage(prompts, out, server, answer="titles")
    assert not out.exists()
    partial = [json.loads(line) for line in (tmp_path / "c.jsonl.partial").read_text().splitlines()]
    assert sorted(r["id"] for r in partial) == [f"test:listwise:{u}" for u in range(6)]
    assert [r["status"] for r in partial if r["id"].endswith(":2")] == ["failed"]
    asked = len(server.state["requests"])
    server.state["fail_text"] = None
    run_stage(prompts, out, server, answer="titles")
    assert len(server.state["requests"]) == asked + 1          # only the failed prompt is asked again
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == [f"test:listwise:{u}" for u in range(6)]
    assert all(r["status"] == "ok" for r in recs)
    everything = out.read_text() + (tmp_path / "c.jsonl.stats.json").read_text()
    assert KEY not in everything


def test_each_answer_is_handed_over_as_it_arrives(server):
    server.state["default"] = "sleep"
    seen = []
    with backend(server, concurrency=4) as b:
        answers = b.generate([f"x item{i}" for i in range(8)], 3, each=lambda i, a: seen.append((i, a.text)))
    assert sorted(seen) == [(i, f"echo:item{i}") for i in range(8)]
    assert [a.text for a in answers] == [f"echo:item{i}" for i in range(8)]
