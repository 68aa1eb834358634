"""Shared fixtures: real files in tmp_path, a pinned clock, the repository's paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SHARED = ROOT.parent / "shared"
REFERENCE_POOLS = SHARED / "reference-pools"

# No model downloads, ever: the embedding model ships in a package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXED_TIME = "2026-01-01T00:00:00.000000+00:00"


def fixed_clock() -> str:
    return FIXED_TIME


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "memory.db"


@pytest.fixture
def anyio_backend() -> str:
    """The async tests (Textual's Pilot) run on asyncio."""
    return "asyncio"
