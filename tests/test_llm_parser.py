"""The Encouraged/Discouraged parser on real-looking answers, noise, and arbitrary text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rememberer_tui.llm.parser import Advice, choose_action, normalise_action, parse_response

# Answers as the reference implementation's exemplars and logged GPT answers show them
# (OpenDFM/Rememberer prompts/ and llmcases/): (text, available actions, chosen, value, reason).
REAL_ANSWERS = [
    (
        "\nEncouraged:\nsearch[long clip-in hair extension natural looking] -> 1.0 This action will help "
        "me find the desired item.\n",
        ["search[long clip-in hair extension natural looking]"],
        "search[long clip-in hair extension natural looking]", 1.0,
        "This action will help me find the desired item.",
    ),
    (
        "Encouraged:\nclick[b078gwrc1j] -> 1.0 b078gwrc1j and b078gtkvxy are bright citrus deodorant less "
        "then 50 dollars. I can check b078gwrc1j first.\nDiscouraged:\nclick[b087wksr2g] -> 0.0 b087wksr2g "
        "is not the desired item.\n",
        ["click[back to search]", "click[next >]", "click[b078gwrc1j]", "click[b078gtkvxy]"],
        "click[b078gwrc1j]", 1.0,
        "b078gwrc1j and b078gtkvxy are bright citrus deodorant less then 50 dollars. I can check b078gwrc1j first.",
    ),
    (
        "\nEncouraged:\nclick[6.76 fl oz (pack of 1)] -> 1.0 I need to click '6.76 fl oz (pack of 1)' to "
        "select the desired item.\n",
        ["click[buy now]", "click[6.76 fl oz (pack of 1)]"],
        "click[6.76 fl oz (pack of 1)]", 1.0,
        "I need to click '6.76 fl oz (pack of 1)' to select the desired item.",
    ),
    (
        "\nEncouraged:\nclick[bars + cookies, variety pack, 4 count boxes] -> 0.8 I have clicked for "
        "'variety pack'.\n",
        ["click[bars + cookies, variety pack, 4 count boxes]"],
        "click[bars + cookies, variety pack, 4 count boxes]", 0.8, "I have clicked for 'variety pack'.",
    ),
    (
        "Encouraged:\nINPUT(2, clean utensils) -> 3.0 <img class=\"search button\" alt=\"Search\" id=\"2\" "
        "clickable=\"true\">\nDiscouraged:\nCLICK(1) -> 0.0 <img class=\"wikihow toolbar logo\" id=\"1\" "
        "clickable=\"false\">\n",
        ["CLICK(1)", "INPUT(2, clean utensils)"],
        "INPUT(2, clean utensils)", 3.0, "<img class=\"search button\" alt=\"Search\" id=\"2\" clickable=\"true\">",
    ),
    (
        "Encouraged:\nCLICK(3) -> 3.0 <div id=\"3\" clickable=\"true\">How to Apply CC Cream</div>\n"
        "Discouraged:\nCLICK(35) -> 0.0 <div id=\"35\" clickable=\"true\">How to Apply Cream Foundation</div>\n",
        ["CLICK(3)", "CLICK(35)"],
        "CLICK(3)", 3.0, "<div id=\"3\" clickable=\"true\">How to Apply CC Cream</div>",
    ),
]


@pytest.mark.parametrize(("text", "available", "action", "value", "reason"), REAL_ANSWERS)
def test_real_answers(text, available, action, value, reason) -> None:
    parsed = parse_response(text, available)
    assert (parsed.action, parsed.value, parsed.reason) == (action, value, reason)
    assert parsed.ok and parsed.problems == ()


def test_sections_keep_every_entry_and_the_highest_value_wins() -> None:
    text = ("Encouraged:\nclick[a] -> 0.4 maybe\nclick[b] -> 0.9 best\nclick[c] -> 0.9 tie, later\n"
            "Discouraged:\nclick[d] -> 0.0 no\nclick[e] -> -1 worse\n")
    parsed = parse_response(text, ["click[a]", "click[b]", "click[c]"])
    assert parsed.action == "click[b]" and parsed.value == 0.9
    assert parsed.encouraged == (Advice("click[a]", 0.4, "maybe"), Advice("click[b]", 0.9, "best"),
                                 Advice("click[c]", 0.9, "tie, later"))
    assert parsed.discouraged == (Advice("click[d]", 0.0, "no"), Advice("click[e]", -1.0, "worse"))


NOISY = [
    # markdown bold headers, bullets, backticks, Windows newlines, "+1"
    ("Sure! Here is my advice.\r\n\r\n**Encouraged:**\r\n- `click[Buy Now]` -> +1 it matches\r\n"
     "**Discouraged:**\r\n- click[back to search] -> 0 no\r\n", "click[buy now]", 1.0, "it matches"),
    # header case and spacing, "1.0." and a missing reason
    ("ENCOURAGED :\nclick[ buy  now ] -> 1.0.\ndiscouraged:\n", "click[buy now]", 1.0, ""),
    # code fences, numbered list, markdown heading, "Encouraged actions"
    ("```\n## Encouraged actions\n1. search[red shoes] -> 0.5 try a search\n## Discouraged actions\n"
     "2. click[next >] -> 0.0 not yet\n```", "search[red shoes]", 0.5, "try a search"),
    # the entry on the header's line, unicode arrow, ".5"
    ("Encouraged: click[buy now] → .5 good enough\nDiscouraged: click[next >] → 0.0", "click[buy now]", 0.5,
     "good enough"),
    # comma after the value, bold reason, trailing prose
    ("Encouraged:\n* click[buy now] -> 0.75, **all options are set**\n\nI hope this helps.",
     "click[buy now]", 0.75, "all options are set"),
    # a preamble line that mentions the format does not count as an entry
    ("I will answer as `action -> value reason`.\nEncouraged:\nclick[buy now] -> 2e-1 small\n",
     "click[buy now]", 0.2, "small"),
]


@pytest.mark.parametrize(("text", "action", "value", "reason"), NOISY)
def test_noise_is_tolerated(text, action, value, reason) -> None:
    parsed = parse_response(text, ["click[back to search]", "click[next >]", "search[red shoes]", "click[buy now]"])
    assert (parsed.action, parsed.value, parsed.reason) == (action, value, reason)


def test_missing_values_take_the_first_encouraged_and_say_so() -> None:
    parsed = parse_response("Encouraged:\nclick[a] -> looks right\nclick[b]  ->\n", ["click[a]", "click[b]"])
    assert parsed.action == "click[a]" and parsed.value is None and parsed.reason == "looks right"
    assert parsed.problems == ("no encouraged action has a value; took the first",)


def test_valued_entries_beat_unvalued_ones() -> None:
    parsed = parse_response("Encouraged:\nclick[a] -> no idea\nclick[b] -> 0.1 weak\n", ["click[a]", "click[b]"])
    assert parsed.action == "click[b]" and parsed.problems == ()


def test_without_headers_arrow_lines_count_as_encouraged() -> None:
    parsed = parse_response("click[buy now] -> 1.0 done", ["click[buy now]"])
    assert parsed.action == "click[buy now]"
    assert parsed.problems == ("no 'Encouraged:' header; took the 'action -> value' lines as encouraged",)


@pytest.mark.parametrize(("text", "problem"), [
    ("", "the answer is empty"),
    ("   \r\n ", "the answer is empty"),
    ("I think you should buy the red shoes.", "no encouraged action"),
    ("Encouraged:\nnothing comes to mind\nDiscouraged:\nclick[a] -> 0.0 no", "no encouraged action"),
    ("Discouraged:\nclick[a] -> 0.0 no", "no encouraged action"),
])
def test_unparsable_answers_have_a_reason(text: str, problem: str) -> None:
    parsed = parse_response(text, ["click[a]"])
    assert not parsed.ok and parsed.action is None
    assert parsed.problems and parsed.problems[0].startswith(problem)


def test_an_unavailable_action_is_reported_with_what_was_proposed() -> None:
    parsed = parse_response("Encouraged:\nclick[buy later] -> 1.0 hmm\n", ["click[buy now]"])
    assert not parsed.ok and parsed.proposed == "click[buy later]" and parsed.value == 1.0
    assert parsed.problems == ("the encouraged action 'click[buy later]' is not among the available actions",)


def test_without_available_actions_the_top_action_is_taken_as_written() -> None:
    assert parse_response("Encouraged:\nClick[Buy Now] -> 1 ok").action == "Click[Buy Now]"


def test_normalise_action() -> None:
    assert normalise_action("Click[ Buy  Now ]") == normalise_action("click[buy now]")
    assert normalise_action("INPUT( 2,  clean utensils )") == normalise_action("input(2, clean utensils)")
    assert normalise_action("click[buy now]") != normalise_action("click[buy]")


@settings(max_examples=150, deadline=None)
@given(st.text(), st.lists(st.text(max_size=20), max_size=5))
def test_the_parser_never_raises(text: str, available: list[str]) -> None:
    parsed = parse_response(text, available)
    assert parsed.ok == (parsed.action is not None)
    assert parsed.ok or parsed.problems
    if parsed.ok:
        assert parsed.action in available


SECTION_WORDS = st.sampled_from(["Encouraged:", "Discouraged:", "**Encouraged:**", "->", " -> 1.0 ",
                                 "click[a]", "\r\n", "\n", "```", "- ", "1. ", "+1", "nan", "1e999", "→"])


@settings(max_examples=150, deadline=None)
@given(st.lists(SECTION_WORDS | st.text(max_size=5), max_size=30))
def test_the_parser_never_raises_on_format_like_text(parts: list[str]) -> None:
    parsed = parse_response("".join(parts), ["click[a]"])
    assert parsed.value is None or parsed.value == parsed.value  # finite values only, never NaN
    assert all(e.value is None or abs(e.value) != float("inf") for e in parsed.encouraged)


class Scripted:
    """An LLM call answering from a list, keeping what it was asked."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.asked: list[list[dict]] = []

    def __call__(self, messages: list[dict]) -> str:
        self.asked.append(messages)
        return self.answers.pop(0)


