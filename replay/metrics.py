"""Per-epoch average reward and success rate, train and test, as the paper reports them.

Computed from the log alone (EpisodeStarted gives split and epoch, EpisodeEnded the
return and success), so any run, live or replayed, gets the same table.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from store.events import EpisodeEnded, EpisodeStarted
from store.recorder import Recorded


@attrs.frozen
class EpochRow:
    epoch: int
    split: str
    episodes: int
    average_reward: float
    success_rate: float

    def to_dict(self) -> dict:
        return attrs.asdict(self)


def epoch_table(events: Iterable[Recorded]) -> list[EpochRow]:
    """One row per (epoch, split) with at least one ended episode, sorted."""
    started: dict[str, EpisodeStarted] = {}
    sums: dict[tuple[int, str], list] = {}
    for recorded in events:
        event = recorded.event
        if isinstance(event, EpisodeStarted):
            started[recorded.stream] = event
        elif isinstance(event, EpisodeEnded) and recorded.stream in started:
            begin = started[recorded.stream]
            acc = sums.setdefault((begin.epoch, begin.split), [0, 0.0, 0])
            acc[0] += 1
            acc[1] += event.total_reward
            acc[2] += int(event.success)
    return [
        EpochRow(epoch, split, n, total / n, wins / n)
        for (epoch, split), (n, total, wins) in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] != "train"))
    ]
