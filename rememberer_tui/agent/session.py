"""The agent loop of SPEC section 5: retrieve, prompt, act, record, learn.

The environment, the policy and the memory are separate objects (Gymnasium's agent/loop
split); this module only drives them and appends what happened. Every step is appended
before the memory learns from it, and the memory learns through the same fold that
replay uses, fed the `Recorded` event the store returned, so live and replayed memories
cannot differ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import attrs

from rememberer_tui.envs.base import TextEnv
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    Event,
    ExperienceRetrieved,
    LlmExchanged,
    TransitionRecorded,
)
from store.recorder import Recorded, SQLiteRecorder


@attrs.frozen
class Suggestion:
    """An action the memory encourages (value > 0) or discourages (value 0)."""

    action: str
    value: float
    reason: str = ""
    encouraged: bool = True
    similarity: float = 1.0  # how close the record it comes from is to the query


@attrs.frozen
class Recall:
    """What the memory gives one step: the event to record and the prompt material."""

    records: list  # JSON-ready: what ExperienceRetrieved stores
    exemplars: str  # the whole prompt shown to the LLM, exemplars included
    suggestions: tuple[Suggestion, ...] = ()


@attrs.frozen
class StepContext:
    task: str
    observation: str
    available_actions: tuple[str, ...]
    recall: Recall
    step: int
    episode: str
    history: tuple[str, ...]  # actions taken so far in this episode
    seed: int
    tried: frozenset[str] = frozenset()  # actions already taken from this very observation


class PolicyError(Exception):
    """The policy could not decide (an LLM that stays unreachable, a wrong key). The
    attempts made so far travel with it so the log keeps them."""

    def __init__(self, message: str, exchanges: Sequence[Event] = ()):
        super().__init__(message)
        self.exchanges = tuple(exchanges)


@attrs.frozen
class Decision:
    action: str
    reason: str = ""
    exchanges: tuple[LlmExchanged, ...] = ()


class Policy(Protocol):
    name: str
    model: str

    def act(self, context: StepContext) -> Decision: ...


class Memory(Protocol):
    def recall(self, task: str, observation: str, available_actions: Sequence[str], moment: int, *,
               history: Sequence[tuple[str, str]] = (), last_reward: float = 0.0,
               total_reward: float = 0.0) -> Recall: ...

    def learn(self, recorded: Recorded) -> None: ...


@attrs.frozen
class EpisodeResult:
    episode: str
    total_reward: float
    success: bool
    steps: int
    interrupted: bool = False


@attrs.define
class Session:
    """Runs episodes of one run and records them in `recorder` under stream `run/episode`."""

    recorder: SQLiteRecorder
    run: str
    env: TextEnv
    policy: Policy
    memory: Memory | None  # None: nothing to recall or learn (the policy sees the bare observation)
    seed: int = 0
    max_steps: int = 15
    stop: Callable[[], bool] = lambda: False
    on_step: Callable[[str, int], None] = lambda episode, step: None

    def _record(self, stream: str, events: Sequence[Event], expected: int) -> list[Recorded]:
        """Append, then let the memory fold exactly what was stored, as replay will. The
        fold itself leaves test-split episodes out, so the memory stays frozen there."""
        recorded = self.recorder.append(list(events), stream, expected)
        if self.memory is not None:
            for item in recorded:
                self.memory.learn(item)
        return recorded

    def episode(self, episode: str, task_options: dict[str, Any], *, split: str, epoch: int) -> EpisodeResult:
        """One episode; the memory learns from train episodes only (the fold's rule)."""
        stream = f"{self.run}/{episode}"
        episode_seed = _mix(self.seed, episode)
        options = dict(task_options)
        reset_seed = options.pop("seed", episode_seed)
        observation, info = self.env.reset(seed=reset_seed, options=options or None)
        task = info["task"]
        version = len(self._record(stream, [EpisodeStarted(
            episode, task, task_id=str(info.get("task_id", "")), split=split, epoch=epoch)], 0))
        total, last_reward, history, success = 0.0, 0.0, [], False
        tried: dict[str, set[str]] = {}
        for step in range(self.max_steps):
            available = tuple(info.get("available_actions", ()))
            if self.memory is not None:
                # Exemplar randomness is keyed by (episode, step), not the global log position, so
                # the same run re-executed under another name (--llm replay) asks the same prompts.
                recall = self.memory.recall(task, observation, available, _mix(episode, str(step)),
                                            history=history, last_reward=last_reward, total_reward=total)
            else:
                recall = Recall(records=[], exemplars=observation)
            context = StepContext(task, observation, available, recall, step, episode,
                                  tuple(a for a, _ in history), _mix(episode_seed, str(step)),
                                  frozenset(tried.get(observation, ())))
            try:
                decision = self.policy.act(context)
            except PolicyError as exc:
                # Keep the failed attempts and close the episode, then let the caller stop.
                version += len(self._record(stream, list(exc.exchanges), version))
                self._record(stream, [EpisodeEnded(episode, total, False, steps=len(history))], version)
                raise
            tried.setdefault(observation, set()).add(decision.action)
            next_observation, reward, terminated, truncated, next_info = self.env.step(decision.action)
            # Out of steps, or asked to stop (Ctrl-C): the episode ends here as truncated, so
            # the fold bootstraps its last occurrences from V(o_T) like any step budget.
            interrupted = not (terminated or truncated) and self.stop()
            out_of_steps = step == self.max_steps - 1 or interrupted
            events: list[Event] = []
            if self.memory is not None:
                events.append(ExperienceRetrieved(episode, step, task, observation, records=recall.records,
                                                  exemplars=recall.exemplars))
            events.extend(decision.exchanges)
            events.append(TransitionRecorded(
                episode, step, observation, decision.action, float(reward), next_observation,
                terminated=bool(terminated), truncated=bool(truncated or out_of_steps) and not terminated,
                reason=decision.reason, available_actions=available))
            version += len(self._record(stream, events, version))
            total += float(reward)
            last_reward = float(reward)
            history.append((decision.action, decision.reason))
            self.on_step(episode, step)
            observation, info = next_observation, next_info
            if terminated or truncated or out_of_steps:
                success = bool(terminated and next_info.get("success", reward >= 1.0))
                break
        self._record(stream, [EpisodeEnded(episode, total, success, steps=len(history))], version)
        return EpisodeResult(episode, total, success, len(history), interrupted=interrupted)



def _mix(seed: int | str, label: str) -> int:
    """A stable 63-bit seed from a seed and a label (no salted hash())."""
    digest = hashlib.sha256(f"{seed}\x00{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
