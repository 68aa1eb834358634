"""The RLEM fold (SPEC section 3): a run's events, in position order, become its memory.

`apply(recorded, state)` turns one event into the next state and `fold` does it for many;
live sessions and replay call the same code, so the two cannot differ. For speed the state
is updated in place and returned: the fold owns it, nobody else mutates it (listeners and
readers get live `Record`s to read, not to change). Nothing here does I/O, reads a clock or
draws a random number, so the same events always give the same state, byte for byte
(`FoldState.to_json`).

Online n-step Q-learning over a zero-initialised table keyed by (task, observation): the
update of occurrence t is applied when o_{t+n} arrives, or when its episode ends (a
terminated tail gets truncated returns, a truncated one also bootstraps from V(o_T)).
"""

from __future__ import annotations

import gc
import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import count, islice
from operator import attrgetter, itemgetter
from typing import Protocol

from replay.similarity import PairIndex, Similarity, TextSimilarity, similarities
from replay.state import ActionStats, Record, StateKey
from replay.trail import (
    Eviction,
    Fact,
    Pruning,
    TrailEntry,
    discount_powers,
    fact_from_data,
    fact_to_data,
    n_step_target,
    step_toward,
)
from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    Event,
    ExperienceRetrieved,
    LlmExchanged,
    PoolImported,
    RecordForgotten,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)
from store.mapper import canonical_json
from store.recorder import Recorded


# The fold's own version: bump it whenever its arithmetic, `FoldState.to_json`, the default
# similarity or a matcher's scores (which decide evictions under item capacity) change, so
# snapshots written by older code are simply not used (replay/snapshots.py).
FOLD_VERSION = 3

class FoldError(ValueError):
    """The events cannot be folded: out of order, or a transition outside an open episode."""


OVERFLOW = ("the memory holds a value beyond float range (a Q or a reward sum overflowed to "
            "inf): the run's rewards are too large, and JSON cannot hold such a value")


