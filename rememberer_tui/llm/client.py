"""The client for OpenAI-compatible chat-completion servers (OpenAI, vLLM, Ollama, llama.cpp).

The openai package runs with `max_retries=0`; the retry loop is ours so that every
attempt becomes its own `LlmExchanged` event. 429, 5xx, timeouts, lost connections and
unusable answers (malformed body, no choices) are retried with exponential backoff (or
the server's Retry-After); 401/403 and 404 stop at once with a one-line message.
The API key is read from the environment and never appears in events or messages.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence

import attrs
import openai

from rememberer_tui.llm.exchange import FINAL_ERRORS, LlmReply, LlmUnavailable
from store.events import LlmExchanged, json_value
from store.secrets import REDACTED, redact_text

USAGE_FIELDS = ("prompt_tokens", "completion_tokens", "total_tokens")


def _positive(instance, attribute, value) -> None:
    if not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


def _attempts(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"max_attempts must be an integer >= 1, got {value!r}")


def _temperature(instance, attribute, value) -> None:
    if not 0.0 <= value <= 2.0:
        raise ValueError(f"temperature must be in [0, 2], got {value!r}")


@attrs.frozen
class LlmConfig:
    """Where to ask and how. Holds the name of the key's variable, never the key."""

    model: str
    base_url: str | None = None  # None: OPENAI_BASE_URL or OpenAI's own
    temperature: float = attrs.field(default=0.0, validator=_temperature)
    max_tokens: int | None = 256
    timeout: float = attrs.field(default=60.0, validator=_positive)  # seconds per attempt
    max_attempts: int = attrs.field(default=4, validator=_attempts)
    backoff: float = attrs.field(default=1.0, validator=_positive)  # first wait, doubled each time
    backoff_max: float = attrs.field(default=30.0, validator=_positive)
    api_key_env: str = "OPENAI_API_KEY"

    def to_dict(self) -> dict:
        """For `RunStarted.models`."""
        return attrs.asdict(self)


@attrs.frozen
class _Failure:
    kind: str
    message: str
    retry_after: float | None = None

    @property
    def error(self) -> str:
        return f"{self.kind}: {self.message}"


