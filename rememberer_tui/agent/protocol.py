"""The paper's protocol: epochs over the training tasks with memory learning, each followed
by the test tasks with memory frozen; resumable from the log after an interruption."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from rememberer_tui.agent.session import EpisodeResult, Session
from rememberer_tui.agent.tasks import Task
from store.events import EpisodeEnded, EpisodeStarted
from store.recorder import SQLiteRecorder


def episode_id(epoch: int, task: Task) -> str:
    """`e0-train-17`; the split is added when the task id does not already say it."""
    task_id = task.task_id if task.task_id.startswith(task.split) else f"{task.split}-{task.task_id}"
    return f"e{epoch}-{task_id}"


@attrs.frozen
class Plan:
    train: Sequence[Task]
    test: Sequence[Task]
    epochs: int

    def episodes(self) -> list[tuple[int, Task]]:
        """(epoch, task) in the order they run: each epoch's training, then the test set."""
        order = []
        for epoch in range(self.epochs):
            order += [(epoch, t) for t in self.train]
            order += [(epoch, t) for t in self.test]
        return order


def episode_states(recorder: SQLiteRecorder, run: str) -> tuple[set[str], set[str]]:
    """(ended, started) episode ids of a run, from its log."""
    ended, started = set(), set()
    for recorded in recorder.read(run=run):
        if isinstance(recorded.event, EpisodeEnded):
            ended.add(recorded.event.episode)
        elif isinstance(recorded.event, EpisodeStarted):
            started.add(recorded.event.episode)
    return ended, started


def run_plan(session: Session, plan: Plan, *, resume: bool = False,
             on_episode: Callable[[EpisodeResult], None] = lambda result: None) -> list[EpisodeResult]:
    """Run every planned episode not yet ended in the log; stop early when asked."""
    ended, started = episode_states(session.recorder, session.run) if resume else (set(), set())
    results = []
    for epoch, task in plan.episodes():
        base = episode_id(epoch, task)
        if base in ended or any(e.startswith(f"{base}.retry") for e in ended):
            continue
        episode = base
        retry = 0
        while episode in started:  # killed mid-episode: its stream is taken, run it afresh
            retry += 1
            episode = f"{base}.retry{retry}"
        result = session.episode(episode, task.reset_options(session.env), split=task.split, epoch=epoch)
        results.append(result)
        on_episode(result)
        if result.interrupted or session.stop():
            break
    return results