def json_text(value: object, **options) -> str:
    """JSON of what the fold built (exports, diffs): a value that overflowed is a
    `FoldError`, never the invalid JSON `Infinity`."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, **options)
    except ValueError:
        raise FoldError(OVERFLOW) from None


class FoldListener(Protocol):
    """Follows the memory incrementally (a retrieval index, say). Called after the change."""

    def record_added(self, record: Record) -> None: ...

    def record_changed(self, record: Record) -> None: ...

    def record_removed(self, record: Record, reason: str) -> None: ...


# An occurrence waiting for its update: (observation, action, reason, reward, position,
# step, length of the episode's action history before it, r_{t-1}, sum of rewards before t).
Occurrence = tuple[str, str, str, float, int, int, int, float, float]


class _Episode:
    """An open episode: its task, the occurrences whose update waits for o_{t+n}, and the
    running history the records show (actions so far, last reward, total reward)."""

    __slots__ = ("task", "pending", "history", "last_reward", "total_reward")

    def __init__(self, task: str, pending: Iterable[Occurrence] = (),
                 history: Iterable[tuple[str, str]] = (), last_reward: float = 0.0,
                 total_reward: float = 0.0):
        self.task = task
        self.pending: deque[Occurrence] = deque(pending)
        self.history: list[tuple[str, str]] = list(history)
        self.last_reward = last_reward
        self.total_reward = total_reward


class FoldState:
    """Everything replay needs to continue from `position` (the last event applied).

    `records` is the merged view retrieval sees. Under double Q, `tables` holds the two
    tables (key -> action -> ActionStats; an action is always in both, zero-initialised)
    and each merged action has Q and mean reward averaged over the two tables
    ((a + b) / 2) and visits summed. `index` keeps the stored records' pairwise
    similarities (item capacity only). `facts` lists every pruning and eviction (capacity
    or RecordForgotten), in order; `trails` (only with `trail=True`) every Q change per
    (task, observation, action).
    `seq` numbers records and actions as they are created (ages, for ties); `occurrences`
    counts the updates applied (double Q: occurrence k updates table k mod 2).
    """

    __slots__ = ("config", "position", "records", "episodes", "tables", "index", "trails",
                 "facts", "seq", "occurrences", "similarity", "listeners", "powers", "frozen",
                 "mean", "alpha", "gamma", "handlers")

    def __init__(self, config: RLConfig, *, similarity: Similarity | None = None,
                 trail: bool = False, listeners: Iterable[FoldListener] = ()):
        self.config = config
        self.position = 0
        self.records: dict[StateKey, Record] = {}
        self.episodes: dict[str, _Episode] = {}
        self.frozen: set[str] = set()  # open test-split episodes: the memory does not learn
        self.tables: tuple[dict, dict] | None = ({}, {}) if config.double_q else None
        self.index: PairIndex | None = PairIndex() if config.item_capacity is not None else None
        self.trails: dict[tuple[str, str, str], list[TrailEntry]] | None = {} if trail else None
        self.facts: list[Fact] = []
        self.seq = 0
        self.occurrences = 0
        self.similarity: Similarity = similarity if similarity is not None else TextSimilarity()
        self.listeners: tuple[FoldListener, ...] = tuple(listeners)
        # Precomputed for the hot path.
        self.powers = discount_powers(config.gamma, config.n_step)
        self.gamma = config.gamma
        self.mean = config.update_mode == "mean"
        self.alpha = config.learning_rate
        plain = (config.n_step == 1 and not config.double_q and not trail
                 and config.action_capacity is None and config.item_capacity is None)
        self.handlers = {**_HANDLERS,
                         TransitionRecorded: _plain_transition if plain else _on_transition}

    # ------------------------------------------------------------------ snapshots

    def to_json(self) -> str:
        """Canonical JSON of the whole state; floats round-trip exactly (repr).

        Compact, so that a snapshot loads fast: records (and double-Q tables) are stored
        column by column, their strings once each in `strings` (first-use order) and
        referenced by index. See `_pack_records`. The rare parts are stored plainly.
        """
        try:
            return self._canonical_json()
        except ValueError:
            raise FoldError(OVERFLOW) from None

    def _canonical_json(self) -> str:
        strings: dict[str, int] = {}
        return canonical_json({
            "config": self.config.to_dict(),
            "position": self.position,
            "seq": self.seq,
            "occurrences": self.occurrences,
            "records": _pack_records(list(self.records.values()), strings),
            "tables": None if self.tables is None else [
                {"keys": [[strings.setdefault(s, len(strings)) for s in key] for key in table],
                 "actions": _pack_actions(list(table.values()), strings)}
                for table in self.tables
            ],
            "strings": list(strings),  # after the parts above: they fill it
            "episodes": {
                episode: {"task": ep.task, "pending": [list(o) for o in ep.pending],
                          "history": [list(h) for h in ep.history],
                          "last_reward": ep.last_reward, "total_reward": ep.total_reward}
                for episode, ep in self.episodes.items()
            },
            "frozen": sorted(self.frozen),
            "index": None if self.index is None else self.index.to_data(),
            "trail": self.trails is not None,
            "trails": None if self.trails is None else [
                [*k, [e.to_data() for e in entries]] for k, entries in self.trails.items()
            ],
            "facts": [fact_to_data(f) for f in self.facts],
        })

    @classmethod
    def from_json(cls, text: str, *, similarity: Similarity | None = None,
                  listeners: Iterable[FoldListener] = ()) -> FoldState:
        """The state `to_json` wrote. Give the similarity the original fold had, if not
        the default: it is code, not data."""
        with gc_paused():
            return cls._from_data(json.loads(text), similarity, listeners)

    @classmethod
    def _from_data(cls, data: dict, similarity: Similarity | None,
                   listeners: Iterable[FoldListener]) -> FoldState:
        state = cls(RLConfig.from_dict(data["config"]), similarity=similarity,
                    trail=data["trail"], listeners=listeners)
        state.position, state.seq, state.occurrences = data["position"], data["seq"], data["occurrences"]
        strings = data["strings"]
        state.records = _unpack_records(data["records"], strings)
        if state.tables is not None:
            state.tables = tuple(
                dict(zip([tuple(map(strings.__getitem__, key)) for key in table["keys"]],
                         _unpack_actions(table["actions"], strings)))
                for table in data["tables"])
        for episode, ep in data["episodes"].items():
            state.episodes[episode] = _Episode(
                ep["task"], (tuple(o) for o in ep["pending"]), (tuple(h) for h in ep["history"]),
                ep["last_reward"], ep["total_reward"])
        state.frozen = set(data["frozen"])
        if state.index is not None:
            state.index = PairIndex.from_data(data["index"])
        if state.trails is not None:
            for task, observation, action, entries in data["trails"]:
                state.trails[(task, observation, action)] = [TrailEntry.from_data(e) for e in entries]
        state.facts = [fact_from_data(f) for f in data["facts"]]
        return state


def initial_state(config: RLConfig, *, similarity: Similarity | None = None, trail: bool = False,
                  listeners: Iterable[FoldListener] = ()) -> FoldState:
    """An empty memory for `config`. `similarity` serves the item capacity (default: text
    similarity); `trail=True` keeps every Q change for the audit screens."""
    return FoldState(config, similarity=similarity, trail=trail, listeners=listeners)


def apply(recorded: Recorded, state: FoldState) -> FoldState:
    """Fold one event into `state` (in place) and return it."""
    return fold_events(((recorded.position, recorded.event),), state)


def fold(recorded_events: Iterable[Recorded], state: FoldState) -> FoldState:
    """Fold events in position order into `state` (in place) and return it."""
    return fold_events(map(_position_event, recorded_events), state)


_position_event = attrgetter("position", "event")


def fold_events(events: Iterable[tuple[int, Event]], state: FoldState) -> FoldState:
    """`fold` over (position, event) pairs (`SQLiteRecorder.read_events`, which replay uses)."""
    handlers = state.handlers
    last = state.position
    for position, event in events:
        if position <= last:
            raise FoldError(f"event at position {position} is not after the state's "
                            f"position {last}")
        handler = handlers.get(event.__class__)
        if handler is None:
            raise FoldError(f"the fold does not know {type(event).__name__} (position {position})")
        handler(state, event, position)
        state.position = last = position
    return state


def fold_counting(events: Iterable[tuple[int, Event]], state: FoldState) -> tuple[FoldState, int]:
    """`fold_events`, also saying how many events it folded. Counted in C rather than by a
    Python generator (a frame per event): zip advances the counter once per event it
    passes on, so the counter's next value is their number."""
    counter = count()
    state = fold_events(map(itemgetter(0), zip(events, counter)), state)
    return state, next(counter)


