"""The contract every recorder backend must keep, as an abstract test class.

A backend's test module subclasses `RecorderContract` and implements `create_recorder(path)`:
open the store named by `path`, creating it when missing. Calling it twice with the same
path must give two independent connections to one store (the tail and conflict tests use
that). Nothing here is SQLite-specific, so a PostgreSQL recorder can subclass it as is.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from store.events import EpisodeEnded, EpisodeStarted, RunStarted, TransitionRecorded
from store.recorder import ConcurrencyConflict, DuplicateEventId, StoreError, StreamBatch


def step(episode: str, n: int, *, event_id: str | None = None, reward: float = 0.0) -> TransitionRecorded:
    kwargs = {"event_id": event_id} if event_id else {}
    return TransitionRecorded(episode, n, f"o{n}", f"a{n}", reward, f"o{n + 1}", **kwargs)


def steps(episode: str, count: int, prefix: str = "") -> list[TransitionRecorded]:
    return [step(episode, n, event_id=f"{prefix or episode}-{n}") for n in range(count)]


class RecorderContract:
    """Append/read semantics, optimistic concurrency, idempotency, atomicity and tailing."""

    def create_recorder(self, path: Path):
        raise NotImplementedError

    @pytest.fixture
    def store_path(self, tmp_path: Path) -> Path:
        return tmp_path / "events.db"

    @pytest.fixture
    def recorder(self, store_path: Path):
        recorder = self.create_recorder(store_path)
        yield recorder
        recorder.close()

    @pytest.fixture
    def other(self, store_path: Path, recorder):
        """A second connection to the same store."""
        other = self.create_recorder(store_path)
        yield other
        other.close()

    # ------------------------------------------------------------------ append and read

    def test_empty_store(self, recorder) -> None:
        assert recorder.max_position() == 0
        assert recorder.stream_version("r") == 0
        assert list(recorder.read()) == []
        assert recorder.read_stream("r") == []
        assert recorder.runs() == []

    def test_append_returns_positions_and_read_gives_the_same_events(self, recorder) -> None:
        started = RunStarted("r", event_id="run-start")
        episode = EpisodeStarted("e1", "buy shoes", event_id="e1-start")
        stored = recorder.append([started], "r", 0) + recorder.append([episode, *steps("e1", 2)], "r/e1", 0)
        assert [(s.position, s.stream, s.version) for s in stored] == [
            (1, "r", 1), (2, "r/e1", 1), (3, "r/e1", 2), (4, "r/e1", 3)]
        read = list(recorder.read())
        assert read == stored
        assert [r.event for r in read] == [started, episode, *steps("e1", 2)]
        assert read[1].run == "r" and read[1].type == "EpisodeStarted"
        assert len({r.hash for r in read}) == 4

    def test_positions_are_gapless_across_interleaved_streams(self, recorder) -> None:
        versions = {"r/a": 0, "r/b": 0, "r": 0}
        for round_ in range(5):
            for stream in versions:
                batch = steps(stream.replace("/", "-"), round_ + 1, prefix=f"{stream}-{round_}")
                recorder.append(batch, stream, versions[stream])
                versions[stream] += len(batch)
        read = list(recorder.read())
        assert [r.position for r in read] == list(range(1, len(read) + 1))
        for stream, version in versions.items():
            assert [r.version for r in recorder.read_stream(stream)] == list(range(1, version + 1))
            assert recorder.stream_version(stream) == version
        assert recorder.max_position() == len(read) == sum(versions.values())

    def test_read_after_and_limit(self, recorder) -> None:
        recorder.append(steps("e", 10), "r/e", 0)
        assert [r.position for r in recorder.read(after=3, limit=4)] == [4, 5, 6, 7]
        assert [r.position for r in recorder.read(after=8)] == [9, 10]
        assert list(recorder.read(after=10)) == []
        assert [r.position for r in recorder.read(after=2, upto=5)] == [3, 4, 5]

    def test_read_one_run(self, recorder) -> None:
        recorder.append([RunStarted("a", event_id="a")], "a", 0)
        recorder.append([RunStarted("b", event_id="b")], "b", 0)
        recorder.append(steps("e", 2, prefix="a-e"), "a/e", 0)
        recorder.append(steps("e", 2, prefix="b-e"), "b/e", 0)
        # "a" must not match a run that merely starts with the same letters.
        recorder.append([RunStarted("ab", event_id="ab")], "ab", 0)
        assert [r.event.event_id for r in recorder.read(run="a")] == ["a", "a-e-0", "a-e-1"]
        assert [r.position for r in recorder.read(run="b", after=2)] == [5, 6]
        assert recorder.runs() == ["a", "ab", "b"]

    def test_read_events_gives_the_positions_and_events_read_gives(self, recorder) -> None:
        recorder.append([RunStarted("a", event_id="a")], "a", 0)
        recorder.append([EpisodeStarted("e", "t", event_id="s"), *steps("e", 3, prefix="a-e"),
                         EpisodeEnded("e", 0.0, False, 3, event_id="end")], "a/e", 0)
        recorder.append(steps("e", 2, prefix="b-e"), "b/e", 0)
        for kwargs in ({}, {"run": "a"}, {"after": 2, "upto": 5}, {"run": "a", "upto": 4},
                       {"types": {"TransitionRecorded", "EpisodeEnded"}}, {"after": 7}):
            pairs = list(recorder.read_events(**kwargs))
            assert pairs == [(r.position, r.event) for r in recorder.read(**kwargs)], kwargs
        assert [p for p, _ in recorder.read_events(run="a", types={"EpisodeEnded"})] == [6]
        assert [p for p, _ in recorder.read_events(2, 3, run="a")] == [3, 4, 5]
        assert recorder.event_hash(4) == next(recorder.read(3, 1)).hash
        with pytest.raises(StoreError, match="no event at position 99"):
            recorder.event_hash(99)

    def test_read_stream_after_version(self, recorder) -> None:
        recorder.append(steps("e", 3), "r/e", 0)
        recorder.append(steps("f", 1), "r/f", 0)
        recorder.append(steps("e", 2, prefix="e-more"), "r/e", 3)
        assert [(r.version, r.position) for r in recorder.read_stream("r/e", after_version=2)] == [
            (3, 3), (4, 5), (5, 6)]

    def test_empty_append_changes_nothing(self, recorder) -> None:
        recorder.append(steps("e", 1), "r/e", 0)
        assert recorder.append([], "r/e", 1) == []
        assert recorder.max_position() == 1

    # ------------------------------------------------------------------ optimistic concurrency

    def test_wrong_expected_version_is_a_conflict(self, recorder) -> None:
        recorder.append(steps("e", 2), "r/e", 0)
        with pytest.raises(ConcurrencyConflict) as caught:
            recorder.append(steps("e", 1, prefix="late"), "r/e", 1)
        assert (caught.value.stream, caught.value.expected, caught.value.actual) == ("r/e", 1, 2)
        assert "'r/e'" in str(caught.value) and "version 2" in str(caught.value) and "expected 1" in str(caught.value)
        assert recorder.max_position() == 2

    def test_a_new_stream_is_at_version_zero(self, recorder) -> None:
        with pytest.raises(ConcurrencyConflict):
            recorder.append(steps("e", 1), "r/e", 1)
        assert recorder.append(steps("e", 1), "r/e", 0)[0].version == 1

    def test_expected_version_none_appends_wherever_the_stream_is(self, recorder) -> None:
        recorder.append(steps("e", 2), "r/e", None)
        assert [r.version for r in recorder.append(steps("e", 2, prefix="x"), "r/e", None)] == [3, 4]

    def test_two_connections_expecting_the_same_version_one_wins(self, recorder, other) -> None:
        recorder.append(steps("e", 1), "r/e", 0)
        other.append(steps("e", 1, prefix="first"), "r/e", 1)
        with pytest.raises(ConcurrencyConflict):
            recorder.append(steps("e", 1, prefix="second"), "r/e", 1)
        assert [r.event.event_id for r in recorder.read_stream("r/e")] == ["e-0", "first-0"]

    # ------------------------------------------------------------------ idempotency

    def test_retry_with_the_same_event_ids_appends_nothing(self, recorder) -> None:
        batch = steps("e", 3)
        first = recorder.append(batch, "r/e", 0)
        recorder.append(steps("f", 1), "r/f", 0)
        # The retry's expected version is stale by now; it is still recognised as a retry.
        again = recorder.append(batch, "r/e", 0)
        assert again == first
        assert recorder.max_position() == 4
        assert [r.position for r in again] == [1, 2, 3]

    def test_a_batch_with_some_ids_already_stored_is_refused(self, recorder) -> None:
        batch = steps("e", 3)
        recorder.append(batch[:2], "r/e", 0)
        with pytest.raises(DuplicateEventId):
            recorder.append(batch, "r/e", 2)
        assert recorder.max_position() == 2

    def test_a_stored_id_with_other_content_is_refused(self, recorder) -> None:
        recorder.append([step("e", 0, event_id="x")], "r/e", 0)
        with pytest.raises(DuplicateEventId):
            recorder.append([step("e", 0, event_id="x", reward=1.0)], "r/e", None)
        with pytest.raises(DuplicateEventId):  # same content, another stream
            recorder.append([step("e", 0, event_id="x")], "r/other", None)
        assert recorder.max_position() == 1

    def test_an_id_repeated_inside_one_append_is_refused(self, recorder) -> None:
        with pytest.raises(DuplicateEventId):
            recorder.append([step("e", 0, event_id="x"), step("e", 1, event_id="x")], "r/e", 0)
        with pytest.raises(DuplicateEventId):
            recorder.append_batches([StreamBatch("r/a", [step("a", 0, event_id="x")], 0),
                                     StreamBatch("r/b", [step("b", 0, event_id="x")], 0)])
        assert recorder.max_position() == 0

    # ------------------------------------------------------------------ atomicity over streams

    def test_append_batches_is_all_or_nothing(self, recorder) -> None:
        recorder.append(steps("b", 1), "r/b", 0)
        with pytest.raises(ConcurrencyConflict) as caught:
            recorder.append_batches([
                StreamBatch("r/a", steps("a", 3), 0),
                StreamBatch("r/b", steps("b", 2, prefix="b2"), 0),  # r/b is at 1
            ])
        assert caught.value.stream == "r/b"
        assert recorder.stream_version("r/a") == 0
        assert recorder.max_position() == 1
        # The same call with the right version goes through, and the first stream's
        # events take the positions the failed attempt would have used.
        stored = recorder.append_batches([StreamBatch("r/a", steps("a", 3), 0),
                                          StreamBatch("r/b", steps("b", 2, prefix="b2"), 1)])
        assert [(r.stream, r.position, r.version) for r in stored] == [
            ("r/a", 2, 1), ("r/a", 3, 2), ("r/a", 4, 3), ("r/b", 5, 2), ("r/b", 6, 3)]

    def test_append_batches_may_name_a_stream_twice(self, recorder) -> None:
        stored = recorder.append_batches([StreamBatch("r/e", steps("e", 2), 0),
                                          StreamBatch("r/e", steps("e", 1, prefix="more"), 2)])
        assert [r.version for r in stored] == [1, 2, 3]
        with pytest.raises(ConcurrencyConflict):  # the second expects what the first changed
            recorder.append_batches([StreamBatch("r/f", steps("f", 2), 0),
                                     StreamBatch("r/f", steps("f", 1, prefix="f2"), 0)])
        assert recorder.max_position() == 3

    def test_append_batches_retry_returns_the_stored_events(self, recorder) -> None:
        batches = [StreamBatch("r", [RunStarted("r", event_id="run")], 0),
                   StreamBatch("r/e", steps("e", 2), 0)]
        first = recorder.append_batches(batches)
        assert recorder.append_batches(batches) == first
        assert recorder.max_position() == 3

    # ------------------------------------------------------------------ tail

    def test_tail_yields_what_another_connection_appends_later(self, recorder, other) -> None:
        recorder.append(steps("e", 2), "r/e", 0)
        deadline = time.monotonic() + 10
        tail = recorder.tail(after=1, poll_interval=0.005, stop=lambda: time.monotonic() > deadline)
        assert next(tail).position == 2
        other.append([EpisodeEnded("e", 0.0, False, event_id="end")], "r/e", 2)
        other.append(steps("f", 1), "q/f", 0)
        got = next(tail)
        assert (got.position, got.event.event_id) == (3, "end")
        assert next(tail).position == 4
        tail.close()

    def test_tail_of_one_run_sees_its_own_connection_too(self, recorder, other) -> None:
        deadline = time.monotonic() + 10
        tail = recorder.tail(run="r", poll_interval=0.005, stop=lambda: time.monotonic() > deadline)
        recorder.append(steps("e", 1), "r/e", 0)
        assert next(tail).position == 1
        recorder.append(steps("e", 1, prefix="own"), "r/e", 1)  # no other connection commits
        assert next(tail).event.event_id == "own-0"
        other.append(steps("x", 3), "q/x", 0)
        other.append(steps("e", 1, prefix="e2"), "r/e", 2)
        assert next(tail).position == 6
        tail.close()

    def test_tail_ends_when_told_to_stop(self, recorder) -> None:
        recorder.append(steps("e", 3), "r/e", 0)
        seen: list[int] = []
        for recorded in recorder.tail(poll_interval=0.001, stop=lambda: len(seen) >= 2):
            seen.append(recorded.position)
        # stop() is checked between polls, so the whole first read comes through.
        assert seen == [1, 2, 3]
