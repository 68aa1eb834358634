"""Keep secrets out of the log: redact anything that looks like a key or auth header.

The log is immutable and meant to be shared, so a key written once could never be
removed. The mapper runs every payload through `redact` before it is hashed and stored.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Field names whose value is a credential whatever it looks like.
_SECRET_KEYS = re.compile(
    r"^(api[-_]?key|x[-_]api[-_]key|openai[-_]api[-_]key|authorization|proxy[-_]authorization"
    r"|auth[-_]?token|access[-_]token|refresh[-_]token|bearer|password|passwd|secret|client[-_]secret)$",
    re.IGNORECASE,
)

# Values that look like credentials wherever they appear in a string.
_SECRET_VALUES = re.compile(
    r"sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"  # OpenAI / Anthropic style keys
    r"|\bBearer\s+[A-Za-z0-9._~+/\-]{8,}=*"  # HTTP bearer tokens
    r"|\bBasic\s+[A-Za-z0-9+/]{12,}=*"  # HTTP basic auth
    r"|\b(?:ghp|gho|ghs|github_pat)_[A-Za-z0-9_]{20,}"  # GitHub tokens
    r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|\bAKIA[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bhf_[A-Za-z0-9]{20,}"  # Hugging Face tokens
)


def redact_text(text: str) -> str:
    return _SECRET_VALUES.sub(REDACTED, text)


def redact(value: Any) -> Any:
    """A copy of JSON data with secret-named fields and secret-looking strings replaced."""
    if isinstance(value, str):
        return redact_text(value) if _looks_possible(value) else value
    if isinstance(value, dict):
        return {
            key: (REDACTED if _SECRET_KEYS.match(key) and value[key] not in (None, "") else redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _looks_possible(text: str) -> bool:
    # Cheap pre-check so the regex only runs on strings that could hold a credential.
    return (
        "sk-" in text
        or "Bearer" in text
        or "Basic" in text
        or "_" in text
        or "xox" in text
        or "AKIA" in text
    )


def contains_secret(value: Any) -> bool:
    return redact(value) != value