def qtable_rows(state: FoldState) -> list[dict]:
    """SPEC section 6 export rows, sorted by (task, observation, action) in code-point order."""
    rows = [
        {"task": r.task, "observation": r.observation, "action": a, "q": s.q,
         "visits": s.visits, "mean_reward": s.mean_reward}
        for r in state.records.values() for a, s in r.actions.items()
    ]
    rows.sort(key=lambda row: (row["task"], row["observation"], row["action"]))
    return rows


def trail_for(state: FoldState, key: StateKey, action: str) -> list[TrailEntry]:
    """The changes that made the current Q(key, action), oldest first; `replay_trail` of
    them gives that Q exactly. Empty for an unknown pair; a pruned or evicted action's trail
    goes with it (its removal is in `state.facts`)."""
    if state.trails is None:
        raise FoldError("this fold keeps no trail: start it with trail=True")
    return list(state.trails.get((key[0], key[1], action), ()))


# --------------------------------------------------------------------------- event handlers


def _ignore(state: FoldState, event: Event, position: int) -> None:
    """RunStarted (the config is given to initial_state), retrievals, LLM exchanges."""


def _on_episode_started(state: FoldState, event: EpisodeStarted, position: int) -> None:
    if event.episode in state.episodes or event.episode in state.frozen:
        raise FoldError(f"episode {event.episode!r} started again at position {position} "
                        "while still open")
    if event.split == "test":  # test episodes use the memory frozen (SPEC section 5)
        state.frozen.add(event.episode)
        return
    state.episodes[event.episode] = _Episode(event.task)


