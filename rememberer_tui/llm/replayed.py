"""An LLM that answers from another run's recorded exchanges, without any server.

Re-executing a run this way gives the same answers, so the same events. Each call
consumes one recorded call: its attempts (attempt 1, 2, ...) come back as events and,
if the recorded call failed, the same error is raised again. By default the asked
messages must equal the recorded ones; a difference means the run diverged, and is an
error naming the step. `match_messages=False` answers strictly by order instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from rememberer_tui.llm.exchange import (
    FINAL_ERRORS,
    LlmReply,
    LlmUnavailable,
    ReplayDivergence,
    error_kind,
)
from store.events import LlmExchanged, json_value
from store.recorder import SQLiteRecorder, StoreError
from store.secrets import redact

SNIPPET = 60


def group_calls(exchanges: Iterable[LlmExchanged]) -> list[tuple[LlmExchanged, ...]]:
    """Split exchanges into calls: a call starts at attempt 1 and holds its retries."""
    calls: list[list[LlmExchanged]] = []
    for event in exchanges:
        if event.attempt == 1 or not calls:
            calls.append([])
        calls[-1].append(event)
    return [tuple(call) for call in calls]


class ReplayedLlm:
    """Answers calls in order from recorded `LlmExchanged` events."""

    def __init__(self, exchanges: Iterable[LlmExchanged], *, match_messages: bool = True,
                 source: str = "the recorded run"):
        self._calls = group_calls(exchanges)
        self._next = 0
        self.match_messages = match_messages
        self.source = source

    @classmethod
    def from_store(cls, path: str | Path, run: str, *, match_messages: bool = True) -> ReplayedLlm:
        """The exchanges of `run` in the database at `path`, in log order."""
        with SQLiteRecorder(path, create=False) as recorder:
            if run not in recorder.runs():
                raise StoreError(f"{path}: no run named {run!r}")
            events = [r.event for r in recorder.read(run=run) if isinstance(r.event, LlmExchanged)]
        return cls(events, match_messages=match_messages, source=f"run {run!r}")

    @property
    def remaining(self) -> int:
        """Recorded calls not yet answered."""
        return len(self._calls) - self._next

    def complete(self, messages: Sequence[dict], *, episode: str = "", step: int = 0) -> LlmReply:
        number = self._next + 1
        where = f"call {number} (episode {episode!r}, step {step})"
        if self._next >= len(self._calls):
            raise ReplayDivergence(
                f"replay diverged at {where}: {self.source} recorded only {len(self._calls)} LLM call(s)")
        call = self._calls[self._next]
        if self.match_messages:
            difference = _difference(call[0].messages, redact(json_value(list(messages), "messages")))
            if difference:
                raise ReplayDivergence(
                    f"replay diverged at {where}: {difference}; "
                    "replay with messages ignored to answer strictly by order")
        self._next += 1
        events = tuple(
            attrs.evolve(event, event_id=str(uuid.uuid4()), episode=episode, step=step)
            for event in call
        )
        last = events[-1]
        if not last.error:
            return LlmReply(text=last.response, usage=last.usage, exchanges=events)
        final = FINAL_ERRORS.get(error_kind(last.error))
        if final is not None:
            raise final(last.error.split(": ", 1)[-1], events)
        raise LlmUnavailable(
            f"{self.source} got no usable answer after {len(events)} attempt(s); last: {last.error}", events)


def _difference(recorded: list, asked: list) -> str:
    """'' if equal, else where the two message lists first differ."""
    if recorded == asked:
        return ""
    for index, (old, new) in enumerate(zip(recorded, asked)):
        if old != new:
            role = old.get("role", "?") if isinstance(old, dict) else "?"
            old_text, new_text = _content(old), _content(new)
            if old_text == new_text:
                return f"message {index} ({role}) differs outside its content"
            cut = next((i for i, (a, b) in enumerate(zip(old_text, new_text)) if a != b),
                       min(len(old_text), len(new_text)))
            start = max(0, cut - SNIPPET // 3)
            return (f"message {index} ({role}) differs at character {cut}: recorded "
                    f"{old_text[start:start + SNIPPET]!r}, asked {new_text[start:start + SNIPPET]!r}")
    return f"recorded {len(recorded)} message(s), asked {len(asked)}"


def _content(message: object) -> str:
    content = message.get("content") if isinstance(message, dict) else message
    return content if isinstance(content, str) else repr(content)