MESSAGES = [{"role": "user", "content": "what next?"}]
AVAILABLE = ["click[back to search]", "click[buy now]"]


def test_choose_action_takes_a_good_first_answer() -> None:
    llm = Scripted("Encouraged:\nclick[Buy Now] -> 1.0 all set\n")
    choice = choose_action(llm, MESSAGES, AVAILABLE)
    assert (choice.action, choice.value, choice.reason, choice.fallback) == ("click[buy now]", 1.0, "all set", False)
    assert choice.problems == () and len(llm.asked) == 1


def test_choose_action_asks_once_more_with_a_correction() -> None:
    llm = Scripted("I would buy it.", "Encouraged:\nclick[buy now] -> 0.9 fixed\n")
    choice = choose_action(llm, MESSAGES, AVAILABLE)
    assert choice.action == "click[buy now]" and not choice.fallback
    assert choice.problems == ("answer 1: no encouraged action of the form 'action -> value reason' found",)
    retry = llm.asked[1]
    assert retry[:1] == MESSAGES
    assert retry[1] == {"role": "assistant", "content": "I would buy it."}
    assert retry[2]["role"] == "user" and "could not be used" in retry[2]["content"]
    assert "- click[buy now]" in retry[2]["content"]
    assert MESSAGES == [{"role": "user", "content": "what next?"}]  # the caller's list is untouched


def test_choose_action_falls_back_to_the_first_available_action() -> None:
    llm = Scripted("Encouraged:\nclick[teleport] -> 1.0 magic\n", "still no format")
    choice = choose_action(llm, MESSAGES, AVAILABLE)
    assert (choice.action, choice.fallback, choice.value) == ("click[back to search]", True, None)
    assert choice.reason.startswith("fallback")
    assert [len(p.problems) for p in choice.parses] == [1, 1]
    assert "not among the available actions" in choice.problems[0]
    assert len(llm.asked) == 2


def test_choose_action_needs_available_actions() -> None:
    with pytest.raises(ValueError):
        choose_action(Scripted(), MESSAGES, [])
