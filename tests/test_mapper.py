"""The mapper: every event survives the trip to a row and back, through the store too;
old rows are upcast; rows this code cannot read are refused with a clear message."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.events import (
    EVENT_TYPES,
    EpisodeEnded,
    EpisodeStarted,
    EventValidationError,
    ExperienceRetrieved,
    LlmExchanged,
    PoolAction,
    PoolImported,
    PoolRecord,
    RecordForgotten,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)
from store.mapper import _HOT, UnknownEventType, hot_event, canonical_json, from_row_fields, to_row_fields
from store.recorder import GENESIS_HASH, SQLiteRecorder, chain_hash, row_header
from store.secrets import is_secret_key, redact_text
from store.verify import verify
from tests.conftest import FIXED_TIME, fixed_clock

# ------------------------------------------------------------------ strategies
# Text that looks like a credential is redacted on purpose (tests/test_secrets.py), so the
# round trip is stated for everything else.
text = st.text(max_size=40).filter(lambda s: redact_text(s) == s)
ids = st.text(min_size=1, max_size=20).filter(lambda s: redact_text(s) == s)
keys = text.filter(lambda k: not is_secret_key(k))
run_names = ids.filter(lambda s: "/" not in s and s == s.strip())
numbers = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(min_value=0, max_value=10**6)
json_data = st.recursive(
    st.none() | st.booleans() | st.integers() | numbers | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(keys, json_data, max_size=4)

rl_configs = st.builds(
    RLConfig,
    gamma=st.floats(0.0, 1.0),
    n_step=st.integers(1, 10),
    update_mode=st.sampled_from(("mean", "const")),
    learning_rate=st.floats(0.0, 1.0, exclude_min=True),
    action_capacity=st.none() | st.integers(1, 50),
    item_capacity=st.none() | st.integers(1, 5000),
    double_q=st.booleans(),
)
pool_records = st.builds(
    PoolRecord,
    task=text,
    observation=text,
    actions=st.lists(st.builds(PoolAction, action=text, reason=text, q=numbers, visits=counts,
                               mean_reward=numbers), max_size=3),
    key=st.lists(text, max_size=3),
    action_history=st.lists(st.lists(text, max_size=3), max_size=3),
    last_reward=numbers,
    total_reward=numbers | st.integers(-100, 100),
    visits=counts,
    record_id=st.none() | counts,
)

EVENT_STRATEGIES = {
    RunStarted: st.builds(RunStarted, event_id=ids, run=run_names, rl=rl_configs, matcher=json_objects,
                          models=json_objects, environment=text, policy=text, seed=st.integers(),
                          options=json_objects),
    EpisodeStarted: st.builds(EpisodeStarted, event_id=ids, episode=ids, task=text, task_id=text,
                              split=st.sampled_from(("train", "test")), epoch=counts),
    TransitionRecorded: st.builds(
        TransitionRecorded, event_id=ids, episode=ids, step=counts, observation=text, action=text,
        reward=numbers | st.integers(-10, 10), next_observation=text,
        terminated=st.booleans(), truncated=st.just(False), reason=text,
        available_actions=st.lists(text, max_size=4)),
    ExperienceRetrieved: st.builds(ExperienceRetrieved, event_id=ids, episode=ids, step=counts, task=text,
                                   observation=text, records=st.lists(json_data, max_size=3), exemplars=text),
    LlmExchanged: st.builds(
        LlmExchanged, event_id=ids, episode=text, step=counts, model=text,
        messages=st.lists(st.fixed_dictionaries({"role": st.sampled_from(("system", "user", "assistant")),
                                                 "content": text}, optional={"extra": json_data}), max_size=3),
        response=text, usage=json_objects, latency_ms=numbers, error=text, attempt=st.integers(1, 5)),
    EpisodeEnded: st.builds(EpisodeEnded, event_id=ids, episode=ids, total_reward=numbers, success=st.booleans(),
                            steps=counts),
    PoolImported: st.builds(PoolImported, event_id=ids, source=text,
                            format=st.sampled_from(("webshop", "wikihow", "generic")),
                            records=st.lists(pool_records, max_size=3)),
    RecordForgotten: st.builds(RecordForgotten, event_id=ids, task=text, observation=text, reason=text),
}
events = st.one_of(*EVENT_STRATEGIES.values())


def test_there_is_a_strategy_for_every_event_type() -> None:
    assert set(EVENT_STRATEGIES) == set(EVENT_TYPES.values())


# ------------------------------------------------------------------ round trips


@given(events)
@settings(max_examples=150, deadline=None)
def test_every_event_survives_the_mapper(event) -> None:
    type_, schema_version, payload = to_row_fields(event)
    assert (type_, schema_version) == (event.TYPE, event.SCHEMA_VERSION)
    assert payload == canonical_json(json.loads(payload))  # stored text is canonical
    assert "event_id" not in json.loads(payload)
    assert from_row_fields(type_, schema_version, payload, event.event_id) == event


@given(st.lists(st.tuples(events, st.sampled_from(("r", "r/e1", "r/e2", "q/e1"))),
                min_size=1, max_size=8, unique_by=lambda pair: pair[0].event_id))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_sequence_of_events_comes_back_from_the_store_unchanged(appended) -> None:
    with tempfile.TemporaryDirectory() as tmp, SQLiteRecorder(Path(tmp, "h.db"), clock=fixed_clock) as recorder:
        for event, stream in appended:
            recorder.append([event], stream, None)
        read = list(recorder.read())
        assert [(r.event, r.stream) for r in read] == appended
        assert [r.position for r in read] == list(range(1, len(appended) + 1))
        assert verify(recorder).ok


# ------------------------------------------------------------------ the fast path for hot rows
# Replay rebuilds well-formed rows of the hot types without attrs' constructor; these hold
# that path to the constructor's result, and to its refusals.
HOT = sorted(_HOT, key=lambda cls: cls.TYPE)
# Values at the edges of what the hot types' validators allow, one field at a time.
EDGES = (None, True, False, 0, -1, 1, 2.5, -0.0, float("nan"), float("inf"), "", "x", "train", "test",
         [], ["x"], [1], ["x", None], {}, {"x": 1})
WELL_FORMED = {
    TransitionRecorded: [TransitionRecorded("e", 0, "o", "a", 0.5, "o2"),
                         TransitionRecorded("e", 3, "o", "a", -1.0, "o2", truncated=True, reason="r",
                                            available_actions=("a", "b"))],
    EpisodeStarted: [EpisodeStarted("e", "t", "id", "test", 2)],
    EpisodeEnded: [EpisodeEnded("e", 1.0, True, 3)],
}


@given(st.sampled_from(HOT).flatmap(lambda cls: EVENT_STRATEGIES[cls]))
@settings(max_examples=100, deadline=None)
def test_well_formed_hot_rows_take_the_fast_path(event) -> None:
    payload = json.loads(to_row_fields(event)[2])
    assert _HOT[type(event)](payload)
    rebuilt = hot_event(type(event), {**payload, "event_id": event.event_id})
    assert rebuilt == event and repr(rebuilt) == repr(event)


def _damaged_rows(event):
    """The event's payload with one field set to each edge value, or removed, or renamed,
    or an extra field added; and with an empty event id."""
    payload = json.loads(to_row_fields(event)[2])
    yield payload, ""
    yield {**payload, "colour": "red"}, event.event_id
    for name in payload:
        yield {k: v for k, v in payload.items() if k != name}, event.event_id
        # renamed: as many keys as the type has, one of them foreign
        yield {**{k: v for k, v in payload.items() if k != name}, "colour": payload[name]}, event.event_id
        for value in EDGES:
            yield {**payload, name: value}, event.event_id


def test_every_damaged_hot_row_reads_as_the_constructor_reads_it() -> None:
    assert set(WELL_FORMED) == set(HOT)
    checked = 0
    for cls, examples in WELL_FORMED.items():
        for event in examples:
            for payload, event_id in _damaged_rows(event):
                row = json.dumps(payload, sort_keys=True)  # may hold NaN: not canonical_json
                try:
                    expected = cls(event_id=event_id, **payload)
                except (EventValidationError, TypeError):
                    with pytest.raises(EventValidationError):
                        from_row_fields(cls.TYPE, cls.SCHEMA_VERSION, row, event_id)
                else:
                    read = from_row_fields(cls.TYPE, cls.SCHEMA_VERSION, row, event_id)
                    assert (read, repr(read)) == (expected, repr(expected)), payload
                checked += 1
    assert checked > 500


def test_value_objects_are_written_as_their_fields() -> None:
    event = PoolImported("pool.yaml", "generic", [PoolRecord("t", "o", [PoolAction("a", q=0.5)])])
    payload = json.loads(to_row_fields(event)[2])
    assert payload["records"][0]["actions"] == [
        {"action": "a", "reason": "", "q": 0.5, "visits": 0, "mean_reward": 0.0}]
    assert json.loads(to_row_fields(RunStarted("r"))[2])["rl"] == attrs.asdict(RLConfig())


def test_canonical_json_is_sorted_compact_unicode_and_finite() -> None:
    assert canonical_json({"b": 1, "a": ["é", 2.5]}) == '{"a":["é",2.5],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})
    with pytest.raises(TypeError):
        canonical_json({"x": object()})


# ------------------------------------------------------------------ old and unknown rows

V1_TRANSITION = {"episode": "e", "step": 3, "observation": "cart", "action": "click[buy]", "reward": 1.0,
                 "next_observation": "thanks", "done": True, "reason": "it matches"}


def store_raw_row(path: Path, type_: str, schema_version: int, payload: dict) -> None:
    """Write a row as an older (or newer, or foreign) version of rememberer would have."""
    SQLiteRecorder(path).close()  # the schema
    conn = sqlite3.connect(path)
    text = canonical_json(payload)
    hash_ = chain_hash(GENESIS_HASH, row_header(1, "r/e", 1, type_, schema_version, "old", FIXED_TIME), text)
    conn.execute("INSERT INTO events (position, stream, run, version, event_id, type, schema_version, payload,"
                 " recorded_at, hash) VALUES (1, 'r/e', 'r', 1, 'old', ?, ?, ?, ?, ?)",
                 (type_, schema_version, text, FIXED_TIME, hash_))
    conn.execute("INSERT INTO chain_head (id, position, hash) VALUES (1, 1, ?)", (hash_,))
    conn.commit()
    conn.close()


def test_a_v1_transition_row_is_read_as_v2(db_path: Path) -> None:
    store_raw_row(db_path, "TransitionRecorded", 1, V1_TRANSITION)
    with SQLiteRecorder(db_path) as recorder:
        assert verify(recorder).ok  # the row is stored as written; only reading upcasts it
        (recorded,) = recorder.read()
    assert recorded.event == TransitionRecorded("e", 3, "cart", "click[buy]", 1.0, "thanks", terminated=True,
                                                truncated=False, reason="it matches", event_id="old")
    not_done = from_row_fields("TransitionRecorded", 1, canonical_json({**V1_TRANSITION, "done": False}), "x")
    assert (not_done.terminated, not_done.truncated, not_done.done) == (False, False, False)


def test_an_unknown_event_type_is_refused_clearly(db_path: Path) -> None:
    store_raw_row(db_path, "TaskRenamed", 1, {"task": "x"})
    with SQLiteRecorder(db_path) as recorder, pytest.raises(UnknownEventType, match="unknown event type 'TaskRenamed'"):
        list(recorder.read())


def test_a_newer_schema_version_is_refused_clearly(db_path: Path) -> None:
    store_raw_row(db_path, "TransitionRecorded", 3, {**V1_TRANSITION, "done": None})
    with SQLiteRecorder(db_path) as recorder, pytest.raises(
            UnknownEventType, match=r"TransitionRecorded schema version 3 is newer than this code reads \(2\)"):
        list(recorder.read())


@pytest.mark.parametrize("payload, message", [
    ('{"episode":"e","total_reward":1.0,"success":true,"colour":"red"}', "unknown field\\(s\\): colour"),
    ('{"episode":"e","success":true}', "EpisodeEnded: .*total_reward"),
    ('["e",1.0,true]', "not a JSON object"),
    ('{"episode":"e",', "not valid JSON"),
    ('{"episode":"e","total_reward":NaN,"success":true}', "total_reward must be finite"),
    ('{"episode":"","total_reward":1.0,"success":true}', "episode must not be empty"),
    ('{"episode":"e","event_id":"y","total_reward":1.0,"success":true}', "holds event_id"),
])
def test_a_damaged_row_is_refused_with_the_reason(payload: str, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        from_row_fields("EpisodeEnded", 1, payload, "x")


def test_only_registered_event_classes_are_written() -> None:
    @attrs.frozen
    class Renamed(EpisodeEnded):
        pass

    with pytest.raises(UnknownEventType, match="Renamed is not a registered event type"):
        to_row_fields(Renamed("e", 1.0, True))


def test_text_that_is_not_valid_unicode_is_refused_before_the_store(db_path: Path) -> None:
    with SQLiteRecorder(db_path) as recorder:
        with pytest.raises(EventValidationError, match="EpisodeStarted holds text that is not valid Unicode"):
            recorder.append([EpisodeStarted("e", "half an emoji \ud83d")], "r/e", 0)
        assert recorder.max_position() == 0
