"""Events validate themselves when constructed: a bad value raises EventValidationError
naming the field and the value, before anything reaches the log."""

from __future__ import annotations

import math

import pytest

from store.events import (
    EpisodeEnded,
    EpisodeStarted,
    EventValidationError,
    ExperienceRetrieved,
    LlmExchanged,
    PoolAction,
    PoolImported,
    PoolRecord,
    RLConfig,
    RunStarted,
    TransitionRecorded,
)


def transition(**changes):
    fields = {"episode": "e", "step": 0, "observation": "o", "action": "a", "reward": 0.0,
              "next_observation": "o2"}
    return TransitionRecorded(**{**fields, **changes})


@pytest.mark.parametrize("reward, message", [
    (math.nan, "reward must be finite, got nan"),
    (math.inf, "reward must be finite, got inf"),
    (-math.inf, "reward must be finite, got -inf"),
    ("1.0", "reward must be a number, got '1.0'"),
    (None, "reward must be a number, got None"),
    (True, "reward must be a number, got True"),
])
def test_rewards_must_be_finite_numbers(reward, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        transition(reward=reward)
    with pytest.raises(EventValidationError, match=message.replace("reward", "total_reward")):
        EpisodeEnded("e", reward, True)


def test_integer_rewards_become_floats() -> None:
    assert transition(reward=1).reward == 1.0 and isinstance(transition(reward=1).reward, float)


@pytest.mark.parametrize("build, message", [
    (lambda: transition(episode=""), "episode must not be empty"),
    (lambda: transition(event_id=""), "event_id must not be empty"),
    (lambda: EpisodeStarted("", "task"), "episode must not be empty"),
    (lambda: RunStarted(""), "run must not be empty"),
    (lambda: RunStarted("a/b"), "run name 'a/b' must not contain '/'"),
    (lambda: transition(episode=7), "episode must be a string, got int"),
])
def test_ids_must_be_nonempty_strings(build, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        build()


def test_a_transition_is_terminated_or_truncated_not_both() -> None:
    with pytest.raises(EventValidationError, match="cannot be both terminated and truncated"):
        transition(terminated=True, truncated=True)
    assert transition(truncated=True).done and transition(terminated=True).done
    assert not transition().done


@pytest.mark.parametrize("changes, message", [
    ({"terminated": 1}, "terminated must be true or false, got 1"),
    ({"step": -1}, "step must be >= 0, got -1"),
    ({"step": 1.5}, "step must be an integer, got 1.5"),
    ({"available_actions": "click"}, "available_actions: expected a list of strings, got 'click'"),
    ({"available_actions": ["ok", 3]}, "available_actions: expected a list of strings, got an item 3"),
])
def test_transition_fields_are_checked(changes: dict, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        transition(**changes)


def test_split_is_train_or_test() -> None:
    with pytest.raises(EventValidationError, match="split must be one of train, test, got 'validation'"):
        EpisodeStarted("e", "task", split="validation")


@pytest.mark.parametrize("options, message", [
    ({"gamma": 1.5}, r"gamma must be in \[0, 1\], got 1.5"),
    ({"gamma": -0.1}, r"gamma must be in \[0, 1\], got -0.1"),
    ({"gamma": math.nan}, "gamma must be finite"),
    ({"learning_rate": 0}, r"learning_rate must be in \(0, 1\], got 0.0"),
    ({"learning_rate": 2.0}, r"learning_rate must be in \(0, 1\], got 2.0"),
    ({"n_step": 0}, "n_step must be >= 1, got 0"),
    ({"update_mode": "max"}, "update_mode must be one of mean, const, got 'max'"),
    ({"action_capacity": 0}, "action_capacity must be >= 1, got 0"),
    ({"item_capacity": 2.5}, "item_capacity must be an integer, got 2.5"),
    ({"double_q": "yes"}, "double_q must be true or false, got 'yes'"),
])
def test_rl_config_values_are_checked(options: dict, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        RLConfig(**options)
    with pytest.raises(EventValidationError, match=message):  # also when read from a RunStarted row
        RunStarted("r", rl=options)


def test_unknown_rl_options_are_named() -> None:
    with pytest.raises(EventValidationError, match="unknown RL option\\(s\\): alpha, beta"):
        RLConfig.from_dict({"beta": 1, "alpha": 2})


@pytest.mark.parametrize("build, message", [
    (lambda: LlmExchanged("e", 0, "m", messages=[{"role": "user", "content": "x", "score": math.nan}]),
     r"messages\[0\].score holds a non-finite number nan"),
    (lambda: LlmExchanged("e", 0, "m", usage={1: 2}), "usage has a non-string key 1"),
    (lambda: ExperienceRetrieved("e", 0, "t", "o", records=[{"ids": {1, 2}}]),
     r"records\[0\].ids holds set, which is not JSON data"),
    (lambda: RunStarted("r", options={"when": object()}), "options.when holds object, which is not JSON data"),
])
def test_free_form_json_must_be_plain_finite_json(build, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        build()


def test_json_fields_are_normalised_so_they_equal_themselves_after_a_round_trip() -> None:
    event = ExperienceRetrieved("e", 0, "t", "o", records=[("a", 1)])
    assert event.records == [["a", 1]]


@pytest.mark.parametrize("build, message", [
    (lambda: PoolAction("a", visits=-1), "visits must be >= 0, got -1"),
    (lambda: PoolAction("a", q=math.inf), "q must be finite"),
    (lambda: PoolRecord("t", "o", [], record_id=-2), "record_id must be >= 0, got -2"),
    (lambda: PoolRecord("t", "o", [], key="t"), "key: expected a list of strings, got 't'"),
    (lambda: PoolImported("p", "csv", []), "format must be one of webshop, wikihow, generic, got 'csv'"),
    (lambda: PoolImported("p", "generic", [{"task": "t", "observation": "o",
                                            "actions": [{"action": "a", "q": "high"}]}]),
     "q must be a number, got 'high'"),
])
def test_pool_records_are_checked_down_to_their_actions(build, message: str) -> None:
    with pytest.raises(EventValidationError, match=message):
        build()


def test_events_are_frozen() -> None:
    event = transition()
    with pytest.raises(AttributeError):
        event.reward = 1.0  # type: ignore[misc]
