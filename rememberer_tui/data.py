"""The read side of the terminal UI: what each screen shows, as plain data.

Pure functions over a recorder, called from the screens' worker threads (each worker
opens its own recorder: a sqlite3 connection never crosses threads). No textual here,
so every query is tested on its own.

The runs summary and the episodes list stay fast on a log of millions of events: they
read the (stream, version) index for each episode's first and last event and pull single
fields with `json_extract`, never decoding every payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

import attrs

from replay.fold import FOLDED_TYPES, fold_events
from replay.projection import replay_run, run_config, run_similarity
from replay.state import Record, StateKey
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    ExperienceRetrieved,
    LlmExchanged,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)
from store.mapper import from_row_fields
from store.recorder import SQLiteRecorder


@attrs.frozen
class RunStats:
    """Episode figures of a run. Averages are over ended episodes, None while none has."""

    episodes: int
    ended: int
    average_reward: float | None
    success_rate: float | None


@attrs.frozen
class RunSummary:
    """One line of the runs screen. `stats` is None until `run_stats` has filled it in:
    the screen shows the cheap columns first and the figures as they come."""

    run: str
    environment: str
    policy: str
    llm: str
    rl: RLConfig | None
    last_position: int
    last_event_at: str
    stats: RunStats | None = None


@attrs.frozen
class EpisodeRow:
    """One line of the episodes screen. `success` is None while the episode is running;
    `steps` and `total_return` then count its transitions so far."""

    stream: str
    episode: str
    epoch: int
    split: str
    task: str
    steps: int
    total_return: float
    success: bool | None
    first_position: int

    @property
    def running(self) -> bool:
        return self.success is None


@attrs.frozen
class Step:
    """Everything recorded for one step of an episode, in the order it happened.

    `position` is the step's first event: the memory "as it was at that moment" is the
    fold of the log up to `position - 1`, before anything of this step was appended.
    """

    index: int
    position: int
    retrieved: ExperienceRetrieved | None
    exchanges: tuple[LlmExchanged, ...]
    transition: TransitionRecorded | None
    running_return: float

    @property
    def moment(self) -> int:
        return self.position - 1


@attrs.frozen
class EpisodeDetail:
    run: str
    stream: str
    started: EpisodeStarted | None
    steps: tuple[Step, ...]
    ended: EpisodeEnded | None


def rl_brief(config: RLConfig | None) -> str:
    """The RL config in a few characters: defaults left out except gamma, n and the mode."""
    if config is None:
        return ""
    parts = [f"γ={config.gamma:g}", f"n={config.n_step}", config.update_mode]
    if config.update_mode == "const":
        parts.append(f"α={config.learning_rate:g}")
    if config.action_capacity is not None:
        parts.append(f"K={config.action_capacity}")
    if config.item_capacity is not None:
        parts.append(f"M={config.item_capacity}")
    if config.double_q:
        parts.append("double-Q")
    return " ".join(parts)


# A skip-scan: one index seek per distinct value instead of reading every index entry,
# so listing a run's episodes costs O(episodes x log events), whatever their length.
EPISODE_STREAMS_SQL = (
    "WITH RECURSIVE streams(s) AS ("
    " SELECT (SELECT min(stream) FROM events WHERE stream >= :lo AND stream < :hi)"
    " UNION ALL"
    " SELECT (SELECT min(stream) FROM events WHERE stream > s AND stream < :hi)"
    " FROM streams WHERE s IS NOT NULL)"
)


def stream_range(run: str) -> dict[str, str]:
    """Bounds of the streams `run/...` in the index: '0' is the character after '/'."""
    return {"lo": f"{run}/", "hi": f"{run}0"}


def run_names(recorder: SQLiteRecorder) -> list[str]:
    """The runs in name order, by a skip-scan of the run index (not a full scan)."""
    rows = recorder.conn.execute(
        "WITH RECURSIVE runs(r) AS ("
        " SELECT (SELECT min(run) FROM events)"
        " UNION ALL SELECT (SELECT min(run) FROM events WHERE run > r) FROM runs WHERE r IS NOT NULL)"
        " SELECT r FROM runs WHERE r IS NOT NULL"
    ).fetchall()
    return [run for (run,) in rows]


def _run_started(recorder: SQLiteRecorder, run: str) -> RunStarted | None:
    row = recorder.conn.execute(
        "SELECT type, schema_version, payload, event_id FROM events WHERE stream = ? AND version = 1",
        (run,),
    ).fetchone()
    if row is None or row[0] != RunStarted.TYPE:
        return None
    event = from_row_fields(*row)
    assert isinstance(event, RunStarted)
    return event


def run_heads(recorder: SQLiteRecorder) -> list[RunSummary]:
    """Every run with what its RunStarted and its last event say: a few seeks per run."""
    conn = recorder.conn
    summaries = []
    for run in run_names(recorder):
        last_position, last_at = conn.execute(
            "SELECT position, recorded_at FROM events WHERE position ="
            " (SELECT max(position) FROM events WHERE run = ?)", (run,)
        ).fetchone()
        started = _run_started(recorder, run)
        models = started.models if started else {}
        summaries.append(RunSummary(
            run=run,
            environment=started.environment if started else "",
            policy=started.policy if started else "",
            llm=str(models.get("llm") or models.get("chat") or ""),
            rl=started.rl if started else None,
            last_position=last_position,
            last_event_at=last_at,
        ))
    return summaries


def run_stats(recorder: SQLiteRecorder, run: str) -> RunStats:
    """Episodes, ended episodes, average return and success rate, from each episode's last event."""
    episodes, ended, average, success = recorder.conn.execute(
        EPISODE_STREAMS_SQL +
        " SELECT count(*), total(e.type = 'EpisodeEnded'),"
        " avg(CASE WHEN e.type = 'EpisodeEnded' THEN json_extract(e.payload, '$.total_reward') END),"
        " avg(CASE WHEN e.type = 'EpisodeEnded' THEN json_extract(e.payload, '$.success') END)"
        " FROM streams JOIN events AS e"
        " ON e.stream = s AND e.version = (SELECT max(version) FROM events WHERE stream = s)",
        stream_range(run),
    ).fetchone()
    return RunStats(episodes, int(ended), average, success)


