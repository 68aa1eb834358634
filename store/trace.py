"""The JSON Lines trace format of SPEC section 6: parsed and checked whole before ingest.

A trace is validated completely before anything is written, so a bad line anywhere
leaves the database untouched. Every error names the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import attrs

from store.events import EpisodeEnded, EpisodeStarted, EventValidationError, TransitionRecorded

DEFAULT_MAX_FIELD_BYTES = 1 << 20  # 1 MiB per text field: a screen, not a data dump
REQUIRED = ("episode", "task", "observation", "action", "reward", "next_observation", "done")
OPTIONAL = ("reason", "truncated", "available_actions", "success", "task_id", "split", "epoch")
_EVENT_NAMESPACE = uuid.UUID("6f1c3d2e-5b7a-4c1e-9a53-0d8e2f4b7a61")


class TraceError(ValueError):
    """A trace that cannot be ingested; the message is one line naming file and line."""


@attrs.frozen
class TraceEpisode:
    episode: str
    first_line: int
    started: EpisodeStarted
    transitions: tuple[TransitionRecorded, ...]
    ended: EpisodeEnded

    @property
    def events(self) -> list:
        return [self.started, *self.transitions, self.ended]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise TraceError(f"{path}:{number}: not valid UTF-8 (byte {raw[exc.start]:#04x} "
                                 f"at column {exc.start + 1})") from None


def _check_line(path: Path, number: int, text: str, max_field_bytes: int) -> dict:
    where = f"{path}:{number}"
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise TraceError(f"{where}: invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TraceError(f"{where}: expected a JSON object, got {type(data).__name__}")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise TraceError(f"{where}: missing field(s): {', '.join(missing)}")
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise TraceError(f"{where}: unknown field(s): {', '.join(unknown)}")
    for name in ("episode", "task", "observation", "action", "next_observation", "reason"):
        value = data.get(name, "")
        if not isinstance(value, str):
            raise TraceError(f"{where}: {name} must be a string, got {type(value).__name__}")
        size = len(value.encode("utf-8"))
        if size > max_field_bytes:
            raise TraceError(f"{where}: {name} is {size:,} bytes, over the limit of "
                             f"{max_field_bytes:,} (--max-field-bytes)")
    if not data["episode"]:
        raise TraceError(f"{where}: episode must not be empty")
    reward = data["reward"]
    if isinstance(reward, bool) or not isinstance(reward, (int, float)) or not math.isfinite(reward):
        raise TraceError(f"{where}: reward must be a finite number, got {reward!r}")
    for name in ("done", "truncated", "success"):
        if name in data and not isinstance(data[name], bool):
            raise TraceError(f"{where}: {name} must be true or false, got {data[name]!r}")
    if data.get("truncated") and not data["done"]:
        raise TraceError(f"{where}: truncated is true but done is false")
    actions = data.get("available_actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise TraceError(f"{where}: available_actions must be a list of strings")
    return data


def _event_id(run: str, episode: str, index: int, digest: str) -> str:
    """Deterministic ids: ingesting the same file twice appends nothing the second time."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{run}\x00{episode}\x00{index}\x00{digest}"))


def parse_trace(path: str | Path, run: str, *,
                max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES) -> list[TraceEpisode]:
    """Read and check a whole trace; return its episodes as events ready to append.

    Success of an episode is the last line's `success` if given, otherwise whether it
    terminated with a final reward of at least 1 (WebShop's and Gymnasium's convention).
    """
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path}: is a directory, not a trace file")
    if not path.exists():
        raise TraceError(f"{path}: no such file")
    episodes: list[TraceEpisode] = []
    finished: set[str] = set()
    current: list[tuple[int, dict]] = []

    def close() -> None:
        number, last = current[-1]
        if not last["done"]:
            raise TraceError(f"{path}:{number}: episode {last['episode']!r} ends here without "
                             "done=true")
        episodes.append(_episode(path, run, current))
        finished.add(last["episode"])
        current.clear()

    for number, text in _lines(path):
        if not text.strip():
            continue
        data = _check_line(path, number, text, max_field_bytes)
        if current and data["episode"] != current[-1][1]["episode"]:
            close()
        if current:
            prev_number, prev = current[-1]
            if prev["done"]:
                raise TraceError(f"{path}:{prev_number}: done is true but episode "
                                 f"{prev['episode']!r} continues on line {number}")
            if data["observation"] != prev["next_observation"]:
                raise TraceError(f"{path}:{number}: observation differs from line {prev_number}'s "
                                 "next_observation")
            if data["task"] != prev["task"]:
                raise TraceError(f"{path}:{number}: task changes within episode {data['episode']!r}")
        elif data["episode"] in finished:
            raise TraceError(f"{path}:{number}: episode {data['episode']!r} appears again after it "
                             "ended (an episode's lines must be contiguous)")
        current.append((number, data))
    if current:
        close()
    if not episodes:
        raise TraceError(f"{path}: empty trace (no transitions)")
    return episodes


def _episode(path: Path, run: str, lines: list[tuple[int, dict]]) -> TraceEpisode:
    first_number, first = lines[0]
    episode = first["episode"]
    digest = hashlib.sha256(
        json.dumps([data for _, data in lines], sort_keys=True).encode()
    ).hexdigest()
    try:
        started = EpisodeStarted(
            episode, first["task"], task_id=first.get("task_id", ""),
            split=first.get("split", "train"), epoch=first.get("epoch", 0),
            event_id=_event_id(run, episode, 0, digest),
        )
        transitions = []
        for step, (number, data) in enumerate(lines):
            last = step == len(lines) - 1
            truncated = last and bool(data.get("truncated", False))
            transitions.append(TransitionRecorded(
                episode, step, data["observation"], data["action"], data["reward"],
                data["next_observation"], terminated=last and not truncated, truncated=truncated,
                reason=data.get("reason", ""), available_actions=data.get("available_actions", []),
                event_id=_event_id(run, episode, step + 1, digest),
            ))
    except EventValidationError as exc:
        raise TraceError(f"{path}:{first_number}: {exc}") from None
    total = 0.0
    for transition in transitions:
        total += transition.reward
    last_number, last_data = lines[-1]
    success = last_data.get("success",
                            transitions[-1].terminated and transitions[-1].reward >= 1.0)
    ended = EpisodeEnded(episode, total, success, steps=len(transitions),
                         event_id=_event_id(run, episode, len(lines) + 1, digest))
    return TraceEpisode(episode, first_number, started, tuple(transitions), ended)
