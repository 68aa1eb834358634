"""A real HTTP server speaking the OpenAI chat-completions protocol, for tests.

It listens on 127.0.0.1 (a free port by default) in a background thread and answers
`POST /v1/chat/completions` and `GET /v1/models` from a script (replies in order) or a
rule (a function of the request's messages). A script entry or a rule's answer may be a
`Fault` instead of a text: rate limiting (429 with Retry-After), server errors, slow
answers, malformed bodies, empty choices. With `api_key` set, requests without
`Authorization: Bearer <api_key>` get 401; a model not in `models` gets 404; neither
uses up a script entry. Every request received is kept in `server.requests`, so a test
can check what the client sent (and that nothing leaked). Only the standard library is
used, so it works with any HTTP client; stopping joins every thread it started.

Use it as a pytest fixture in your own tests:

    import pytest
    from rememberer_tui.testing.llm_server import Fault, LlmTestServer

    @pytest.fixture
    def llm_server():
        script = [Fault.rate_limited(), "Encouraged:\\nclick[buy now] -> 1.0 it fits\\nDiscouraged:\\n"]
        with LlmTestServer(script=script, api_key="sk-test-0123456789abcdefXYZ") as server:
            yield server

    def test_agent(llm_server, monkeypatch):
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789abcdefXYZ")
        ...  # point the client at llm_server.base_url, model "test-model"
        assert len(llm_server.chat_requests()) == 2

Token usage is counted in whitespace-separated words, which is enough to check that
usage is recorded. `created` is a fixed number so answers never depend on the clock.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

CREATED = 1_700_000_000  # fixed, so that answers never depend on the clock
DEFAULT_MODELS = ("test-model",)
MALFORMED_BODY = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "mess'


@attrs.frozen
class Fault:
    """What to do instead of (or before) a normal answer; build with the class methods."""

    status: int = 200
    delay: float = 0.0
    reply: str = ""
    retry_after: float | None = None
    body: bytes | None = None
    empty_choices: bool = False

    @classmethod
    def rate_limited(cls, retry_after: float = 0) -> Fault:
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status)

    @classmethod
    def slow(cls, seconds: float, reply: str = "") -> Fault:
        """Wait, then answer `reply` normally (if the client is still there)."""
        return cls(delay=seconds, reply=reply)

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 answer whose JSON body is cut off."""
        return cls(body=MALFORMED_BODY)

    @classmethod
    def no_choices(cls) -> Fault:
        """A well-formed 200 answer with an empty `choices` list."""
        return cls(empty_choices=True)


Reply = str | Fault
Rule = Callable[[list[dict]], Reply]


@attrs.frozen
class ReceivedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.raw_body) if self.raw_body else None
        except ValueError:
            return None

    @property
    def messages(self) -> list[dict]:
        body = self.json
        return body.get("messages", []) if isinstance(body, dict) else []

    def text(self) -> str:
        """Headers and body as one string, for checking that a secret never left the client."""
        head = "\n".join(f"{name}: {value}" for name, value in self.headers.items())
        return f"{self.method} {self.path}\n{head}\n\n{self.raw_body.decode('utf-8', 'replace')}"


class LlmTestServer:
    """A chat-completions server on 127.0.0.1; a context manager (start on enter, stop on exit)."""

    def __init__(
        self,
        script: Iterable[Reply] | None = None,
        *,
        rule: Rule | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        port: int = 0,
    ):
        if (script is None) == (rule is None):
            raise ValueError("give either a script or a rule")
        self._script = list(script) if script is not None else None
        self._rule = rule
        self.models = tuple(models)
        self.api_key = api_key
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._turns = 0
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """What to give the client as its base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlmTestServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"llm-test-server-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake slow answers, stop serving, and join every thread; safe to call twice."""
        self._stopping.set()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()  # joins the request threads (block_on_close)

    def __enter__(self) -> LlmTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    def chat_requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def remaining(self) -> int:
        """Script entries not yet used (0 with a rule)."""
        with self._lock:
            return len(self._script) if self._script is not None else 0

    # ------------------------------------------------------------------ answering

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self, messages: list[dict]) -> tuple[int, Reply | None]:
        with self._lock:
            self._turns += 1
            turn = self._turns
            if self._script is not None:
                return turn, (self._script.pop(0) if self._script else None)
        return turn, self._rule(messages)

    def _wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def _authorised(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        return headers.get("authorization", "") == f"Bearer {self.api_key}"


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: LlmTestServer


def _error_body(message: str, type_: str, code: str | None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def _words(text: Any) -> int:
    return len(text.split()) if isinstance(text, str) else 0


def completion(turn: int, model: str, messages: list[dict], reply: str, *, empty: bool = False) -> dict:
    """The chat-completion body for `reply` (usage in words)."""
    prompt = sum(_words(m.get("content")) for m in messages if isinstance(m, dict))
    done = _words(reply)
    choices = [] if empty else [{
        "index": 0,
        "message": {"role": "assistant", "content": reply, "refusal": None},
        "logprobs": None,
        "finish_reason": "stop",
    }]
    return {
        "id": f"chatcmpl-test-{turn}",
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done},
    }


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no thread lingers on an idle keep-alive.
    protocol_version = "HTTP/1.0"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet in test output
        pass

    def _receive(self) -> ReceivedRequest:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = ReceivedRequest(
            method=self.command, path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw,
        )
        self.server.owner._record(request)
        return request

    def _send(self, status: int, body: dict | bytes, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def do_GET(self) -> None:
        owner = self.server.owner
        request = self._receive()
        if not owner._authorised(request.headers):
            return self._unauthorised()
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "test"} for m in owner.models]
            return self._send(200, {"object": "list", "data": data})
        self._send(404, _error_body(f"no route {self.path}", "invalid_request_error", None))

    def do_POST(self) -> None:
        owner = self.server.owner
        request = self._receive()
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._send(404, _error_body(f"no route {self.path}", "invalid_request_error", None))
        if not owner._authorised(request.headers):
            return self._unauthorised()
        body = request.json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return self._send(400, _error_body("body must be JSON with a messages list",
                                               "invalid_request_error", None))
        model = body.get("model")
        if model not in owner.models:
            return self._send(404, _error_body(f"The model `{model}` does not exist",
                                               "invalid_request_error", "model_not_found"))
        try:
            turn, reply = owner._next_reply(body["messages"])
        except Exception as exc:  # a broken rule shows up in the test, not as a dropped connection
            return self._send(500, _error_body(f"test LLM server: the rule raised {exc!r}", "server_error", None))
        if reply is None:
            return self._send(500, _error_body(f"test LLM server: no scripted reply left for request {turn}",
                                               "server_error", None))
        fault = reply if isinstance(reply, Fault) else Fault(reply=reply)
        if fault.delay:
            owner._wait(fault.delay)
        if fault.status == 429:
            headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
            return self._send(429, _error_body("Rate limit reached (test server)", "requests", "rate_limit_exceeded"),
                              headers)
        if fault.status != 200:
            return self._send(fault.status, _error_body(f"test server error {fault.status}", "server_error", None))
        if fault.body is not None:
            return self._send(200, fault.body)
        self._send(200, completion(turn, model, body["messages"], fault.reply, empty=fault.empty_choices))

    def _unauthorised(self) -> None:
        # Like OpenAI, but never echo the key back, not even masked.
        self._send(401, _error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"))