def runs_summary(recorder: SQLiteRecorder) -> list[RunSummary]:
    """Every run with its episode figures: `run_heads` then `run_stats` for each."""
    return [attrs.evolve(head, stats=run_stats(recorder, head.run)) for head in run_heads(recorder)]


def run_episodes(recorder: SQLiteRecorder, run: str) -> list[EpisodeRow]:
    """The run's episodes in the order they started."""
    rows = recorder.conn.execute(
        EPISODE_STREAMS_SQL +
        " SELECT last.stream, s.position, e.type,"
        " json_extract(s.payload, '$.episode'), json_extract(s.payload, '$.epoch'),"
        " json_extract(s.payload, '$.split'), json_extract(s.payload, '$.task'),"
        " json_extract(e.payload, '$.steps'), json_extract(e.payload, '$.total_reward'),"
        " json_extract(e.payload, '$.success')"
        " FROM (SELECT s AS stream, (SELECT max(version) FROM events WHERE stream = s) AS v"
        "       FROM streams WHERE s IS NOT NULL) AS last"
        " JOIN events AS s ON s.stream = last.stream AND s.version = 1"
        " JOIN events AS e ON e.stream = last.stream AND e.version = last.v"
        " WHERE s.type = 'EpisodeStarted'"
        " ORDER BY s.position",
        stream_range(run),
    ).fetchall()
    episodes = []
    for stream, first, last_type, episode, epoch, split, task, steps, total, success in rows:
        if last_type != EpisodeEnded.TYPE:
            steps, total = recorder.conn.execute(
                "SELECT count(*), total(json_extract(payload, '$.reward')) FROM events"
                " WHERE stream = ? AND type = 'TransitionRecorded'",
                (stream,),
            ).fetchone()
            success = None
        episodes.append(EpisodeRow(
            stream=stream, episode=episode, epoch=epoch, split=split, task=task, steps=steps,
            total_return=float(total), success=None if success is None else bool(success),
            first_position=first,
        ))
    return episodes


