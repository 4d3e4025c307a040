"""OpenAI-compatible chat-completions backend (any server speaking `POST {base_url}/chat/completions`).

Reads prompt texts (full Alpaca prompts from l4r.prompts.render) and returns Answer records; no files.
Standard library only: http.client over keep-alive connections, one per worker thread, at most
`concurrency` requests in flight. Each text is one user message (after an optional system
message), decoded greedily (temperature 0).

Failures: HTTP 408/409/429/5xx, timeouts and dropped connections are retried up to `max_retries`
times with exponential backoff (`backoff` * 2**attempt, capped at `max_backoff`, with a jitter
drawn from a generator seeded by `seed` and the text's index, so runs are reproducible) and never
sooner than the server's Retry-After; so is a 200 whose body is not a chat completion (malformed
JSON, empty `choices`). Other HTTP errors (a bad key, a bad request) raise UsageError; giving up
on one text returns an Answer with extra["error"], which the llm stage records as failed. The key
comes from the env variable `api_key_env`; it is required unless the URL is loopback, never
logged, and redacted from every error message.

`self.usage` sums requests, retries, prompt and completion tokens, and the cost priced with
`cost_per_1k_prompt` / `cost_per_1k_completion`. `estimate` gives the same numbers before a run,
from ~4 characters a token, for `l4r llm --dry-run`.

score(): asks for `logprobs=true, top_logprobs=20, max_tokens=1` and normalises the probabilities
of the top tokens that equal a choice (after stripping spaces; " 4" and "4" both count for "4")
over the choices; a choice outside the top 20 gets none. OpenAI's tokenizers write the labels A..Z
and the numbers 1..10 as one token each, so this is the exact first-token distribution there.
Where the server gives no logprobs (or rejects the parameter with HTTP 400, after which it is not
asked again), or none of the top tokens is a choice, the text is generated (`score_max_tokens`
tokens) and all mass goes on the first choice found in the answer; where no choice is found, the
distribution is uniform (no information). Answer.extra["score"] says which: top-logprobs,
no-logprobs (the llm stage refuses label ranking then, naming `--answer titles`) or parsed.
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import math
import os
import random
import re
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from ..errors import UsageError
from ..io import log
from .base import Answer, Backend

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504}
MAX_RETRY_AFTER = 300.0
TOP_LOGPROBS = 20


class RetryableError(Exception):
    """One failed attempt that may succeed later; `wait` is the server's Retry-After, if any."""

    def __init__(self, what: str, wait: float = 0.0):
        super().__init__(what)
        self.wait = wait


class StaleConnection(Exception):
    """A kept-alive connection the server closed while idle."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); 0 when absent or bad."""
    if not value:
        return 0.0
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), MAX_RETRY_AFTER)
    except (TypeError, ValueError, OverflowError):
        return 0.0


def top_distribution(top, choices: list[str]) -> list[float] | None:
    """P(choice) from the top tokens ({token: logprob} or (token, logprob) pairs): the tokens equal
    to a choice after strip, summed per choice and normalised over the choices; None if none is."""
    index = {c: i for i, c in enumerate(choices)}
    mass = [0.0] * len(choices)
    for token, logprob in (top.items() if isinstance(top, dict) else top):
        i = index.get(token.strip())
        if i is not None:
            mass[i] += math.exp(logprob)
    total = sum(mass)
    return [m / total for m in mass] if total > 0 else None


def choice_in(text: str, choices: list[str]) -> int | None:
    """Index of the choice that occurs first in `text` as a whole word, or None."""
    best, best_at = None, len(text) + 1
    for i, c in enumerate(choices):
        m = re.search(r"(?<!\w)" + re.escape(c) + r"(?!\w)", text)
        if m and m.start() < best_at:
            best, best_at = i, m.start()
    return best


