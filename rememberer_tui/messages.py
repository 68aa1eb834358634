"""Messages the workers post back to the UI thread: results travel up, never widgets down.

Each carries what it answers (run, stream, position) so a handler can drop a stale
answer that arrives after the user moved on.
"""

from __future__ import annotations

from textual.message import Message

from rememberer_tui.data import EpisodeDetail, EpisodeRow, RunStats, RunSummary, StateValues
from store.verify import VerifyResult


class RunsLoaded(Message):
    def __init__(self, runs: list[RunSummary]) -> None:
        super().__init__()
        self.runs = runs


class RunStatsLoaded(Message):
    def __init__(self, run: str, stats: RunStats) -> None:
        super().__init__()
        self.run = run
        self.stats = stats


class EpisodesLoaded(Message):
    def __init__(self, run: str, episodes: list[EpisodeRow]) -> None:
        super().__init__()
        self.run = run
        self.episodes = episodes


class EpisodeLoaded(Message):
    def __init__(self, detail: EpisodeDetail) -> None:
        super().__init__()
        self.detail = detail


class MemoryLoaded(Message):
    """Q-values replayed as of each step's moment, {position: values}; `error` says why
    there are none."""

    def __init__(self, values: dict[int, StateValues], error: str = "") -> None:
        super().__init__()
        self.values = values
        self.error = error


class LogAdvanced(Message):
    """Another process appended events: the log now ends at `position`; `runs` changed."""

    def __init__(self, position: int, runs: frozenset[str]) -> None:
        super().__init__()
        self.position = position
        self.runs = runs


class IntegrityChecked(Message):
    """`verify` of the whole log answered (`error`: it could not run)."""

    def __init__(self, result: VerifyResult | None, error: str = "") -> None:
        super().__init__()
        self.result = result
        self.error = error


class LoadFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error