def episode_detail(recorder: SQLiteRecorder, stream: str) -> EpisodeDetail:
    """The episode's events grouped into steps, with the running return after each."""
    recorded = recorder.read_stream(stream)
    started = ended = None
    grouped: dict[int, dict] = {}
    for item in recorded:
        event = item.event
        if isinstance(event, EpisodeStarted):
            started = event
        elif isinstance(event, EpisodeEnded):
            ended = event
        elif isinstance(event, (ExperienceRetrieved, LlmExchanged, TransitionRecorded)):
            step = grouped.setdefault(event.step, {"position": item.position, "retrieved": None,
                                                   "exchanges": [], "transition": None})
            if isinstance(event, ExperienceRetrieved):
                step["retrieved"] = event
            elif isinstance(event, LlmExchanged):
                step["exchanges"].append(event)
            else:
                step["transition"] = event
    steps = []
    running = 0.0
    for index in sorted(grouped):
        parts = grouped[index]
        if parts["transition"] is not None:
            running += parts["transition"].reward
        steps.append(Step(index, parts["position"], parts["retrieved"], tuple(parts["exchanges"]),
                          parts["transition"], running))
    return EpisodeDetail(run=stream.split("/", 1)[0], stream=stream, started=started,
                         steps=tuple(steps), ended=ended)


@attrs.frozen
class ActionValue:
    action: str
    q: float
    visits: int
    mean_reward: float


StateValues = dict[StateKey, tuple[ActionValue, ...]]


def _values(records: dict[StateKey, Record], keys: Iterable[StateKey]) -> StateValues:
    """Each key's actions, highest Q first; a state with no record maps to ()."""
    found: StateValues = {}
    for key in keys:
        record = records.get(key)
        actions = record.actions.items() if record is not None else ()
        found[key] = tuple(sorted(
            (ActionValue(name, stats.q, stats.visits, stats.mean_reward) for name, stats in actions),
            key=lambda a: (-a.q, a.action),
        ))
    return found


def memory_at(recorder: SQLiteRecorder, run: str, wanted: Sequence[tuple[int, Sequence[StateKey]]],
              cancelled: Callable[[], bool] = lambda: False) -> dict[int, StateValues]:
    """The Q-values of some (task, observation) states as they were at several log
    positions of a run: {position: {state: actions}}. One replay up to the earliest
    position, then the fold moves forward from one position to the next, so all the
    steps of an episode cost about one replay. Stops early (returning what it has)
    when `cancelled()` turns true."""
    found: dict[int, StateValues] = {}
    state = None
    for position, keys in sorted(wanted, key=lambda item: item[0]):
        if cancelled():
            break
        if state is None:  # under item capacity, evicting as the run did (its own matcher)
            state = replay_run(recorder, run, upto=position,
                               similarity=run_similarity(recorder, run, run_config(recorder, run)))
        else:
            state = fold_events(recorder.read_events(state.position, run=run, upto=position,
                                                     types=FOLDED_TYPES), state)
        found[position] = _values(state.records, keys)
    return found


def changes_since(recorder: SQLiteRecorder, after: int) -> tuple[int, frozenset[str]]:
    """(the log's last position, the runs with events after `after`): what live follow needs."""
    last = recorder.max_position()
    if last <= after:
        return last, frozenset()
    runs = recorder.conn.execute(
        "SELECT DISTINCT run FROM events WHERE position > ?", (after,)
    ).fetchall()
    return last, frozenset(run for (run,) in runs)


def age(recorded_at: str, now: datetime) -> str:
    """'5s', '3m', '2h', '4d': how long before `now` a timestamp was."""
    try:
        then = datetime.fromisoformat(recorded_at)
    except ValueError:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
