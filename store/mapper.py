"""The one mapper between event objects and stored rows.

A row holds `type`, `schema_version` and the payload as canonical JSON. Reading upcasts
old schema versions step by step to the class's current one before constructing it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from store.events import EVENT_TYPES, Event, EventValidationError
from store.secrets import redact


class UnknownEventType(ValueError):
    """A row names an event type (or schema version) this code cannot read."""


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept as is, no NaN: the same data gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


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


def _payload_of(event: Event) -> dict:
    payload = attrs.asdict(event, recurse=True)
    del payload["event_id"]
    return payload


def to_row_fields(event: Event) -> tuple[str, int, str]:
    """(type, schema_version, canonical payload) for an event, secrets redacted."""
    cls = type(event)
    if EVENT_TYPES.get(cls.TYPE) is not cls:
        raise UnknownEventType(f"{cls.__name__} is not a registered event type")
    return cls.TYPE, cls.SCHEMA_VERSION, canonical_json(redact(_payload_of(event)))


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
    """Rebuild an event from its stored row fields, upcasting old versions."""
    payload = upcast(event_type, schema_version, json.loads(payload_json))
    cls = EVENT_TYPES[event_type]
    names = {f.name for f in attrs.fields(cls)}
    unknown = set(payload) - names
    if unknown:
        raise EventValidationError(f"{event_type} has unknown field(s): {', '.join(sorted(unknown))}")
    return cls(event_id=event_id, **payload)