def _on_episode_ended(state: FoldState, event: EpisodeEnded, position: int) -> None:
    # An episode ended without a terminated/truncated transition leaves its last
    # occurrences unapplied: how it ended (and so their returns) is unknown.
    state.episodes.pop(event.episode, None)
    state.frozen.discard(event.episode)


def _open_episode(state: FoldState, event: TransitionRecorded, position: int) -> _Episode | None:
    """The transition's open episode; None for a test episode (nothing to learn)."""
    ep = state.episodes.get(event.episode)
    if ep is None and event.episode not in state.frozen:
        raise FoldError(f"transition at position {position} belongs to episode "
                        f"{event.episode!r}, which is not open")
    return ep


def _on_transition(state: FoldState, event: TransitionRecorded, position: int) -> None:
    ep = state.episodes.get(event.episode) or _open_episode(state, event, position)
    if ep is None:
        return
    reward = event.reward
    history = ep.history
    pending = ep.pending
    pending.append((event.observation, event.action, event.reason, reward, position, event.step,
                    len(history), ep.last_reward, ep.total_reward))
    history.append((event.action, event.reason))
    ep.last_reward = reward
    ep.total_reward += reward
    if event.terminated or event.truncated:
        del state.episodes[event.episode]
        bootstrap = event.next_observation if event.truncated else None
        tail = list(pending)
        for i, occurrence in enumerate(tail):
            rewards = tuple(o[3] for o in tail[i:])
            _apply_occurrence(state, ep, event.episode, occurrence, rewards, bootstrap, position)
    elif len(pending) == state.config.n_step:
        occurrence = pending.popleft()
        rewards = (occurrence[3], *(o[3] for o in pending))
        _apply_occurrence(state, ep, event.episode, occurrence, rewards, event.next_observation,
                          position)


def _plain_transition(state: FoldState, event: TransitionRecorded, position: int) -> None:
    """The hot path: n = 1, one table, no capacities, no trail. The same arithmetic as
    `_on_transition` and `_apply_occurrence` (n_step_target, step_toward) written out; the
    property tests hold the two to the same bytes."""
    episode = event.episode
    ep = state.episodes.get(episode) or _open_episode(state, event, position)
    if ep is None:
        return
    records = state.records
    task = ep.task
    reward = event.reward
    terminated = event.terminated
    if terminated:
        g = reward
    else:
        following = records.get((task, event.next_observation))
        v = None
        if following is not None:
            for other in following.actions.values():  # V = Record.value(), a loop is faster
                if v is None or other.q > v:
                    v = other.q
        g = reward + state.gamma * (0.0 if v is None else v)
    observation = event.observation
    key = (task, observation)
    record = records.get(key)
    added = record is None
    if added:
        record = records[key] = Record(task, observation, created_seq=state.seq)
        state.seq += 1
    state.occurrences += 1
    action = event.action
    actions = record.actions
    stats = actions.get(action)
    if stats is None:
        stats = actions[action] = ActionStats(added_seq=state.seq)
        state.seq += 1
    visits = stats.visits + 1
    stats.visits = visits
    if state.mean:
        q = stats.q
        stats.q = q + (g - q) / visits
        mean_reward = stats.mean_reward
        stats.mean_reward = mean_reward + (reward - mean_reward) / visits
    else:
        alpha = state.alpha
        q = stats.q
        stats.q = q + alpha * (g - q)
        mean_reward = stats.mean_reward
        stats.mean_reward = mean_reward + alpha * (reward - mean_reward)
    stats.last_position = position
    reason = stats.reason = event.reason
    history = ep.history
    record.visits += 1
    record.action_history = tuple(history)
    record.last_reward = ep.last_reward
    total = ep.total_reward
    record.total_reward = total
    history.append((action, reason))
    ep.last_reward = reward
    ep.total_reward = total + reward
    if terminated or event.truncated:
        del state.episodes[episode]
    if state.listeners:
        _announce(state, record, added)


