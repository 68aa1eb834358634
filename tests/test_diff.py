"""Table diffs on hand-built tables: what was added, removed, changed, and in which order."""

from __future__ import annotations

import json

from replay.diff import diff_rows


def row(observation: str, action: str, q: float, visits: int = 1, mean_reward: float = 0.0,
        task: str = "t") -> dict:
    return {"task": task, "observation": observation, "action": action, "q": q, "visits": visits,
            "mean_reward": mean_reward}


A = [
    row("home", "search", 0.5),
    row("home", "quit", -0.25),
    row("item", "buy", 1.0, visits=2),
    row("item", "back", 0.0),
    row("gone", "x", 0.75),          # its record disappears
    row("same", "y", 0.3, visits=4),
]
B = [
    row("home", "search", 0.375),     # changed by -0.125
    row("item", "buy", 0.2, visits=3),  # changed by -0.8
    row("item", "back", 0.0, visits=2),  # visits changed only: delta 0
    row("item", "review", 0.9),       # added to an existing record, +0.9
    row("new", "z", -0.125),          # a new record, -0.125
    row("same", "y", 0.3, visits=4),
]


def test_added_removed_changed_sorted_by_absolute_delta() -> None:
    result = diff_rows(A, B)
    assert result.records_added == [("t", "new")]
    assert result.records_removed == [("t", "gone")]
    listed = [(c.status, c.observation, c.action, round(c.delta, 12)) for c in result.actions]
    assert listed == [
        ("added", "item", "review", 0.9),
        ("changed", "item", "buy", -0.8),
        ("removed", "gone", "x", -0.75),
        ("removed", "home", "quit", 0.25),   # Q -0.25 -> absent (0): +0.25
        ("changed", "home", "search", -0.125),
        ("added", "new", "z", -0.125),        # equal |delta|: key order
        ("changed", "item", "back", 0.0),
    ]
    assert result.unchanged == 1
    assert (result.count("added"), result.count("removed"), result.count("changed")) == (2, 2, 3)
    buy = result.actions[1]
    assert (buy.q_a, buy.q_b, buy.visits_a, buy.visits_b) == (1.0, 0.2, 2, 3)
    removed = result.actions[2]
    assert (removed.q_b, removed.visits_b, removed.mean_reward_b) == (None, None, None)


def test_identical_tables_and_json_form() -> None:
    same = diff_rows(A, list(reversed(A)))
    assert same.actions == [] and same.records_added == same.records_removed == [] and same.unchanged == len(A)
    data = json.loads(json.dumps(diff_rows(A, B).to_dict()))
    assert data["records_added"] == [["t", "new"]]
    first = data["actions"][0]
    assert first == {"status": "added", "task": "t", "observation": "item", "action": "review", "q_a": None,
                     "q_b": 0.9, "visits_a": None, "visits_b": 1, "mean_reward_a": None,
                     "mean_reward_b": 0.0, "delta": 0.9}


def test_same_observation_under_two_tasks_is_two_records() -> None:
    result = diff_rows([row("o", "a", 1.0, task="t1")], [row("o", "a", 1.0, task="t2")])
    assert result.records_added == [("t2", "o")] and result.records_removed == [("t1", "o")]
    assert [c.status for c in result.actions] == ["removed", "added"]  # equal |delta|: key order
