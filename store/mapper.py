"""The one mapper between event objects and stored rows.

A row holds `type`, `schema_version` and the payload as canonical JSON. Reading upcasts
old schema versions step by step to the class's current one before constructing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from math import isfinite
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

    The payload is validated again (by the class, or for the hot types by `_rebuild`'s
    equivalent check), so a damaged row is refused here.
    """
    cls = EVENT_TYPES.get(event_type)
    try:
        # Stored payloads are canonical (no whitespace), so the decoder's own entry point
        # will do; json.loads would look for surrounding whitespace twice per row.
        payload, end = _DECODER.raw_decode(payload_json)
    except ValueError as exc:
        raise EventValidationError(f"{event_type} payload is not valid JSON ({exc})") from None
    if end != len(payload_json):
        raise EventValidationError(f"{event_type} payload is not valid JSON (extra data at {end})")
    if not isinstance(payload, dict):
        raise EventValidationError(f"{event_type} payload is not a JSON object")
    if cls is None or schema_version != cls.SCHEMA_VERSION:
        payload = upcast(event_type, schema_version, payload)
    else:
        event = _rebuild(cls, payload, event_id)
        if event is not None:
            return event
    if "event_id" in payload:
        raise EventValidationError(f"{event_type} payload holds event_id, which has its own column")
    try:
        return cls(event_id=event_id, **payload)
    except TypeError as exc:  # a field the class does not have, or a missing one
        unknown = sorted(payload.keys() - _PAYLOAD_NAMES[cls])
        if unknown:
            raise EventValidationError(f"{event_type} has unknown field(s): {', '.join(unknown)}") from None
        raise EventValidationError(f"{event_type}: {exc}") from None


# --------------------------------------------------------------------------- hot rows
# Replay decodes every transition of a run, and attrs' constructor (a keyword call, then
# one validator call and one converter call per field) is most of that cost. For the types
# replay reads most, one expression checks exactly what their validators check; a row that
# passes is rebuilt by writing the instance dict. Any other row, or an unexpected field,
# takes the constructor, which names the problem. tests/test_mapper.py holds the two paths
# to the same result.


@attrs.frozen
class _Shape:
    names: frozenset[str]
    accepts: Callable[[dict], bool]
    tuples: tuple[str, ...] = ()  # list fields the class converts to tuples of strings


def _transition(p: dict) -> bool:
    episode, step, reward, terminated, truncated = (
        p["episode"], p["step"], p["reward"], p["terminated"], p["truncated"])
    return (type(episode) is str and episode != "" and type(step) is int and step >= 0
            and type(p["observation"]) is str and type(p["action"]) is str
            and type(p["next_observation"]) is str and type(p["reason"]) is str
            and type(reward) is float and isfinite(reward)
            and type(terminated) is bool and type(truncated) is bool
            and not (terminated and truncated) and _strings(p["available_actions"]))


def _episode_started(p: dict) -> bool:
    episode, epoch = p["episode"], p["epoch"]
    return (type(episode) is str and episode != "" and type(p["task"]) is str
            and type(p["task_id"]) is str and type(p["split"]) is str and p["split"] in SPLITS
            and type(epoch) is int and epoch >= 0)


def _episode_ended(p: dict) -> bool:
    episode, total, steps = p["episode"], p["total_reward"], p["steps"]
    return (type(episode) is str and episode != "" and type(total) is float and isfinite(total)
            and type(p["success"]) is bool and type(steps) is int and steps >= 0)


_ONLY_STR = {str}


def _strings(value: Any) -> bool:
    return type(value) is list and (not value or set(map(type, value)) == _ONLY_STR)


_SHAPES: dict[type[Event], _Shape] = {
    TransitionRecorded: _Shape(frozenset(_PAYLOAD_FIELDS[TransitionRecorded]), _transition,
                               ("available_actions",)),
    EpisodeStarted: _Shape(frozenset(_PAYLOAD_FIELDS[EpisodeStarted]), _episode_started),
    EpisodeEnded: _Shape(frozenset(_PAYLOAD_FIELDS[EpisodeEnded]), _episode_ended),
}
_new = object.__new__


def _rebuild(cls: type[Event], payload: dict, event_id: str) -> Event | None:
    """`cls(event_id=event_id, **payload)` for a well-formed row of a hot type, None otherwise."""
    shape = _SHAPES.get(cls)
    if (shape is None or payload.keys() != shape.names or type(event_id) is not str
            or event_id == "" or not shape.accepts(payload)):
        return None
    event = _new(cls)
    fields = event.__dict__
    fields.update(payload)
    fields["event_id"] = event_id
    for name in shape.tuples:
        fields[name] = tuple(payload[name])
    return event