def parsed_distribution(text: str, choices: list[str]) -> list[float]:
    """All mass on the choice parsed from a generated answer; uniform when none is found."""
    i = choice_in(text, choices)
    if i is None:
        return [1.0 / len(choices)] * len(choices)
    return [1.0 if j == i else 0.0 for j in range(len(choices))]


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(self, model: str, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 8, timeout: float = 60.0, max_retries: int = 5,
                 cost_per_1k_prompt: float = 0.0, cost_per_1k_completion: float = 0.0,
                 system: str | None = None, backoff: float = 1.0, max_backoff: float = 60.0,
                 seed: int = 0, score_max_tokens: int = 16, **_):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise UsageError(f"--base-url {self.base_url!r}: expected http(s)://host[:port][/path]")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.path = url.path.rstrip("/") + "/chat/completions"
        self._key = os.environ.get(api_key_env) or ""
        if not self._key and not is_loopback(self.host):
            raise UsageError(f"the openai backend needs an API key in the environment variable {api_key_env} "
                             f"for {self.host}")
        if self._key and self.scheme == "http" and not is_loopback(self.host):
            log(f"openai: warning: sending the API key over plain http to {self.host}")
        if concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise UsageError("openai backend: concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        self.concurrency, self.timeout, self.max_retries = concurrency, float(timeout), max_retries
        self.backoff, self.max_backoff, self.seed = float(backoff), float(max_backoff), seed
        self.price = (float(cost_per_1k_prompt), float(cost_per_1k_completion))
        self.system, self.score_max_tokens = system, score_max_tokens
        self.usage = {"requests": 0, "retries": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
        self.logprobs_ok = True
        self._lock = threading.Lock()
        self._local = threading.local()
        self._conns: list[http.client.HTTPConnection] = []
        self._pool: ThreadPoolExecutor | None = None
        self._calls = 0

    # -- public interface --------------------------------------------------------------------------

    def generate(self, texts: list[str], max_new_tokens: int, each=None) -> list[Answer]:
        return self._map(texts, {"max_tokens": max_new_tokens}, each)

    def score(self, prefixes: list[str], suffixes: list[str], choices: list[str]) -> list[Answer]:
        texts = [p + s for p, s in zip(prefixes, suffixes, strict=True)]
        answers: list[Answer | None] = [None] * len(texts)
        if self.logprobs_ok:
            try:
                got = self._map(texts, {"max_tokens": 1, "logprobs": True, "top_logprobs": TOP_LOGPROBS})
            except UsageError as exc:
                if "HTTP 400" not in str(exc) or "logprob" not in str(exc).lower():
                    raise
                log(f"openai: {self.host} rejects logprobs; scoring by generation instead")
                self.logprobs_ok, got = False, []
            for i, a in enumerate(got):
                dist = top_distribution(a.extra.get("top_logprobs") or [], choices)
                if dist is not None or a.extra.get("error"):
                    a.probs, a.extra["score"] = dist, "top-logprobs"
                    answers[i] = a
            if got and not any("top_logprobs" in a.extra for a in got):
                log(f"openai: {self.host} returns no logprobs; scoring by generation from now on")
                self.logprobs_ok = False   # not asked again: every later call would be two requests
        todo = [i for i, a in enumerate(answers) if a is None]
        how = "parsed" if self.logprobs_ok else "no-logprobs"
        for i, a in zip(todo, self.generate([texts[i] for i in todo], self.score_max_tokens) if todo else []):
            a.probs = None if a.extra.get("error") else parsed_distribution(a.text, choices)
            a.extra["score"] = how
            answers[i] = a
        for a in answers:
            if a.probs:
                a.text = choices[max(range(len(choices)), key=a.probs.__getitem__)]
        return answers

    def estimate(self, texts: list[str], max_new_tokens: int) -> dict:
        """Requests and tokens a generate() call would cost, before running it (~4 chars a token;
        completion tokens are the max_new_tokens upper bound)."""
        extra = len(self.system or "")
        prompt = sum(math.ceil((len(t) + extra) / 4) for t in texts)
        completion = len(texts) * max_new_tokens
        return {"requests": len(texts), "prompt_tokens": prompt, "completion_tokens": completion,
                "cost": self._cost(prompt, completion)}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()

    # -- requests ----------------------------------------------------------------------------------

    def _map(self, texts: list[str], params: dict, each=None) -> list[Answer]:
        """Answers in input order; `each(i, answer)` is called as each one arrives."""
        if not texts:
            return []
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="l4r-openai")
        call, self._calls = self._calls, self._calls + 1
        futures = [self._pool.submit(self._one, text, params, f"{self.seed}:{call}:{i}")
                   for i, text in enumerate(texts)]
        index = {f: i for i, f in enumerate(futures)}
        try:
            if each:
                for f in as_completed(futures):
                    each(index[f], f.result())
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def _one(self, text: str, params: dict, rng_seed: str) -> Answer:
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + \
            [{"role": "user", "content": text}]
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0, **params}).encode()
        rng = random.Random(rng_seed)
        last, wait = "", 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = self._delay(attempt - 1, wait, rng)
                log(f"openai: {last}; retry {attempt}/{self.max_retries} in {delay:.2f}s")
                with self._lock:
                    self.usage["retries"] += 1
                time.sleep(delay)
            try:
                return self._answer(self._post(body))
            except RetryableError as exc:
                last, wait = self._redact(str(exc)), exc.wait
        return Answer("", extra={"error": f"gave up after {self.max_retries + 1} attempts; last error: {last}"})

    def _delay(self, attempt: int, wait: float, rng: random.Random) -> float:
        step = min(self.max_backoff, self.backoff * 2 ** attempt)
        return max(wait, step / 2 + rng.random() * step / 2)

    def _post(self, body: bytes) -> dict:
        """One attempt: the decoded JSON reply, RetryableError, or UsageError (not worth retrying)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        resp, data = self._send(body, headers)
        status, wait = resp.status, retry_after(resp.getheader("Retry-After"))
        snippet = data[:300].decode("utf-8", "replace")
        if status in RETRY_STATUS:
            raise RetryableError(f"HTTP {status}: {snippet}", wait)
        if status != 200:
            raise UsageError(self._redact(f"openai backend: {self.base_url}: HTTP {status}: {snippet}"))
        try:
            reply = json.loads(data)
            reply["choices"][0]["message"]["role"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise RetryableError(f"HTTP 200 but not a chat-completions reply: {snippet}") from None
        return reply

    def _send(self, body: bytes, headers: dict) -> tuple[http.client.HTTPResponse, bytes]:
        """POST on this thread's connection; a kept-alive connection that the server has closed
        meanwhile is reopened once, at no retry cost."""
        try:
            return self._send_once(body, headers, stale_ok=True)
        except StaleConnection:
            return self._send_once(body, headers, stale_ok=False)

    def _send_once(self, body: bytes, headers: dict, stale_ok: bool) -> tuple[http.client.HTTPResponse, bytes]:
        conn = self._conn()
        reused = conn.sock is not None
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except (TimeoutError, socket.timeout) as exc:
            self._drop(conn)
            raise RetryableError(f"no reply within {self.timeout:g}s ({type(exc).__name__})") from None
        except (OSError, http.client.HTTPException) as exc:
            self._drop(conn)
            if reused and stale_ok and isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)):
                raise StaleConnection() from None
            raise RetryableError(f"connection error: {type(exc).__name__}: {exc}") from None
        if resp.will_close:
            self._drop(conn)
        return resp, data

    def _answer(self, reply: dict) -> Answer:
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += prompt
            self.usage["completion_tokens"] += completion
            self.usage["cost"] = self._cost(self.usage["prompt_tokens"], self.usage["completion_tokens"])
        extra = {"finish_reason": choice.get("finish_reason")}
        content = (choice.get("logprobs") or {}).get("content") or []
        if content and content[0].get("top_logprobs"):
            extra["top_logprobs"] = [(t["token"], float(t["logprob"])) for t in content[0]["top_logprobs"]]
        return Answer(choice["message"].get("content") or "", prompt, completion, extra)

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self.scheme == "https":
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                                   context=ssl.create_default_context())
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    def _drop(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            if conn in self._conns:
                self._conns.remove(conn)

    # -- helpers -----------------------------------------------------------------------------------

    def _cost(self, prompt: int, completion: int) -> float:
        return prompt / 1000 * self.price[0] + completion / 1000 * self.price[1]

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text