def _on_pool_imported(state: FoldState, event: PoolImported, position: int) -> None:
    """Seed records with the pool's values; a record already present is replaced (its
    actions the pool lacks leave a fact, like a pruning: every removal is explained)."""
    tables = state.tables
    for seed in event.records:
        key = (seed.task, seed.observation)
        record = state.records.get(key)
        added = record is None
        if added:
            record = _insert(state, key, position)
            if record is None:
                continue
        else:
            kept = {pool_action.action for pool_action in seed.actions}
            state.facts.extend(
                Pruning(position=position, task=key[0], observation=key[1], action=action, q=stats.q,
                        mean_reward=stats.mean_reward, visits=stats.visits,
                        reason=f"the pool imported from {event.source!r} replaces this record, without this action")
                for action, stats in record.actions.items() if action not in kept)
            _drop_trails(state, key, record.actions)
            record.actions = {}
            if tables is not None:
                tables[0][key], tables[1][key] = {}, {}
        record.visits = seed.visits
        record.action_history = seed.action_history
        record.last_reward = seed.last_reward
        record.total_reward = seed.total_reward
        record.key = seed.key
        record.record_id = seed.record_id
        for pool_action in seed.actions:
            _seed_action(state, key, record, pool_action, position)
        _prune(state, key, record, position)
        if state.listeners:
            _announce(state, record, added)


def _on_record_forgotten(state: FoldState, event: RecordForgotten, position: int) -> None:
    key = (event.task, event.observation)
    if key in state.records:
        _remove(state, key, "forgotten", event.reason or "forgotten", position)


# TransitionRecorded's handler depends on the config: see FoldState.handlers.
_HANDLERS: dict[type, Callable[[FoldState, Event, int], None]] = {
    RunStarted: _ignore,
    ExperienceRetrieved: _ignore,
    LlmExchanged: _ignore,
    EpisodeStarted: _on_episode_started,
    EpisodeEnded: _on_episode_ended,
    PoolImported: _on_pool_imported,
    RecordForgotten: _on_record_forgotten,
}

# The event types that can change the memory; replay need not read (or decode) the others.
FOLDED_TYPES = frozenset({TransitionRecorded.TYPE} | {
    cls.TYPE for cls, handler in _HANDLERS.items() if handler is not _ignore})


# --------------------------------------------------------------------------- updates


def _apply_occurrence(state: FoldState, ep: _Episode, episode: str, occurrence: Occurrence,
                      rewards: tuple[float, ...], bootstrap: str | None, position: int) -> None:
    """Apply one occurrence's return (the general path: any n, double Q, capacities, trail).

    V is read before the record is inserted: the return is the memory's estimate at the
    moment the update starts, even if making room evicts the bootstrap state.
    """
    observation, action, reason, reward, occurred, step, history_length, last_reward, total_reward = occurrence
    task = ep.task
    key = (task, observation)
    tables = state.tables
    table = state.occurrences & 1 if tables is not None else 0
    v = source = via = None
    if bootstrap is not None:
        source = (task, bootstrap)
        v, via = _value(state, source, table)
    g = n_step_target(rewards, state.powers, v)
    record = state.records.get(key)
    added = record is None
    if added:
        record = _insert(state, key, position)
        if record is None:
            return
    state.occurrences += 1
    stats = record.actions.get(action)
    if stats is None:
        stats = _add_action(state, key, record, action)
    target = stats if tables is None else tables[table][key][action]
    config = state.config
    old_q = target.q
    visits = target.visits + 1
    target.visits = visits
    target.q = step_toward(old_q, g, visits, config.update_mode, config.learning_rate)
    target.mean_reward = step_toward(target.mean_reward, reward, visits, config.update_mode,
                                     config.learning_rate)
    target.last_position = position
    target.reason = reason
    if tables is not None:
        _merge(stats, tables[0][key][action], tables[1][key][action])
        stats.last_position = position
        stats.reason = reason
    record.visits += 1
    record.action_history = tuple(ep.history[:history_length])
    record.last_reward = last_reward
    record.total_reward = total_reward
    if state.trails is not None:
        state.trails.setdefault((task, observation, action), []).append(TrailEntry(
            kind="update", position=position, occurrence=occurred, episode=episode, step=step,
            table=table, rewards=rewards, gamma=config.gamma,
            discount=state.powers[len(rewards)] if v is not None else 0.0,
            bootstrap=v, bootstrap_from=source, bootstrap_action=via, target=g,
            old_q=old_q, new_q=target.q, visits=visits,
        ))
    _prune(state, key, record, position)
    if state.listeners:
        _announce(state, record, added)


