"""The LLM client end to end: the real openai package against the real test server."""

from __future__ import annotations

import json

import pytest

from rememberer_tui.llm.client import LlmClient, LlmConfig
from rememberer_tui.llm.exchange import (
    LlmAuthError,
    LlmNotFound,
    LlmRequestError,
    LlmUnavailable,
    recording_call,
)
from rememberer_tui.testing.llm_server import Fault, LlmTestServer
from store.events import LlmExchanged
from store.mapper import to_row_fields

KEY = "sk-test-client0123456789abcdefXYZ"
MESSAGES = [{"role": "system", "content": "You shop."}, {"role": "user", "content": "what next?"}]
ANSWER = "Encouraged:\nclick[buy now] -> 1.0 it fits\nDiscouraged:\nclick[back] -> 0.0 no\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from the environment, as for users; nothing of the developer's leaks in."""
    for name in ("OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


class Sleeps(list):
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def ticking_clock(step: float = 0.25):
    """A clock advancing `step` seconds per reading: each attempt (two readings) lasts `step`."""
    now = [100.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(server: LlmTestServer, sleeps: Sleeps, **config) -> LlmClient:
    options = {"model": "test-model", "base_url": server.base_url, "backoff": 1.0, "max_attempts": 4,
               "timeout": 5.0, **config}
    return LlmClient(LlmConfig(**options), sleep=sleeps, clock=ticking_clock())


def serialised(events) -> str:
    return "\n".join(to_row_fields(e)[2] for e in events)


def test_normal_answer_is_one_exchange_with_usage_and_latency(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[ANSWER], api_key=KEY) as server, make_client(server, sleeps) as client:
        reply = client.complete(MESSAGES, episode="ep-1", step=3)
    assert reply.text == ANSWER
    assert reply.usage == {"prompt_tokens": 4, "completion_tokens": 12, "total_tokens": 16}
    (event,) = reply.exchanges
    assert isinstance(event, LlmExchanged)
    assert (event.episode, event.step, event.model, event.attempt, event.error) == ("ep-1", 3, "test-model", 1, "")
    assert event.messages == MESSAGES and event.response == ANSWER and event.usage == reply.usage
    assert event.latency_ms == 250.0
    assert sleeps == []
    (request,) = server.chat_requests()
    assert request.json["temperature"] == 0.0 and request.json["max_tokens"] == 256
    assert request.json["messages"] == MESSAGES


def test_temperature_and_max_tokens_are_sent(sleeps: Sleeps) -> None:
    with LlmTestServer(script=["a", "b"]) as server:
        with make_client(server, sleeps, temperature=0.7, max_tokens=32) as client:
            client.complete(MESSAGES)
        with make_client(server, sleeps, max_tokens=None) as client:
            client.complete(MESSAGES)
        first, second = server.chat_requests()
    assert (first.json["temperature"], first.json["max_tokens"]) == (0.7, 32)
    assert "max_tokens" not in second.json


def test_429_then_success_retries_after_the_servers_retry_after(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[Fault.rate_limited(retry_after=7), ANSWER], api_key=KEY) as server:
        with make_client(server, sleeps) as client:
            reply = client.complete(MESSAGES, episode="ep-1", step=0)
    assert reply.text == ANSWER
    assert [e.attempt for e in reply.exchanges] == [1, 2]
    assert reply.exchanges[0].error.startswith("rate_limited: HTTP 429")
    assert reply.exchanges[0].response == "" and reply.exchanges[1].error == ""
    assert sleeps == [7.0]
    assert len(server.chat_requests()) == 2


def test_500_twice_then_success_backs_off_exponentially(sleeps: Sleeps) -> None:
    script = [Fault.server_error(500), Fault.server_error(503), ANSWER]
    with LlmTestServer(script=script) as server, make_client(server, sleeps, backoff=0.5) as client:
        reply = client.complete(MESSAGES)
    assert [(e.attempt, e.error.split(":")[0]) for e in reply.exchanges] == [
        (1, "server_error"), (2, "server_error"), (3, "")]
    assert "HTTP 503" in reply.exchanges[1].error
    assert sleeps == [0.5, 1.0]


def test_backoff_is_capped() -> None:
    client = LlmClient(LlmConfig(model="m", base_url="http://127.0.0.1:9/v1", backoff=2.0, backoff_max=5.0))
    assert [client.backoff_delay(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 5.0, 5.0]
    assert client.backoff_delay(1, retry_after=60.0) == 5.0
    client.close()


def test_slow_answers_time_out_on_every_attempt_then_give_up(sleeps: Sleeps) -> None:
    script = [Fault.slow(30, "late")] * 2
    with LlmTestServer(script=script) as server:
        with make_client(server, sleeps, timeout=0.2, max_attempts=2) as client:
            with pytest.raises(LlmUnavailable) as caught:
                client.complete(MESSAGES, episode="ep-2", step=1)
    error = caught.value
    assert "after 2 attempt(s)" in str(error) and "timeout" in str(error)
    assert [e.attempt for e in error.exchanges] == [1, 2]
    assert all(e.error.startswith("timeout: no answer") and e.response == "" for e in error.exchanges)
    assert sleeps == [1.0]


def test_connection_refused_is_retried_then_unavailable(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[]) as server:
        base_url = server.base_url
    client = LlmClient(LlmConfig(model="test-model", base_url=base_url, max_attempts=3), sleep=sleeps)
    with client, pytest.raises(LlmUnavailable, match="cannot reach") as caught:
        client.complete(MESSAGES)
    assert [e.error.split(":")[0] for e in caught.value.exchanges] == ["connection"] * 3
    assert sleeps == [1.0, 2.0]


def test_malformed_body_is_a_bad_response_and_retried(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[Fault.malformed(), ANSWER]) as server, make_client(server, sleeps) as client:
        reply = client.complete(MESSAGES)
    assert reply.exchanges[0].error == "bad_response: the answer is not valid JSON"
    assert reply.text == ANSWER and len(reply.exchanges) == 2


def test_empty_choices_every_time_ends_unavailable(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[Fault.no_choices()] * 2) as server:
        with make_client(server, sleeps, max_attempts=2) as client, pytest.raises(LlmUnavailable) as caught:
            client.complete(MESSAGES)
    assert [e.error for e in caught.value.exchanges] == ["bad_response: the answer has no choices"] * 2
    assert "no usable answer" in str(caught.value)


@pytest.mark.parametrize("body", [
    {"choices": [{}]}, {"choices": [{"message": None}]}, {"choices": [{"message": {"content": 5}}]},
    {"choices": "x"}, {}, [1, 2],
], ids=["no-message", "null-message", "number-content", "string-choices", "empty-object", "array"])
def test_answers_of_the_wrong_shape_are_bad_responses(sleeps: Sleeps, body) -> None:
    with LlmTestServer(script=[Fault(body=json.dumps(body).encode())]) as server:
        with make_client(server, sleeps, max_attempts=1) as client, pytest.raises(LlmUnavailable) as caught:
            client.complete(MESSAGES)
    (event,) = caught.value.exchanges
    assert event.error == "bad_response: the answer does not have the chat-completion shape"


def test_null_content_is_an_empty_answer(sleeps: Sleeps) -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None}}], "usage": None}
    with LlmTestServer(script=[Fault(body=json.dumps(body).encode())]) as server:
        with make_client(server, sleeps) as client:
            reply = client.complete(MESSAGES)
    assert (reply.text, reply.usage, reply.exchanges[0].error) == ("", {}, "")


