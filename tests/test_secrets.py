"""No secret is ever written to the log: keys and auth headers are redacted before a
payload is hashed and stored, while ordinary text passes untouched."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.events import EVENT_TYPES, LlmExchanged, PoolAction, PoolRecord, RLConfig, TransitionRecorded
from store.mapper import canonical_json, to_row_fields
from store.recorder import SQLiteRecorder
from store.secrets import REDACTED, is_secret_key, may_hold_secret, redact, redact_text
from tests.conftest import fixed_clock

SECRETS = {
    "openai": "sk-proj-Abc123def456GHI789jkl012MNO",
    "anthropic": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123",
    "bearer": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.payload.signature",
    "basic": "YWxhZGRpbjpvcGVuc2VzYW1l",
    "github": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6",
    "slack": "xoxb-1234567890-abcdefghij",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "huggingface": "hf_AbCdEfGhIjKlMnOpQrStUvWxYz",
    "named": "correct horse battery staple",  # secret only because of the field it is in
}
ORDINARY = [
    "snake_case_names, __dunder__ and my_api_key_variable stay as they are",
    "Basic authentication sends the password base64-encoded.",
    "Back to Basics: the Basic plan costs $10",
    "the Bearer authentication scheme, and the bearer of good news",
    "skip the sk-short one, ghp_ and hf_x are prefixes only",
    "set OPENAI_API_KEY in your shell, never in the prompt",
]


def files_bytes(db: Path) -> bytes:
    """The database and its WAL, as stored on disk."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def leaky_exchange() -> LlmExchanged:
    return LlmExchanged(
        "e", 0, "gpt-4o-mini",
        messages=[
            {"role": "system", "content": f"You may call the API with key {SECRETS['openai']} or "
                                          f"{SECRETS['anthropic']}."},
            {"role": "user", "content": f"headers: Authorization: Bearer {SECRETS['bearer']}\n"
                                        f"Proxy-Authorization: Basic {SECRETS['basic']}"},
            {"role": "user", "content": f"tokens {SECRETS['github']} {SECRETS['slack']} {SECRETS['aws']} "
                                        f"{SECRETS['huggingface']}"},
            {"role": "tool", "content": "config", "api_key": SECRETS["named"],
             "request": {"headers": {"Authorization": "Token abc", "X-Api-Key": SECRETS["named"]}}},
            *({"role": "user", "content": text} for text in ORDINARY),
        ],
        response="Done.",
        usage={"prompt_tokens": 12, "password": SECRETS["named"], "empty_secret": ""},
    )


@pytest.mark.parametrize("synchronous", ["NORMAL", "FULL"])
def test_secrets_never_reach_the_database_file(db_path: Path, synchronous: str) -> None:
    recorder = SQLiteRecorder(db_path, synchronous=synchronous, clock=fixed_clock)
    recorder.append([leaky_exchange()], "r/e", 0)
    on_disk = files_bytes(db_path)  # the WAL holds the row until the checkpoint
    recorder.close()
    on_disk += files_bytes(db_path)
    assert b"Token abc" not in on_disk
    for name, secret in SECRETS.items():
        assert secret.encode() not in on_disk, name
    for text in ORDINARY:
        assert text.encode() in on_disk
    with SQLiteRecorder(db_path) as reader:
        (stored,) = reader.read()
    messages = stored.event.messages
    assert messages[1]["content"] == f"headers: Authorization: {REDACTED}\nProxy-Authorization: {REDACTED}"
    assert messages[3]["api_key"] == REDACTED and messages[3]["request"]["headers"] == {
        "Authorization": REDACTED, "X-Api-Key": REDACTED}
    assert [m["content"] for m in messages[4:]] == ORDINARY
    assert stored.event.usage == {"prompt_tokens": 12, "password": REDACTED, "empty_secret": ""}


def test_every_event_type_redacts_values_not_only_llm_exchanges() -> None:
    event = TransitionRecorded("e", 0, f"page shows {SECRETS['openai']}", "copy key", 0.0, "o2",
                               available_actions=[f"Bearer {SECRETS['bearer']}"])
    payload = json.loads(to_row_fields(event)[2])
    assert payload["observation"] == f"page shows {REDACTED}"
    assert payload["available_actions"] == [REDACTED]


def test_no_field_of_ours_is_named_like_a_secret() -> None:
    # The mapper only looks at keys inside free-form JSON fields; its own field names
    # must never be credentials, or their values would slip through.
    classes = [*EVENT_TYPES.values(), RLConfig, PoolRecord, PoolAction]
    names = {f.name for cls in classes for f in attrs.fields(cls)}
    assert not [name for name in names if is_secret_key(name)]


def test_secret_names_are_matched_whole_and_in_any_case() -> None:
    assert all(is_secret_key(k) for k in ("api_key", "API-KEY", "Authorization", "x-api-key", "client_secret"))
    assert not any(is_secret_key(k) for k in ("api_key_hint", "monkey", "authorization_url", "tokens"))


def test_ordinary_text_is_returned_as_is() -> None:
    for text in ORDINARY:
        assert redact_text(text) is text


secret_values = st.sampled_from([v for k, v in SECRETS.items() if k != "named"])
prose = st.text(st.characters(codec="utf-8"), max_size=30)
texts = st.one_of(prose, st.builds(lambda a, s, b: f"{a}{s}{b}", prose, secret_values, prose),
                  st.builds(lambda s: f"Authorization: Bearer {s}", secret_values))
keys = st.one_of(st.sampled_from(["content", "api_key", "Password", "headers", "x_api_key"]), prose)
data = st.recursive(st.none() | st.integers() | texts,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                    max_leaves=8)


@given(data)
@settings(max_examples=200, deadline=None)
def test_the_quick_check_never_misses_what_redact_would_change(value) -> None:
    # The mapper skips the redacting walk when this check says no: it must never be wrong.
    if redact(value) != value:
        assert may_hold_secret(canonical_json(value))
