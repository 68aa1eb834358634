"""A run's recorded LLM exchanges answer a re-execution, in order, without any server."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from rememberer_tui.llm.client import LlmClient, LlmConfig
from rememberer_tui.llm.exchange import (
    LlmAuthError,
    LlmUnavailable,
    ReplayDivergence,
    recording_call,
)
from rememberer_tui.llm.parser import choose_action
from rememberer_tui.llm.replayed import ReplayedLlm, group_calls
from rememberer_tui.testing.llm_server import Fault, LlmTestServer
from store.events import LlmExchanged, RunStarted
from store.recorder import SQLiteRecorder, StoreError
from tests.conftest import fixed_clock

KEY = "sk-test-replay0123456789abcdefXYZ"
AVAILABLE = ["click[back to search]", "click[buy now]", "click[red]"]


def ask(step: int) -> list[dict]:
    # The key in the question is redacted in the log; matching must still succeed.
    return [{"role": "system", "content": "You shop."},
            {"role": "user", "content": f"Step {step}: the page shows a red shirt. My key is {KEY}."}]


def answer(messages: list[dict]) -> str:
    step = messages[-1]["content"].split(":")[0]
    return f"Encouraged:\nclick[red] -> 0.5 {step}, pick the colour\nDiscouraged:\nclick[back to search] -> 0.0 no\n"


@pytest.fixture
def recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[LlmExchanged]]:
    """A run 'live' whose three steps asked a real (test) server; step 1 was rate limited."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    path = tmp_path / "memory.db"
    events: list[LlmExchanged] = []
    script = [answer(ask(0)), Fault.rate_limited(), answer(ask(1)), answer(ask(2))]
    with LlmTestServer(script=script, api_key=KEY) as server:
        config = LlmConfig(model="test-model", base_url=server.base_url)
        with LlmClient(config, sleep=lambda s: None, clock=lambda: 0.0) as client:
            for step in range(3):
                choose_action(recording_call(client, events, episode="ep-1", step=step), ask(step), AVAILABLE)
    with SQLiteRecorder(path, clock=fixed_clock) as recorder:
        recorder.append([RunStarted("live")], "live", 0)
        recorder.append(events, "live/ep-1", 0)
        recorder.append([RunStarted("other")], "other", 0)
    return path, events


def content(event: LlmExchanged) -> dict:
    return {k: v for k, v in attrs.asdict(event).items() if k != "event_id"}


def test_replay_answers_in_order_and_produces_the_same_events(recorded) -> None:
    path, original = recorded
    with SQLiteRecorder(path) as recorder:
        stored = [r.event for r in recorder.read(run="live")][1:]
    llm = ReplayedLlm.from_store(path, "live")
    assert llm.remaining == 3
    replayed: list[LlmExchanged] = []
    choices = [choose_action(recording_call(llm, replayed, episode="ep-1", step=step), ask(step), AVAILABLE)
               for step in range(3)]
    assert [c.action for c in choices] == ["click[red]"] * 3
    assert [c.reason for c in choices] == ["Step 0, pick the colour", "Step 1, pick the colour",
                                           "Step 2, pick the colour"]
    assert [content(e) for e in replayed] == [content(e) for e in stored]
    assert [e.attempt for e in replayed] == [1, 1, 2, 1]  # the rate-limited attempt comes back too
    assert {e.event_id for e in replayed}.isdisjoint(e.event_id for e in stored)
    assert len(original) == 4 and llm.remaining == 0


def test_a_different_question_is_a_divergence_naming_the_step(recorded) -> None:
    path, _ = recorded
    llm = ReplayedLlm.from_store(path, "live")
    llm.complete(ask(0), episode="ep-1", step=0)
    changed = ask(1)
    changed[1] = {"role": "user", "content": changed[1]["content"].replace("red shirt", "blue shirt")}
    with pytest.raises(ReplayDivergence) as caught:
        llm.complete(changed, episode="ep-1", step=1)
    message = str(caught.value)
    assert message.startswith("replay diverged at call 2 (episode 'ep-1', step 1): message 1 (user)")
    assert "blue shirt" in message and "red shirt" in message
    assert KEY not in message and "\n" not in message
    assert llm.remaining == 2  # a divergence consumes nothing


def test_a_different_number_of_messages_is_a_divergence(recorded) -> None:
    llm = ReplayedLlm.from_store(recorded[0], "live")
    with pytest.raises(ReplayDivergence, match="recorded 2 message"):
        llm.complete(ask(0)[:1])


def test_ignoring_messages_answers_strictly_by_order(recorded) -> None:
    llm = ReplayedLlm.from_store(recorded[0], "live", match_messages=False)
    texts = [llm.complete([{"role": "user", "content": "anything"}], step=n).text for n in range(3)]
    assert texts == [answer(ask(0)), answer(ask(1)), answer(ask(2))]


def test_asking_past_the_recording_is_a_divergence(recorded) -> None:
    llm = ReplayedLlm.from_store(recorded[0], "live", match_messages=False)
    for _ in range(3):
        llm.complete([])
    with pytest.raises(ReplayDivergence, match=r"call 4 .*run 'live' recorded only 3 LLM call"):
        llm.complete([], episode="ep-2", step=0)


def test_recorded_failures_fail_again_with_the_same_error() -> None:
    base = {"episode": "ep", "step": 0, "model": "m", "messages": []}
    events = [
        LlmExchanged(**base, error="server_error: HTTP 500", attempt=1),
        LlmExchanged(**base, error="timeout: no answer within 1 s", attempt=2),
        LlmExchanged(**base, error="auth: refused (HTTP 401): check the key", attempt=1),
    ]
    llm = ReplayedLlm(events)
    with pytest.raises(LlmUnavailable, match="after 2 attempt.*timeout: no answer") as caught:
        llm.complete([])
    assert [e.attempt for e in caught.value.exchanges] == [1, 2]
    with pytest.raises(LlmAuthError, match=r"^refused \(HTTP 401\)") as caught:
        llm.complete([])
    assert len(caught.value.exchanges) == 1


def test_group_calls_splits_at_attempt_one() -> None:
    def e(attempt: int) -> LlmExchanged:
        return LlmExchanged(episode="", step=0, model="m", attempt=attempt)

    assert [[x.attempt for x in call] for call in group_calls([e(1), e(2), e(3), e(1), e(1), e(2)])] == [
        [1, 2, 3], [1], [1, 2]]


def test_unknown_run_or_missing_database_is_a_store_error(recorded, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no run named 'nope'"):
        ReplayedLlm.from_store(recorded[0], "nope")
    with pytest.raises(StoreError, match="no such database"):
        ReplayedLlm.from_store(tmp_path / "missing.db", "live")
    assert ReplayedLlm.from_store(recorded[0], "other").remaining == 0