def test_wrong_key_is_a_clear_error_without_retry(sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = "sk-test-WRONGkey0123456789abcdef"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    with LlmTestServer(script=[ANSWER], api_key=KEY) as server, make_client(server, sleeps) as client:
        with pytest.raises(LlmAuthError) as caught:
            client.complete(MESSAGES)
        assert len(server.chat_requests()) == 1 and server.remaining == 1
    message = str(caught.value)
    assert "HTTP 401" in message and "OPENAI_API_KEY" in message and "\n" not in message
    assert wrong not in message and KEY not in message
    (event,) = caught.value.exchanges
    assert event.error.startswith("auth: ") and wrong not in serialised([event])
    assert sleeps == []


def test_missing_key_says_the_variable_is_not_set(sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with LlmTestServer(script=[ANSWER], api_key=KEY) as server, make_client(server, sleeps) as client:
        with pytest.raises(LlmAuthError, match="OPENAI_API_KEY is not set"):
            client.complete(MESSAGES)


def test_unknown_model_is_a_clear_error_without_retry(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[ANSWER]) as server:
        with make_client(server, sleeps, model="gpt-nope") as client, pytest.raises(LlmNotFound) as caught:
            client.complete(MESSAGES)
    assert "'gpt-nope'" in str(caught.value) and "HTTP 404" in str(caught.value)
    assert "does not exist" in str(caught.value)
    assert len(caught.value.exchanges) == 1 and sleeps == []


def test_other_4xx_is_a_request_error_without_retry(sleeps: Sleeps) -> None:
    with LlmTestServer(script=[Fault.server_error(400)]) as server, make_client(server, sleeps) as client:
        with pytest.raises(LlmRequestError, match="HTTP 400"):
            client.complete(MESSAGES)
    assert sleeps == []


def test_the_key_goes_only_into_the_authorization_header(sleeps: Sleeps) -> None:
    script = [Fault.rate_limited(), Fault.server_error(), Fault.malformed(), ANSWER]
    with LlmTestServer(script=script, api_key=KEY) as server, make_client(server, sleeps) as client:
        reply = client.complete(MESSAGES, episode="ep-1", step=0)
        requests = server.requests
    assert len(requests) == 4
    for request in requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        others = {k: v for k, v in request.headers.items() if k != "authorization"}
        assert KEY not in repr(others) and KEY.encode() not in request.raw_body
    text = serialised(reply.exchanges)
    assert KEY not in text and "sk-test" not in text
    assert len(reply.exchanges) == 4


def test_a_key_slipped_into_messages_is_redacted_by_the_mapper(sleeps: Sleeps) -> None:
    leaked = [{"role": "user", "content": f"my key is {KEY}"}]
    with LlmTestServer(rule=lambda messages: "noted") as server, make_client(server, sleeps) as client:
        reply = client.complete(leaked)
    assert reply.exchanges[0].messages == leaked  # the event object holds what was sent...
    text = serialised(reply.exchanges)  # ...but its row never does
    assert KEY not in text and "[REDACTED]" in text


def test_recording_call_keeps_failed_attempts_even_when_raising(sleeps: Sleeps) -> None:
    events: list[LlmExchanged] = []
    script = [Fault.server_error(), ANSWER, Fault.server_error(), Fault.server_error()]
    with LlmTestServer(script=script) as server, make_client(server, sleeps, max_attempts=2) as client:
        call = recording_call(client, events, episode="ep-9", step=4)
        assert call(MESSAGES) == ANSWER
        with pytest.raises(LlmUnavailable):
            call(MESSAGES)
    assert [e.attempt for e in events] == [1, 2, 1, 2]
    assert {(e.episode, e.step) for e in events} == {("ep-9", 4)}


def test_config_is_validated_and_holds_no_key() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        LlmConfig(model="m", max_attempts=0)
    with pytest.raises(ValueError, match="temperature"):
        LlmConfig(model="m", temperature=3.0)
    assert KEY not in repr(LlmConfig(model="m").to_dict())
