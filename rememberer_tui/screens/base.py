"""What every screen shares: the app's settings and a recorder per worker call."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import attrs
from textual.screen import Screen

from store.recorder import SQLiteRecorder


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@attrs.frozen
class Settings:
    """Handed down from `make_app` to every screen ("attributes down").

    `play_interval` is the pause between steps when an episode plays; `poll_interval` how
    often live follow looks for new events (None: do not follow).
    """

    db_path: Path
    clock: Callable[[], datetime] = _utc_now
    play_interval: float = 1.0
    poll_interval: float | None = 0.5

    def open(self) -> SQLiteRecorder:
        """A recorder for the calling thread only: sqlite3 connections never cross threads."""
        return SQLiteRecorder(self.db_path, create=False)


class DataScreen(Screen):
    """A screen that loads its data in workers; the app calls `reload` when the log grows
    in a way `follows` says matters to it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.loaded = False

    def reload(self) -> None:
        """Start the worker that (re)loads what the screen shows."""
        raise NotImplementedError

    def follows(self, runs: frozenset[str]) -> bool:
        """Whether new events of these runs change what the screen shows."""
        return True
