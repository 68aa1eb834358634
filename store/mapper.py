"""The one mapper between event objects and stored rows.

A row holds `type`, `schema_version` and the payload as canonical JSON. Reading upcasts
old schema versions step by step to the class's current one before constructing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from math import isfinite
from operator import itemgetter
from typing import Any

import attrs

from store.events import (
    EVENT_TYPES,
    SPLITS,
    EpisodeEnded,
    EpisodeStarted,
    Event,
    EventValidationError,
    TransitionRecorded,
    json_value,
)
from store.secrets import may_hold_secret, redact


class UnknownEventType(EventValidationError):
    """A row names an event type (or schema version) this code cannot read."""


def _attrs_fields(value: Any) -> dict:
    # Value objects inside events (RLConfig, PoolRecord, PoolAction) are written as their
    # fields; the encoder calls this for anything that is not JSON data already.
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    raise TypeError(f"{type(value).__name__} is not JSON data")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False, default=_attrs_fields)
_DECODER = json.JSONDecoder()


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept as is, no NaN: the same data gives the same text."""
    return _ENCODER.encode(value)


# (type, from_version) -> function turning a payload of that version into the next one.
Upcaster = Callable[[dict], dict]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(fn: Upcaster) -> Upcaster:
        UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


@upcaster("TransitionRecorded", 1)
def _transition_v1_to_v2(payload: dict) -> dict:
    """v1 had a single `done` flag; v2 keeps terminated and truncated apart.

    A v1 `done` always meant the environment terminated (v1 had no step budget).
    """
    payload = dict(payload)
    payload["terminated"] = bool(payload.pop("done", False))
    payload.setdefault("truncated", False)
    payload.setdefault("available_actions", [])
    return payload


# The payload fields of each event type: everything but `event_id`, which has its own column.
_PAYLOAD_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in attrs.fields(cls) if f.name != "event_id") for cls in EVENT_TYPES.values()
}
_PAYLOAD_NAMES = {cls: frozenset(names) for cls, names in _PAYLOAD_FIELDS.items()}
# Types with free-form JSON fields, whose keys are not ours and may name a credential.
_FREE_KEYS = frozenset(
    cls for cls in EVENT_TYPES.values() if any(f.converter is json_value for f in attrs.fields(cls))
)


def to_row_fields(event: Event) -> tuple[str, int, str]:
    """(type, schema_version, canonical payload) for an event, secrets redacted.

    The payload is serialised straight from the attributes; only text that could hold a
    secret (rare) goes through the redacting walk and is serialised again.
    """
    cls = type(event)
    names = _PAYLOAD_FIELDS.get(cls)
    if names is None:
        raise UnknownEventType(f"{cls.__name__} is not a registered event type")
    text = canonical_json({name: getattr(event, name) for name in names})
    if may_hold_secret(text, any_keys=cls in _FREE_KEYS):
        text = canonical_json(redact(json.loads(text)))
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise EventValidationError(f"{cls.TYPE} holds text that is not valid Unicode ({exc.reason})") from None
    return cls.TYPE, cls.SCHEMA_VERSION, text


def upcast(event_type: str, schema_version: int, payload: dict) -> dict:
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    if schema_version > cls.SCHEMA_VERSION:
        raise UnknownEventType(
            f"{event_type} schema version {schema_version} is newer than this code "
            f"reads ({cls.SCHEMA_VERSION}); upgrade rememberer"
        )
    version = schema_version
    while version < cls.SCHEMA_VERSION:
        step = UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"no upcaster for {event_type} v{version}")
        payload = step(payload)
        version += 1
    return payload


def from_row_fields(event_type: str, schema_version: int, payload_json: str, event_id: str) -> Event:
    """Rebuild an event from its stored row fields, upcasting old versions.

    The payload is validated again (by the class, or for the hot types by an equivalent
    check, see below), so a damaged row is refused here.
    """
    hot = hot_row(event_type, schema_version, payload_json, event_id)
    if hot is not None:
        return hot_event(*hot)
    cls = EVENT_TYPES.get(event_type)
    payload = _payload(event_type, payload_json)
    if cls is None or schema_version != cls.SCHEMA_VERSION:
        payload = upcast(event_type, schema_version, payload)
    if "event_id" in payload:
        raise EventValidationError(f"{event_type} payload holds event_id, which has its own column")
    try:
        return cls(event_id=event_id, **payload)
    except TypeError as exc:  # a field the class does not have, or a missing one
        unknown = sorted(payload.keys() - _PAYLOAD_NAMES[cls])
        if unknown:
            raise EventValidationError(f"{event_type} has unknown field(s): {', '.join(unknown)}") from None
        raise EventValidationError(f"{event_type}: {exc}") from None


