"""webshop-mini: its catalogue, WebShop's reward pinned by hand, the episode contract."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rememberer_tui.envs import EnvError, make_env
from rememberer_tui.envs.webshop_mini import DATA, load_catalogue
from rememberer_tui.envs.webshop_reward import get_reward, type_reward
from tests.conftest import ROOT

CATALOGUE = load_catalogue()
BY_ASIN = CATALOGUE.by_asin
# train-0: "i want to buy a lightly salted and resealable bag jar of mixed nuts, in smoked
# flavor, in size 8 ounce (pack of 4), and price lower than 60.00 dollars"; its product
# B08FV1XP5M costs $32.49. 2 attributes + 2 options + price = 5 parts of the reward.
NUTS = CATALOGUE.goals["train"][0]
RIGHT = {"flavor": "smoked", "size": "8 ounce (pack of 4)"}


def load_generator():
    spec = importlib.util.spec_from_file_location("make_webshop_mini", ROOT / "scripts" / "make_webshop_mini.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def play(actions: list[str], task_index: int = 0, **options):
    env = make_env("webshop-mini", **options)
    steps = [env.reset(options={"task_index": task_index})]
    steps += [env.step(action) for action in actions]
    return steps


def test_the_catalogue_has_the_promised_size_and_shape():
    products = CATALOGUE.products
    assert len(products) >= 300 and len({p["asin"] for p in products}) == len(products)
    assert all(re.fullmatch(r"B0\d[A-Z0-9]{7}", p["asin"]) for p in products)
    assert {p["category"] for p in products} == {"beauty", "electronics", "fashion", "grocery", "home"}
    assert all(p["options"] and all(len(v) >= 2 for v in p["options"].values()) for p in products)
    assert [len(CATALOGUE.goals[s]) for s in ("train", "test")] == [110, 50]
    assert sum(f.stat().st_size for f in DATA.glob("*.json")) < 600_000
    train = {g["instruction_text"] for g in CATALOGUE.goals["train"]}
    assert not train & {g["instruction_text"] for g in CATALOGUE.goals["test"]}


def test_every_goal_names_its_products_attributes_options_and_price_bound():
    for goal in CATALOGUE.goals["train"] + CATALOGUE.goals["test"]:
        product = BY_ASIN[goal["asin"]]
        text = goal["instruction_text"]
        assert set(goal["attributes"]) <= set(product["Attributes"])
        assert all(v in product["options"][k] for k, v in goal["goal_options"].items())
        assert set(goal["goal_options"]) == set(product["options"])
        assert all(a in text for a in goal["attributes"]) and all(v in text for v in goal["goal_options"].values())
        # WebShop's bound: two of the four multiples of 10 above the price, the larger.
        assert goal["price_upper"] % 10 == 0 and 0 < goal["price_upper"] - product["pricing"][0] < 40
        assert text.endswith(f", and price lower than {goal['price_upper']:.2f} dollars")


def test_every_instruction_can_be_solved_for_the_full_reward():
    for goal in CATALOGUE.goals["train"] + CATALOGUE.goals["test"]:
        product = BY_ASIN[goal["asin"]]
        assert get_reward(product, goal, product["pricing"][0], goal["goal_options"])[0] == 1.0
        found = [p["asin"] for p in CATALOGUE.search(tuple(goal["instruction_text"].split()))]
        assert goal["asin"] in found  # searching the instruction reaches the product


def test_the_shipped_data_is_what_the_seeded_script_generates():
    generator = load_generator()
    products, goals = generator.generate()
    assert (DATA / "products.json").read_text(encoding="utf-8") == generator._dump(products)
    assert json.loads((DATA / "goals.json").read_text(encoding="utf-8")) == goals


@pytest.mark.parametrize("asin, price, options, expected", [
    # the goal product, both options, within budget: (2 + 2 + 1) / 5
    ("B08FV1XP5M", 32.49, RIGHT, 1.0),
    # a wrong flavor: "sea salt" neither fuzzy-matches a goal option nor occurs in the texts
    ("B08FV1XP5M", 32.49, {"flavor": "sea salt", "size": "8 ounce (pack of 4)"}, 0.8),
    # a wrong size: sizes must match exactly
    ("B08FV1XP5M", 32.49, {"flavor": "smoked", "size": "2.5 pound (pack of 1)"}, 0.8),
    # no option chosen: WebShop counts only chosen options, (2 + 0 + 1) / 5
    ("B08FV1XP5M", 32.49, {}, 0.6),
    # over budget: the price part is lost, (2 + 2 + 0) / 5
    ("B08FV1XP5M", 61.0, RIGHT, 0.8),
    # same product type, other attributes (kosher certified, vegan, non gmo): (0 + 2 + 1) / 5
    ("B09MP9XJ5G", 8.99, RIGHT, 0.6),
    # another type sharing one of 9 title words ("vegan"): r_type 0.5, only the price, 1/5 * 0.5
    ("B07XYHQKBX", 4.49, {"flavor": "original", "size": "5 fl oz (pack of 1)"}, 0.1),
    # a speaker: no shared title word, r_type 0
    ("B07FMUCFC6", 41.99, {"color": "black"}, 0.0),
])
def test_pinned_rewards_of_purchases_for_the_nuts_task(asin, price, options, expected):
    reward, parts = get_reward(BY_ASIN[asin], NUTS, price, options)
    assert reward == pytest.approx(expected, abs=1e-12)


def test_type_reward_follows_webshops_thresholds():
    goal = {"query": "deodorant", "product_category": "Beauty › Personal Care › Deodorant",
            "name": "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda"}  # 11 words

    def r_type(query, category, title):
        return type_reward({"query": query, "product_category": category, "Title": title}, goal)["r_type"]

    assert r_type("deodorant", "Toys", "alpha beta gamma") == 1.0  # same query
    assert r_type("soap", "Beauty › Personal Care › Soap", "alpha beta") == 1.0  # two shared levels
    assert r_type("soap", "Toys", "alpha beta gamma") == 1.0  # title overlap 3/11 > 0.2
    assert r_type("soap", "Toys", "alpha beta") == 0.5  # 2/11: no match, not under 0.1
    assert r_type("deodorant", "Toys", "alpha") == 0.1  # 1/11 < 0.1 even with the same query
    assert r_type("deodorant", "Beauty › Personal Care", "the and of") == 0.0  # no content word shared


def test_an_episode_ends_terminated_on_buy_now_with_the_reward_webshop_gives():
    actions = ["search[wild harvest party mixed nuts]", "click[b08fv1xp5m]", "click[smoked]",
               "click[8 ounce (pack of 4)]", "click[buy now]"]
    steps = play(actions)
    observation, info = steps[0]
    assert observation.startswith("\nWebShop\nInstruction:\ni want to buy a lightly salted")
    assert info["task"] == NUTS["instruction_text"] and info["task_id"] == "train-0"
    assert steps[1][0].split("\n")[5:7] == ["[Next >]", "[B08FV1XP5M]"]  # the product ranks first
    assert "flavor [sea salt][unsalted][[smoked]]" in steps[3][0]
    assert [s[1:4] for s in steps[1:]] == [(0.0, False, False)] * 4 + [(1.0, True, False)]
    wrong = play(actions[:2] + ["click[sea salt]", "click[8 ounce (pack of 4)]", "click[buy now]"])
    assert wrong[-1][1:4] == (0.8, True, False)
    sauce = play(["search[copper kettle craft hot sauce]", "click[b07xyhqkbx]", "click[original]",
                  "click[5 fl oz (pack of 1)]", "click[buy now]"])
    assert sauce[-1][1] == pytest.approx(0.1, abs=1e-12)


def test_reset_and_step_keep_the_protocol():
    env = make_env("webshop-mini")
    observation, info = env.reset(seed=3)
    assert isinstance(observation, str) and {"task", "task_id", "available_actions"} <= set(info)
    assert info["available_actions"] == ["search[<query>]"]
    result = env.step("search[green tea]")
    assert [type(x) for x in result] == [str, float, bool, bool, dict]
    assert all(isinstance(a, str) and a.startswith("click[") for a in result[4]["available_actions"])
    same, reward, terminated, truncated, info = env.step("click[nothing like this]")
    assert (same, reward, terminated, truncated, info["invalid_action"]) == (result[0], 0.0, False, False, True)


def test_the_step_budget_truncates_and_buy_now_on_the_last_step_terminates():
    steps = play(["search[mixed nuts]", "click[next >]", "click[< prev]"], max_steps=3)
    assert [s[2:4] for s in steps[1:]] == [(False, False), (False, False), (False, True)]
    steps = play(["search[wild harvest party mixed nuts]", "click[b08fv1xp5m]", "click[buy now]"], max_steps=3)
    assert steps[-1][2:4] == (True, False)
    assert steps[-1][1] == pytest.approx(0.6, abs=1e-12)  # no option chosen


def test_seeded_resets_and_episodes_are_deterministic():
    def transcript(seed: int) -> list:
        env = make_env("webshop-mini", split="test")
        out = [env.reset(seed=seed)]
        out += [env.reset()[1]["task_id"] for _ in range(3)]  # the seeded generator goes on
        out += [env.step(a) for a in ["search[bluetooth speaker waterproof]", "click[next >]"]]
        return out

    assert transcript(11) == transcript(11)
    assert len({transcript(seed)[0][1]["task_id"] for seed in range(6)}) > 1


def test_tasks_come_from_the_chosen_split():
    env = make_env("webshop-mini", split="test")
    assert env.reset(options={"task_index": 49})[1]["task_id"] == "test-49"
    _, info = env.reset(options={"split": "train", "task_index": 3})
    assert info["task"] == CATALOGUE.goals["train"][3]["instruction_text"]
    with pytest.raises(EnvError, match="outside split 'test'"):
        env.reset(options={"task_index": 50})
    with pytest.raises(EnvError, match="unknown split 'dev'"):
        env.reset(options={"split": "dev"})
    with pytest.raises(EnvError, match="unknown reset options: seed"):
        env.reset(options={"seed": 1})
    with pytest.raises(EnvError, match="unknown environment 'webshop-maxi'"):
        make_env("webshop-maxi")


def test_results_pages_hold_ten_and_show_the_first_three():
    env = make_env("webshop-mini", max_products=None)
    env.reset(options={"task_index": 0})
    first, *_ = env.step("search[mixed nuts]")
    total = int(re.search(r"Total results: (\d+)", first).group(1))
    ranked = [p["asin"] for p in CATALOGUE.search(("mixed", "nuts"))]
    assert total == len(ranked) and re.findall(r"\[(B0\w+)\]", first) == ranked[:10]
    second, *_ = env.step("click[next >]")
    assert re.findall(r"\[(B0\w+)\]", second) == ranked[10:20] and "[< Prev]" in second
    three = play(["search[mixed nuts]"])[1][0]
    assert re.findall(r"\[(B0\w+)\]", three) == ranked[:3]


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_random_walks_keep_the_contract_and_repeat_exactly(data):
    index = data.draw(st.integers(0, 109), label="task")
    words = CATALOGUE.goals["train"][index]["instruction_text"].split()
    envs = [make_env("webshop-mini"), make_env("webshop-mini")]
    first, second = (env.reset(options={"task_index": index}) for env in envs)
    assert first == second
    observation, info = first
    for _ in range(8):
        action = data.draw(st.sampled_from(info["available_actions"] + ["click[not here]"]), label="action")
        if action == "search[<query>]":
            action = "search[" + " ".join(data.draw(st.lists(st.sampled_from(words), min_size=1, max_size=4))) + "]"
        result = envs[0].step(action)
        assert result == envs[1].step(action)
        following, reward, terminated, truncated, info = result
        assert 0.0 <= reward <= 1.0 and not truncated
        assert terminated == (action == "click[buy now]")
        if info["invalid_action"]:
            assert (following, reward) == (observation, 0.0) and action == "click[not here]"
        if terminated:
            break
        observation = following
