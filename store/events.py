"""Domain events: frozen attrs classes, validated when constructed.

An event holds only what happened. Where it sits in the log (position, stream, version,
hash) is the recorder's business and lives in `store.recorded.Recorded`.
"""

from __future__ import annotations

import math
import uuid
from typing import Any, ClassVar

import attrs

SPLITS = ("train", "test")
UPDATE_MODES = ("mean", "const")


class EventValidationError(ValueError):
    """An event's payload does not satisfy its type."""


def _finite(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EventValidationError(f"{attribute.name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise EventValidationError(f"{attribute.name} must be finite, got {value!r}")


def _to_float(value: Any) -> Any:
    # Keep non-numbers (and bools) as they are so the validator can name the problem.
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str):
        raise EventValidationError(f"{attribute.name} must be a string, got {type(value).__name__}")


def _nonempty_str(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _str(instance, attribute, value)
    if not value:
        raise EventValidationError(f"{attribute.name} must not be empty")


def _run_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    _nonempty_str(instance, attribute, value)
    if "/" in value or value != value.strip():
        raise EventValidationError(
            f"run name {value!r} must not contain '/' or surrounding spaces"
        )


def _bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise EventValidationError(f"{attribute.name} must be true or false, got {value!r}")


def _int(minimum: int | None = None):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EventValidationError(f"{attribute.name} must be an integer, got {value!r}")
        if minimum is not None and value < minimum:
            raise EventValidationError(f"{attribute.name} must be >= {minimum}, got {value}")

    return check


def _optional_int(minimum: int):
    check = _int(minimum)

    def optional(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _one_of(choices: tuple[str, ...]):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise EventValidationError(
                f"{attribute.name} must be one of {', '.join(choices)}, got {value!r}"
            )

    return check


def _str_tuple(value: Any) -> tuple:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise EventValidationError(f"expected a list of strings, got {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise EventValidationError(f"expected a list of strings, got an item {item!r}")
    return items


def json_value(value: Any, where: str = "value") -> Any:
    """Normalise to plain JSON data (dict/list/str/int/float/bool/None), finite floats only.

    Tuples become lists so that a value equals itself after a trip through JSON.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EventValidationError(f"{where} holds a non-finite number {value!r}")
        return value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventValidationError(f"{where} has a non-string key {key!r}")
            out[key] = json_value(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [json_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise EventValidationError(f"{where} holds {type(value).__name__}, which is not JSON data")


def _json_field(default_factory=dict):
    return attrs.field(factory=default_factory, kw_only=True, converter=attrs.Converter(
        lambda value, field: json_value(value, field.name), takes_field=True))


def _str_tuple_field(name: str):
    """`_str_tuple` for field `name`, naming it in errors (a plain one-argument converter:
    it runs on every event read back, so no per-call field lookup)."""

    def convert(value: Any) -> tuple:
        try:
            return _str_tuple(value)
        except EventValidationError as exc:
            raise EventValidationError(f"{name}: {exc}") from None

    return convert


# --------------------------------------------------------------------------- value objects

# Longer than any episode: n-step returns are then whole-episode (Monte Carlo) ones.
MAX_N_STEP = 100_000


@attrs.frozen
class RLConfig:
    """The RL hyperparameters of SPEC section 3; part of `RunStarted`."""

    gamma: float = attrs.field(default=1.0, converter=_to_float, validator=_finite)
    n_step: int = attrs.field(default=1, validator=_int(1))
    update_mode: str = attrs.field(default="mean", validator=_one_of(UPDATE_MODES))
    learning_rate: float = attrs.field(default=0.1, converter=_to_float, validator=_finite)
    action_capacity: int | None = attrs.field(default=None, validator=_optional_int(1))
    item_capacity: int | None = attrs.field(default=None, validator=_optional_int(1))
    double_q: bool = attrs.field(default=False, validator=_bool)

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise EventValidationError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.n_step > MAX_N_STEP:  # the fold precomputes gamma^0..gamma^n
            raise EventValidationError(f"n_step must be at most {MAX_N_STEP:,}, got {self.n_step}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise EventValidationError(
                f"learning_rate must be in (0, 1], got {self.learning_rate}"
            )

    def to_dict(self) -> dict:
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RLConfig:
        unknown = set(data) - {f.name for f in attrs.fields(cls)}
        if unknown:
            raise EventValidationError(f"unknown RL option(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@attrs.frozen
class PoolAction:
    """One action of an imported record, with the values the pool gave it."""

    action: str = attrs.field(validator=_str)
    reason: str = attrs.field(default="", validator=_str)
    q: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)
    visits: int = attrs.field(default=0, validator=_int(0))
    mean_reward: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)


def _pool_actions(value: Any) -> tuple[PoolAction, ...]:
    return tuple(a if isinstance(a, PoolAction) else PoolAction(**a) for a in value)


def _history(value: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(_str_tuple(step) for step in value)


@attrs.frozen
class PoolRecord:
    """One record of a reference pool: the state key, its actions and its `other_info`.

    `key` keeps the pool's original key tuple so that export writes back exactly what
    was imported.
    """

    task: str = attrs.field(validator=_str)
    observation: str = attrs.field(validator=_str)
    actions: tuple[PoolAction, ...] = attrs.field(converter=_pool_actions)
    key: tuple[str, ...] = attrs.field(factory=tuple, converter=_str_tuple_field("key"))
    action_history: tuple[tuple[str, ...], ...] = attrs.field(factory=tuple, converter=_history)
    last_reward: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)
    total_reward: float = attrs.field(default=0.0, converter=_to_float, validator=_finite)
    visits: int = attrs.field(default=0, validator=_int(0))
    record_id: int | None = attrs.field(default=None, validator=_optional_int(0))


# --------------------------------------------------------------------------- events


def _new_event_id() -> str:
    return str(uuid.uuid4())


@attrs.frozen(slots=False)
class Event:
    """Base of every event type. `event_id` makes a retried append idempotent.

    Events keep their fields in an instance dict (`slots=False`): attrs then sets them by
    writing that dict, and the mapper can rebuild a well-formed stored row the same way
    (store/mapper.py `_HOT`), which matters to replay, the hottest read there is.
    """

    TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    event_id: str = attrs.field(factory=_new_event_id, kw_only=True, validator=_nonempty_str)


@attrs.frozen(slots=False)
class RunStarted(Event):
    TYPE: ClassVar[str] = "RunStarted"

    run: str = attrs.field(validator=_run_name)
    rl: RLConfig = attrs.field(
        factory=RLConfig,
        converter=lambda v: v if isinstance(v, RLConfig) else RLConfig.from_dict(v),
    )
    matcher: dict = _json_field()
    models: dict = _json_field()
    environment: str = attrs.field(default="", validator=_str, kw_only=True)
    policy: str = attrs.field(default="", validator=_str, kw_only=True)
    seed: int = attrs.field(default=0, validator=_int(), kw_only=True)
    options: dict = _json_field()


@attrs.frozen(slots=False)
class EpisodeStarted(Event):
    TYPE: ClassVar[str] = "EpisodeStarted"

    episode: str = attrs.field(validator=_nonempty_str)
    task: str = attrs.field(validator=_str)
    task_id: str = attrs.field(default="", validator=_str)
    split: str = attrs.field(default="train", validator=_one_of(SPLITS))
    epoch: int = attrs.field(default=0, validator=_int(0))


@attrs.frozen(slots=False)
class TransitionRecorded(Event):
    """One step: o_t, a_t, r_t, o_{t+1}. Terminated and truncated are kept apart
    because they bootstrap differently (SPEC section 3)."""

    TYPE: ClassVar[str] = "TransitionRecorded"
    SCHEMA_VERSION: ClassVar[int] = 2

    episode: str = attrs.field(validator=_nonempty_str)
    step: int = attrs.field(validator=_int(0))
    observation: str = attrs.field(validator=_str)
    action: str = attrs.field(validator=_str)
    reward: float = attrs.field(converter=_to_float, validator=_finite)
    next_observation: str = attrs.field(validator=_str)
    terminated: bool = attrs.field(default=False, validator=_bool)
    truncated: bool = attrs.field(default=False, validator=_bool)
    reason: str = attrs.field(default="", validator=_str)
    available_actions: tuple[str, ...] = attrs.field(factory=tuple, converter=_str_tuple_field("available_actions"))

    def __attrs_post_init__(self) -> None:
        if self.terminated and self.truncated:
            raise EventValidationError("a transition cannot be both terminated and truncated")

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@attrs.frozen(slots=False)
class ExperienceRetrieved(Event):
    """What the memory returned for a query and the exemplars built from it."""

    TYPE: ClassVar[str] = "ExperienceRetrieved"

    episode: str = attrs.field(validator=_nonempty_str)
    step: int = attrs.field(validator=_int(0))
    task: str = attrs.field(validator=_str)
    observation: str = attrs.field(validator=_str)
    records: list = _json_field(list)
    exemplars: str = attrs.field(default="", validator=_str, kw_only=True)


@attrs.frozen(slots=False)
class LlmExchanged(Event):
    """One request/response with the LLM. Never holds a key: the mapper redacts."""

    TYPE: ClassVar[str] = "LlmExchanged"

    episode: str = attrs.field(validator=_str)
    step: int = attrs.field(validator=_int(0))
    model: str = attrs.field(validator=_str)
    messages: list = _json_field(list)
    response: str = attrs.field(default="", validator=_str, kw_only=True)
    usage: dict = _json_field()
    latency_ms: float = attrs.field(
        default=0.0, converter=_to_float, validator=_finite, kw_only=True
    )
    error: str = attrs.field(default="", validator=_str, kw_only=True)
    attempt: int = attrs.field(default=1, validator=_int(1), kw_only=True)


@attrs.frozen(slots=False)
class EpisodeEnded(Event):
    TYPE: ClassVar[str] = "EpisodeEnded"

    episode: str = attrs.field(validator=_nonempty_str)
    total_reward: float = attrs.field(converter=_to_float, validator=_finite)
    success: bool = attrs.field(validator=_bool)
    steps: int = attrs.field(default=0, validator=_int(0))


@attrs.frozen(slots=False)
class PoolImported(Event):
    """Records seeded from a reference pool; later updates continue from their values."""

    TYPE: ClassVar[str] = "PoolImported"

    source: str = attrs.field(validator=_str)
    format: str = attrs.field(validator=_one_of(("webshop", "wikihow", "generic")))
    records: tuple[PoolRecord, ...] = attrs.field(
        converter=lambda v: tuple(r if isinstance(r, PoolRecord) else PoolRecord(**r) for r in v)
    )


@attrs.frozen(slots=False)
class RecordForgotten(Event):
    """A tombstone: the projection drops the record, the log keeps its history."""

    TYPE: ClassVar[str] = "RecordForgotten"

    task: str = attrs.field(validator=_str)
    observation: str = attrs.field(validator=_str)
    reason: str = attrs.field(default="", validator=_str)


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        RunStarted,
        EpisodeStarted,
        TransitionRecorded,
        ExperienceRetrieved,
        LlmExchanged,
        EpisodeEnded,
        PoolImported,
        RecordForgotten,
    )
}