def _payload(event_type: str, payload_json: str) -> dict:
    try:
        # The decoder's scanner itself: stored payloads are canonical (no surrounding
        # whitespace), and raw_decode would only add a Python frame per row.
        payload, end = _scan(payload_json, 0)
    except StopIteration:
        raise EventValidationError(f"{event_type} payload is not valid JSON (no value)") from None
    except ValueError as exc:
        raise EventValidationError(f"{event_type} payload is not valid JSON ({exc})") from None
    except RecursionError:
        raise EventValidationError(f"{event_type} payload nests too deeply to be read") from None
    if end != len(payload_json):
        raise EventValidationError(f"{event_type} payload is not valid JSON (extra data at {end})")
    if not isinstance(payload, dict):
        raise EventValidationError(f"{event_type} payload is not a JSON object")
    return payload


# --------------------------------------------------------------------------- hot rows
# Replay decodes every transition of a run, and attrs' constructor (a keyword call, then
# one validator call and one converter call per field) is most of that cost. For the types
# replay reads most, one function checks exactly what their validators check and, if the
# row passes, the payload itself becomes the event's instance dict (`hot_event`). The key
# set is checked by counting the keys and reading every field (a missing one raises
# KeyError). Any other row takes the constructor, which names the problem.
# tests/test_mapper.py holds the two paths to the same result. The dict is plain data, so
# a reader in another process can check rows and hand it over (store/reader_process.py).

_scan = _DECODER.scan_once
_new = object.__new__
_set = object.__setattr__
_ONLY_STR = {str}


def hot_row(event_type: str, schema_version: int, payload_json: str,
            event_id: str) -> tuple[type[Event], dict] | None:
    """(class, instance dict) of a well-formed current row of a hot type; None for any
    other row, which `from_row_fields` reads through the constructor."""
    cls = EVENT_TYPES.get(event_type)
    check = _HOT.get(cls)
    if check is None or schema_version != cls.SCHEMA_VERSION or type(event_id) is not str or event_id == "":
        return None
    try:
        payload, end = _scan(payload_json, 0)
    except (StopIteration, ValueError, RecursionError):
        return None
    try:
        if end != len(payload_json) or type(payload) is not dict or not check(payload):
            return None
    except KeyError:  # a field missing (with another in its place)
        return None
    payload["event_id"] = event_id
    return cls, payload


def hot_event(cls: type[Event], fields: dict) -> Event:
    """The event whose instance dict `hot_row` gave (the dict becomes the event's own)."""
    event = _new(cls)
    _set(event, "__dict__", fields)
    return event


def _transition(p: dict) -> bool:
    """Checks a transition payload; turns its available actions into the field's tuple."""
    episode, step, observation, action, reward, next_observation, terminated, truncated, reason, actions = (
        _TRANSITION(p))
    if (len(p) == 10 and type(episode) is str and episode != "" and type(step) is int and step >= 0
            and type(observation) is str and type(action) is str
            and type(next_observation) is str and type(reason) is str
            and type(reward) is float and isfinite(reward)
            and type(terminated) is bool and type(truncated) is bool and not (terminated and truncated)
            and type(actions) is list and (not actions or set(map(type, actions)) == _ONLY_STR)):
        p["available_actions"] = tuple(actions)
        return True
    return False


def _episode_started(p: dict) -> bool:
    episode, task, task_id, split, epoch = _EPISODE_STARTED(p)
    return (len(p) == 5 and type(episode) is str and episode != "" and type(task) is str
            and type(task_id) is str and type(split) is str and split in SPLITS
            and type(epoch) is int and epoch >= 0)


def _episode_ended(p: dict) -> bool:
    episode, total, success, steps = _EPISODE_ENDED(p)
    return (len(p) == 4 and type(episode) is str and episode != "" and type(total) is float
            and isfinite(total) and type(success) is bool and type(steps) is int and steps >= 0)


_TRANSITION = itemgetter(*_PAYLOAD_FIELDS[TransitionRecorded])
_EPISODE_STARTED = itemgetter(*_PAYLOAD_FIELDS[EpisodeStarted])
_EPISODE_ENDED = itemgetter(*_PAYLOAD_FIELDS[EpisodeEnded])


# cls -> the check of a payload of that type: True when well formed (the constructor
# decides otherwise).
_HOT: dict[type[Event], Callable[[dict], bool]] = {
    TransitionRecorded: _transition,
    EpisodeStarted: _episode_started,
    EpisodeEnded: _episode_ended,
}
# The hot types in a fixed order: a type's index is its code between reader processes.
HOT_TYPES: tuple[type[Event], ...] = tuple(_HOT)
