"""What asking an LLM gives back: a reply with the exchanges' events, or an error.

Errors have one-line messages and carry the exchanges made before they were raised, so
failed attempts reach the log too. A recorded `LlmExchanged.error` reads
`"<kind>: <message>"`; the kind names the error, so a replayed run fails where the
original run failed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

import attrs

from store.events import LlmExchanged


class LlmError(Exception):
    """Base of the LLM errors. `exchanges` are the attempts' events, for the log."""

    kind: ClassVar[str] = "error"

    def __init__(self, message: str, exchanges: Sequence[LlmExchanged] = ()):
        super().__init__(message)
        self.exchanges = tuple(exchanges)


class LlmAuthError(LlmError):
    """The server refused the key (401/403): retrying cannot help."""

    kind = "auth"


class LlmNotFound(LlmError):
    """Unknown model or wrong base URL (404): retrying cannot help."""

    kind = "not_found"


class LlmRequestError(LlmError):
    """The server rejected the request itself (another 4xx)."""

    kind = "bad_request"


class LlmUnavailable(LlmError):
    """Every attempt failed with a transient error (429, 5xx, timeout, bad answer)."""

    kind = "unavailable"


class ReplayDivergence(LlmError):
    """A replayed run asked something the recorded run did not."""

    kind = "divergence"


# Errors that stop at once; every other recorded kind (rate_limited, server_error, timeout,
# connection, bad_response) is retried and ends in LlmUnavailable.
FINAL_ERRORS: dict[str, type[LlmError]] = {
    cls.kind: cls for cls in (LlmAuthError, LlmNotFound, LlmRequestError)
}


def error_kind(error: str) -> str:
    return error.split(":", 1)[0]


@attrs.frozen
class LlmReply:
    """The answer's text and token usage, and one event per attempt (the last succeeded)."""

    text: str
    usage: dict
    exchanges: tuple[LlmExchanged, ...]


class Llm(Protocol):
    """What an agent session needs of an LLM: `LlmClient` and `ReplayedLlm` both offer it."""

    def complete(self, messages: Sequence[dict], *, episode: str = "", step: int = 0) -> LlmReply: ...


def recording_call(llm: Llm, events: list[LlmExchanged], *, episode: str = "",
                   step: int = 0) -> Callable[[list[dict]], str]:
    """A `messages -> text` function for `choose_action` that appends every exchange's event
    (failed attempts too, also when an error is raised) to `events`."""

    def call(messages: list[dict]) -> str:
        try:
            reply = llm.complete(messages, episode=episode, step=step)
        except LlmError as exc:
            events.extend(exc.exchanges)
            raise
        events.extend(reply.exchanges)
        return reply.text

    return call
