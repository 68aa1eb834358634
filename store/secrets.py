"""Keep secrets out of the log: redact anything that looks like a key or auth header.

The log is immutable and meant to be shared, so a key written once could never be
removed. The mapper runs every payload through `redact` before it is hashed and stored.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Field names whose value is a credential whatever it looks like. Matched as ASCII, so the
# check on JSON text below finds exactly the keys `redact` replaces.
_SECRET_KEY_NAMES = (
    r"api[-_]?key|x[-_]api[-_]key|openai[-_]api[-_]key|authorization|proxy[-_]authorization"
    r"|auth[-_]?token|access[-_]token|refresh[-_]token|bearer|password|passwd|secret|client[-_]secret"
)
_SECRET_KEYS = re.compile(rf"(?:{_SECRET_KEY_NAMES})", re.IGNORECASE | re.ASCII)
# The same names as a JSON object key: `"name":` (such names never need escaping).
_SECRET_KEY_IN_JSON = re.compile(rf'"(?:{_SECRET_KEY_NAMES})":', re.IGNORECASE | re.ASCII)

# Values that look like credentials wherever they appear in a string.
_SECRET_VALUES = re.compile(
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"  # OpenAI / Anthropic style keys
    # HTTP bearer tokens and basic auth. A token has a digit, a symbol or a capital after
    # its first character; a plain word does not ("Basic authentication." is prose).
    r"|\bBearer\s+(?=[A-Za-z0-9._~+/\-][a-z.]*[A-Z0-9_~+/\-=])[A-Za-z0-9._~+/\-]{8,}=*"
    r"|\bBasic\s+(?=[A-Za-z0-9+/][a-z]*[A-Z0-9+/=])[A-Za-z0-9+/]{12,}=*"
    r"|\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bhf_[A-Za-z0-9]{20,}"  # Hugging Face tokens
)
# Every alternative above starts with one of these literals, and none of their characters
# is escaped in JSON. A substring test is ~10x cheaper than the regex, which most strings
# (observations, prompts) would otherwise pay in full.
_VALUE_PREFIXES = ("sk-", "Bearer", "Basic", "ghp_", "gho_", "ghs_", "github_pat_", "xox", "AKIA", "hf_")


def _may_hold_value(text: str) -> bool:
    for prefix in _VALUE_PREFIXES:
        if prefix in text:
            return True
    return False


def redact_text(text: str) -> str:
    return _SECRET_VALUES.sub(REDACTED, text) if _may_hold_value(text) else text


def is_secret_key(name: str) -> bool:
    """Is a field of this name a credential, whatever its value looks like?"""
    return _SECRET_KEYS.fullmatch(name) is not None


def redact(value: Any) -> Any:
    """A copy of JSON data with secret-named fields and secret-looking strings replaced."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {
            key: (REDACTED if is_secret_key(key) and item not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def may_hold_secret(json_text: str, *, any_keys: bool = True) -> bool:
    """False only if `redact` would leave the data behind this JSON text unchanged.

    Lets the mapper skip the walk for the vast majority of payloads: a few substring
    tests over the serialised text instead of a regex per string. `any_keys=False` says
    the data's keys are all fixed field names (none of them secret), so they need no look.
    """
    if _may_hold_value(json_text):
        return True
    return any_keys and _SECRET_KEY_IN_JSON.search(json_text) is not None