def _value(state: FoldState, key: StateKey, table: int) -> tuple[float, str | None]:
    """V(key) for a bootstrap, 0 for a state without record. Under double Q: the other
    table's Q at this table's argmax (the earliest added action on a tie), and that action."""
    record = state.records.get(key)
    if record is None or not record.actions:
        return 0.0, None
    if state.tables is None:
        return record.value(), None
    best_action, best_q = None, 0.0
    for action, stats in state.tables[table][key].items():
        if best_action is None or stats.q > best_q:
            best_action, best_q = action, stats.q
    return state.tables[1 - table][key][best_action].q, best_action


def _merge(merged: ActionStats, a: ActionStats, b: ActionStats) -> None:
    merged.q = (a.q + b.q) / 2
    merged.visits = a.visits + b.visits
    merged.mean_reward = (a.mean_reward + b.mean_reward) / 2


def _add_action(state: FoldState, key: StateKey, record: Record, action: str) -> ActionStats:
    """A new action: Q 0, mean reward 0, visits 0 (in both tables under double Q)."""
    stats = record.actions[action] = ActionStats(added_seq=state.seq)
    if state.tables is not None:
        for table in state.tables:
            table[key][action] = ActionStats(added_seq=state.seq)
    state.seq += 1
    return stats


def _seed_action(state: FoldState, key: StateKey, record: Record, seed, position: int) -> None:
    """An imported action's values. Under double Q both tables get its Q and mean reward
    and its visits are split between them (ceil to table 0), so the merged view shows the
    pool's values."""
    stats = _add_action(state, key, record, seed.action)
    tables = state.tables
    if tables is None:
        parts = [(stats, seed.visits)]
    else:
        parts = [(tables[0][key][seed.action], seed.visits - seed.visits // 2),
                 (tables[1][key][seed.action], seed.visits // 2)]
    trail = []
    for table, (target, visits) in enumerate(parts):
        target.q, target.visits, target.mean_reward = seed.q, visits, seed.mean_reward
        target.last_position, target.reason = position, seed.reason
        trail.append(TrailEntry(
            kind="seed", position=position, occurrence=position, episode="", step=0, table=table,
            rewards=(), gamma=state.config.gamma, discount=0.0, bootstrap=None,
            bootstrap_from=None, bootstrap_action=None, target=seed.q, old_q=0.0,
            new_q=seed.q, visits=visits,
        ))
    if tables is not None:
        _merge(stats, parts[0][0], parts[1][0])
        stats.last_position, stats.reason = position, seed.reason
    if state.trails is not None:
        state.trails[(key[0], key[1], seed.action)] = trail


def _prune(state: FoldState, key: StateKey, record: Record, position: int) -> None:
    """Action capacity K: drop the lowest mean reward, the earliest added on a tie."""
    capacity = state.config.action_capacity
    if capacity is None:
        return
    while len(record.actions) > capacity:
        action, stats = min(record.actions.items(),
                            key=lambda item: (item[1].mean_reward, item[1].added_seq))
        tie = sum(s.mean_reward == stats.mean_reward for s in record.actions.values()) > 1
        del record.actions[action]
        if state.tables is not None:
            for table in state.tables:
                del table[key][action]
        _drop_trails(state, key, (action,))
        state.facts.append(Pruning(
            position=position, task=key[0], observation=key[1], action=action, q=stats.q,
            mean_reward=stats.mean_reward, visits=stats.visits,
            reason=(f"action capacity {capacity} exceeded: lowest mean reward "
                    f"{stats.mean_reward!r}" + (", added earliest among equals" if tie else "")),
        ))


# --------------------------------------------------------------------------- records


def _insert(state: FoldState, key: StateKey, position: int) -> Record | None:
    """A new record for `key`, making room under the item capacity; None if refused."""
    record = Record(key[0], key[1], created_seq=state.seq)
    index = state.index
    if index is not None:
        stored = index.stored()
        values = similarities(state.similarity, record, [state.records[k] for k in stored])
        row = dict(zip(stored, values))
        if len(stored) >= state.config.item_capacity:
            victim = _make_room(state, record, row, position)
            if victim is None:
                return None
            del row[victim]
        index.add(key, row)
    state.seq += 1
    state.records[key] = record
    if state.tables is not None:
        state.tables[0][key], state.tables[1][key] = {}, {}
    return record


def _make_room(state: FoldState, record: Record, row: dict[StateKey, float],
               position: int) -> StateKey | None:
    """Item capacity M is reached: refuse the new record if it is more similar to a stored
    one than any stored pair is to each other (always, with M = 1: there is no pair);
    otherwise evict the member of the closest pair with more visits (summed over its
    actions), the older one on a tie. Returns the evicted key, None if refused."""
    records = state.records
    capacity = state.config.item_capacity

    def age(key: StateKey) -> int:
        return records[key].created_seq

    near, near_value = min(row.items(), key=lambda item: (-item[1], age(item[0])))
    closest = state.index.closest_pair(age)
    if closest is None or near_value > closest[0]:
        pair = "no two stored records" if closest is None else (
            f"any two stored records ({closest[0]!r})")
        state.facts.append(Eviction(
            position=position, task=record.task, observation=record.observation, kind="refused",
            reason=(f"memory full ({capacity} records): the new record is more similar to "
                    f"{near!r} ({near_value!r}) than {pair}"),
            similarity=near_value, partner=near,
        ))
        return None
    value, older, newer = closest
    visits_older, visits_newer = _total_visits(records[older]), _total_visits(records[newer])
    victim, partner = (older, newer) if visits_older >= visits_newer else (newer, older)
    why = ("more visits" if visits_older != visits_newer else "equal visits, older")
    _remove(state, victim, "evicted",
            (f"memory full ({capacity} records): of the most similar stored pair ({value!r}), "
             f"this record has {why} ({max(visits_older, visits_newer)} vs "
             f"{min(visits_older, visits_newer)})"),
            position, similarity=value, partner=partner)
    return victim


def _remove(state: FoldState, key: StateKey, kind: str, reason: str, position: int, *,
            similarity: float | None = None, partner: StateKey | None = None) -> None:
    record = state.records.pop(key)
    if state.index is not None:
        state.index.remove(key)
    if state.tables is not None:
        for table in state.tables:
            del table[key]
    _drop_trails(state, key, record.actions)
    state.facts.append(Eviction(
        position=position, task=key[0], observation=key[1], kind=kind, reason=reason,
        similarity=similarity, partner=partner, visits=_total_visits(record),
    ))
    for listener in state.listeners:
        listener.record_removed(record, reason)


def _total_visits(record: Record) -> int:
    return sum(s.visits for s in record.actions.values())


def _drop_trails(state: FoldState, key: StateKey, actions: Iterable[str]) -> None:
    if state.trails is not None:
        for action in actions:
            state.trails.pop((key[0], key[1], action), None)


def _announce(state: FoldState, record: Record, added: bool) -> None:
    for listener in state.listeners:
        (listener.record_added if added else listener.record_changed)(record)


# --------------------------------------------------------------------------- JSON


# Snapshots hold up to ~10^4 records of ~1 KB: a dict per record and per action, with its
# keys repeated, made loading them cost more than folding the events after them. So the
# records are stored as columns (one list per field, all of the same length) and every
# string they hold (task, observation, action, reason, history step) as an index into the
# state's string table. Columns are built and read back with map/zip, not per-field lookups.


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused. Loading a snapshot creates ~10^5 container
    objects and a fold creates and drops several per event, none in a cycle; the collector,
    run every few hundred of them over ever more objects, would only slow them (loading by
    up to 2x, a long fold by about a tenth)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _pack_records(records: list[Record], strings: dict[str, int]) -> dict:
    """Records as columns. `history` lists indices into `steps` (each step is a tuple of
    strings, stored as string indices: an (action, reason) pair from the fold, any length
    from a pool); `key` keeps a pool's key tuple as plain strings (rare, short)."""
    ix = strings.setdefault
    steps: dict[tuple[str, ...], int] = {}
    step = steps.setdefault
    # Actions first, so that their few names and reasons get the short indices.
    actions = _pack_actions([r.actions for r in records], strings)
    return {
        "task": [ix(r.task, len(strings)) for r in records],
        "observation": [ix(r.observation, len(strings)) for r in records],
        "created_seq": [r.created_seq for r in records],
        "visits": [r.visits for r in records],
        "history": [[step(h, len(steps)) for h in r.action_history] for r in records],
        "steps": [[ix(s, len(strings)) for s in h] for h in steps],
        "last_reward": [r.last_reward for r in records],
        "total_reward": [r.total_reward for r in records],
        "key": [list(r.key) for r in records],
        "record_id": [r.record_id for r in records],
        "actions": actions,
    }


def _unpack_records(data: dict, strings: list[str]) -> dict[StateKey, Record]:
    text = strings.__getitem__
    tasks, observations = list(map(text, data["task"])), list(map(text, data["observation"]))
    steps = [tuple(map(text, s)) for s in data["steps"]]
    histories = [tuple(map(steps.__getitem__, h)) for h in data["history"]]
    # Positional, in Record's field order.
    records = map(Record, tasks, observations, _unpack_actions(data["actions"], strings),
                  data["created_seq"], data["visits"], histories, data["last_reward"],
                  data["total_reward"], map(tuple, data["key"]), data["record_id"])
    return dict(zip(zip(tasks, observations), records))


def _pack_actions(rows: list[dict[str, ActionStats]], strings: dict[str, int]) -> dict:
    """The actions of many records as columns: `count` per record, then one entry per
    action, record after record, in each record's order."""
    ix = strings.setdefault
    names = [ix(a, len(strings)) for row in rows for a in row]
    stats = [s for row in rows for s in row.values()]
    return {
        "count": [len(row) for row in rows],
        "action": names,
        "q": [s.q for s in stats],
        "visits": [s.visits for s in stats],
        "mean_reward": [s.mean_reward for s in stats],
        "added_seq": [s.added_seq for s in stats],
        "last_position": [s.last_position for s in stats],
        "reason": [ix(s.reason, len(strings)) for s in stats],
    }


def _unpack_actions(data: dict, strings: list[str]) -> list[dict[str, ActionStats]]:
    text = strings.__getitem__
    names = map(text, data["action"])
    # Positional, in ActionStats' field order.
    stats = map(ActionStats, data["q"], data["visits"], data["mean_reward"], data["added_seq"],
                data["last_position"], map(text, data["reason"]))
    return [dict(zip(islice(names, n), islice(stats, n))) for n in data["count"]]
