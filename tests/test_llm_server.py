"""The test LLM server speaks chat completions over real HTTP, records requests, injects
faults, and stops without leaving threads behind."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from rememberer_tui.testing.llm_server import CREATED, Fault, LlmTestServer

KEY = "sk-test-server0123456789abcdef"


def post(server: LlmTestServer, body: dict | bytes, *, key: str | None = KEY, path: str = "/chat/completions"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    return _open(request)


def get(server: LlmTestServer, path: str, *, key: str | None = KEY):
    request = urllib.request.Request(server.base_url + path)
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    return _open(request)


def _open(request):
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def chat(content: str = "hello world", model: str = "test-model") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def test_completion_has_the_chat_completion_shape_and_follows_the_script() -> None:
    with LlmTestServer(script=["first answer", "second"], api_key=KEY) as server:
        status, headers, raw = post(server, chat("three words here"))
        assert status == 200 and headers["Content-Type"] == "application/json"
        body = json.loads(raw)
        assert body == {
            "id": "chatcmpl-test-1", "object": "chat.completion", "created": CREATED,
            "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "first answer",
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
        second = json.loads(post(server, chat())[2])
        assert second["id"] == "chatcmpl-test-2"
        assert second["choices"][0]["message"]["content"] == "second"
        assert server.remaining == 0
        status, _, raw = post(server, chat())
        assert status == 500 and b"no scripted reply left for request 3" in raw


def test_rule_answers_from_the_request_messages() -> None:
    def rule(messages: list[dict]) -> str:
        return messages[-1]["content"].upper()

    with LlmTestServer(rule=rule) as server:  # no api_key: any key or none is accepted
        assert json.loads(post(server, chat("shout"), key=None)[2])["choices"][0]["message"]["content"] == "SHOUT"
        assert server.remaining == 0


def test_a_rule_that_raises_is_a_500_naming_the_error() -> None:
    def rule(messages: list[dict]) -> str:
        raise KeyError("oops")

    with LlmTestServer(rule=rule) as server:
        status, _, raw = post(server, chat())
    assert status == 500 and b"the rule raised KeyError('oops')" in raw


def test_models_lists_the_configured_models() -> None:
    with LlmTestServer(script=[], models=("a-model", "b-model"), api_key=KEY) as server:
        status, _, raw = get(server, "/models")
        assert status == 200
        assert [m["id"] for m in json.loads(raw)["data"]] == ["a-model", "b-model"]
        assert get(server, "/nowhere")[0] == 404


def test_wrong_or_missing_key_is_401_and_never_echoed_and_uses_no_script_entry() -> None:
    with LlmTestServer(script=["kept"], api_key=KEY) as server:
        status, _, raw = post(server, chat(), key="sk-wrong-key-000000000000000")
        assert status == 401
        assert json.loads(raw)["error"]["code"] == "invalid_api_key"
        assert b"sk-wrong" not in raw
        assert post(server, chat(), key=None)[0] == 401
        assert get(server, "/models", key=None)[0] == 401
        assert server.remaining == 1
        assert len(server.requests) == 3


def test_unknown_model_is_404_and_bad_body_is_400() -> None:
    with LlmTestServer(script=["kept"]) as server:
        status, _, raw = post(server, chat(model="gpt-nope"))
        assert status == 404
        assert json.loads(raw)["error"]["code"] == "model_not_found"
        assert post(server, b"not json")[0] == 400
        assert server.remaining == 1


def test_faults_are_served_in_script_order() -> None:
    script = [Fault.rate_limited(retry_after=3), Fault.server_error(503), Fault.malformed(),
              Fault.no_choices(), Fault.slow(0.05, "late"), "fine"]
    with LlmTestServer(script=script) as server:
        status, headers, _ = post(server, chat())
        assert (status, headers.get("Retry-After")) == (429, "3")
        assert post(server, chat())[0] == 503
        status, _, raw = post(server, chat())
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(raw)
        body = json.loads(post(server, chat())[2])
        assert body["choices"] == [] and body["usage"]["prompt_tokens"] == 2
        assert json.loads(post(server, chat())[2])["choices"][0]["message"]["content"] == "late"
        assert json.loads(post(server, chat())[2])["choices"][0]["message"]["content"] == "fine"
        assert len(server.chat_requests()) == 6


def test_requests_are_recorded_with_headers_and_body() -> None:
    with LlmTestServer(script=["ok"], api_key=KEY) as server:
        post(server, chat("remember me"))
        (request,) = server.requests
        assert (request.method, request.path) == ("POST", "/v1/chat/completions")
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.messages == [{"role": "user", "content": "remember me"}]
        assert KEY in request.text() and "remember me" in request.text()


def test_stop_joins_every_thread_even_with_a_slow_answer_pending() -> None:
    before = set(threading.enumerate())
    server = LlmTestServer(script=[Fault.slow(60, "never")]).start()
    caller = threading.Thread(target=post, args=(server, chat()))
    caller.start()
    while not server.requests:  # the slow request has arrived and is waiting
        threading.Event().wait(0.01)
    server.stop()  # wakes the slow answer instead of waiting a minute
    caller.join(timeout=10)
    assert not caller.is_alive()
    assert set(threading.enumerate()) == before
    server.stop()  # twice is fine


def test_two_servers_get_different_free_ports() -> None:
    with LlmTestServer(script=[]) as one, LlmTestServer(script=[]) as two:
        assert one.port != two.port and one.port > 0
        assert one.base_url == f"http://127.0.0.1:{one.port}/v1"


def test_script_or_rule_is_required() -> None:
    with pytest.raises(ValueError, match="either a script or a rule"):
        LlmTestServer()
