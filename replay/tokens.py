"""Counting prompt tokens with tiktoken, and what to do when its encoding is not there.

tiktoken downloads an encoding's file on first use and caches it (TIKTOKEN_CACHE_DIR). With
no network and no cached file it fails (here: a requests ConnectionError within a second);
the counter then says so once and falls back to about 4 characters per token, the usual
rule of thumb for English text with these encodings.
"""

from __future__ import annotations

import math

DEFAULT_ENCODING = "cl100k_base"
CHARS_PER_TOKEN = 4

_ENCODINGS: dict[str, object] = {}  # name -> tiktoken Encoding, or the error text


class TokenCounter:
    """`count(text)`: tokens by tiktoken's `encoding`, else the character estimate;
    `warning` tells why the estimate is in use (empty when tiktoken works)."""

    def __init__(self, encoding: str = DEFAULT_ENCODING):
        self._encoding = _load(encoding)
        self.exact = not isinstance(self._encoding, str)
        self.warning = "" if self.exact else (
            f"tiktoken could not load the {encoding} encoding ({self._encoding}); "
            f"counting about {CHARS_PER_TOKEN} characters per token instead")

    def count(self, text: str) -> int:
        if self.exact:
            return len(self._encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / CHARS_PER_TOKEN)


def _load(name: str) -> object:
    if name not in _ENCODINGS:
        import tiktoken

        try:
            _ENCODINGS[name] = tiktoken.get_encoding(name)
        except Exception as exc:  # noqa: BLE001 - network, cache and unknown-name failures alike
            _ENCODINGS[name] = f"{type(exc).__name__}: {' '.join(str(exc).split())[:80]}"
    return _ENCODINGS[name]