class LlmClient:
    """Chat completions with retries; every attempt is returned as an `LlmExchanged` event.

    `sleep` and `clock` are injectable so tests neither wait nor depend on real time.
    """

    def __init__(
        self,
        config: LlmConfig,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.config = config
        self._sleep = sleep
        self._clock = clock
        key = (os.environ if env is None else env).get(config.api_key_env, "")
        self._key = key
        # Local servers (vLLM, Ollama) need no key, but the client insists on one.
        self._client = openai.OpenAI(
            api_key=key or "EMPTY", base_url=config.base_url,
            timeout=config.timeout, max_retries=0,
        )
        self.base_url = str(self._client.base_url).rstrip("/")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LlmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def complete(self, messages: Sequence[dict], *, episode: str = "", step: int = 0) -> LlmReply:
        """Ask until an answer comes or the attempts run out.

        Raises `LlmAuthError`, `LlmNotFound`, `LlmRequestError` (no retry) or
        `LlmUnavailable` (retries exhausted); each carries the attempts' events.
        """
        messages = json_value(list(messages), "messages")
        config = self.config
        extra = {} if config.max_tokens is None else {"max_tokens": config.max_tokens}
        exchanges: list[LlmExchanged] = []
        for attempt in range(1, config.max_attempts + 1):
            text, usage, failure = "", {}, None
            start = self._clock()
            try:
                completion = self._client.chat.completions.create(
                    model=config.model, messages=messages, temperature=config.temperature, **extra)
                text, usage, failure = _answer(completion)
            except openai.APIError as exc:
                failure = self._failure(exc)
            except ValueError:  # a body that is not JSON
                failure = _Failure("bad_response", "the answer is not valid JSON")
            latency_ms = round((self._clock() - start) * 1000.0, 3)
            exchanges.append(LlmExchanged(
                episode=episode, step=step, model=config.model, messages=messages,
                response=text, usage=usage, latency_ms=latency_ms,
                error=failure.error if failure else "", attempt=attempt,
            ))
            if failure is None:
                return LlmReply(text=text, usage=usage, exchanges=tuple(exchanges))
            final = FINAL_ERRORS.get(failure.kind)
            if final is not None:
                raise final(failure.message, exchanges)
            if attempt < config.max_attempts:
                self._sleep(self.backoff_delay(attempt, failure.retry_after))
        raise LlmUnavailable(
            f"no usable answer from {self.base_url} after {config.max_attempts} attempt(s); "
            f"last: {failure.error}", exchanges)

    def backoff_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt `attempt`: the server's Retry-After if it
        gave one, else backoff * 2^(attempt-1); never more than backoff_max."""
        config = self.config
        delay = retry_after if retry_after is not None else config.backoff * 2 ** (attempt - 1)
        return min(delay, config.backoff_max)

    # ------------------------------------------------------------------ errors

    def _failure(self, exc: openai.APIError) -> _Failure:
        config = self.config
        if isinstance(exc, openai.APITimeoutError):
            return _Failure("timeout", f"no answer from {self.base_url} within {config.timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return _Failure("connection", f"cannot reach {self.base_url}")
        if isinstance(exc, openai.APIResponseValidationError):
            return _Failure("bad_response", "the answer does not have the chat-completion shape")
        if not isinstance(exc, openai.APIStatusError):
            return _Failure("bad_response", self._scrub(str(exc)))
        status, said = exc.status_code, self._server_message(exc)
        if status == 429:
            return _Failure("rate_limited", f"HTTP 429 from {self.base_url}{said}", _retry_after(exc))
        if status >= 500:
            return _Failure("server_error", f"HTTP {status} from {self.base_url}{said}")
        if status in (401, 403):
            if not self._key:
                hint = f"{config.api_key_env} is not set"
            elif status == 401:
                hint = f"check the key in {config.api_key_env}"
            else:
                hint = f"the key in {config.api_key_env} may not access model {config.model!r}"
            return _Failure("auth", f"{self.base_url} refused the request (HTTP {status}{said}): {hint}")
        if status == 404:
            return _Failure("not_found", f"model {config.model!r} or base URL {self.base_url} "
                                         f"not found (HTTP 404{said})")
        return _Failure("bad_request", f"{self.base_url} rejected the request (HTTP {status}{said})")

    def _server_message(self, exc: openai.APIStatusError) -> str:
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        return f": {self._scrub(message)}" if isinstance(message, str) and message.strip() else ""

    def _scrub(self, text: str) -> str:
        """One short line, with the key (and anything that looks like a key) removed."""
        if self._key:
            text = text.replace(self._key, REDACTED)
        text = re.sub(r"\s+", " ", redact_text(text)).strip()
        return text if len(text) <= 200 else text[:199] + "…"


def _answer(completion: object) -> tuple[str, dict, _Failure | None]:
    """Text and usage of a completion. The client does not validate shapes (so that lax
    servers work), hence the care: a wrong shape is a bad answer, not a crash."""
    choices = getattr(completion, "choices", None)
    if isinstance(choices, list) and not choices:
        return "", {}, _Failure("bad_response", "the answer has no choices")
    message = getattr(choices[0], "message", None) if isinstance(choices, list) else None
    content = getattr(message, "content", None)
    if message is None or not isinstance(content, (str, type(None))):
        return "", {}, _Failure("bad_response", "the answer does not have the chat-completion shape")
    return content or "", _usage(getattr(completion, "usage", None)), None


def _usage(usage: object) -> dict:
    return {name: getattr(usage, name) for name in USAGE_FIELDS
            if isinstance(getattr(usage, name, None), int)}


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:
            continue  # absent, or an HTTP date: fall back to our own backoff
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None
