"""The episode screen's panels as text, rendered without an app."""

from __future__ import annotations

from rich.console import Console
from rich.syntax import Syntax

from rememberer_tui.data import ActionValue, Step
from rememberer_tui.widgets import render
from store.events import LlmExchanged, TransitionRecorded
from tests.tui_fixtures import SCREENS, TASK


def text_of(renderable, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_indent_html_shows_the_nesting() -> None:
    screen = "<div>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<img src='x'>\n<p>end</p>\n</div>"
    assert render.indent_html(screen).splitlines() == [
        "<div>", "  <ul>", "    <li>one</li>", "    <li>two</li>", "  </ul>", "  <img src='x'>",
        "  <p>end</p>", "</div>"]


def test_observations_are_told_apart() -> None:
    assert render.looks_like_html(SCREENS[0])
    assert not render.looks_like_html("WebShop\nInstruction:\nbuy a mug\n[Search]")
    assert isinstance(render.observation(SCREENS[2]), Syntax)
    page = render.observation("Instruction:\nbuy\n[Search] [Back to Search]")
    assert "[Search]" in text_of(page)
    assert any(span.style for span in page.spans)  # the clickables are highlighted
    assert "empty observation" in text_of(render.observation(""))


def test_retrieved_shows_scores_and_replayed_q_values() -> None:
    record = {"task": TASK, "observation": SCREENS[1], "score": 0.95,
              "scores": {"task": 1.0, "lcs": 0.9},
              "actions": [{"action": "click[x]", "q": 0.5, "visits": 3, "mean_reward": 0.1}]}
    replayed = {(TASK, SCREENS[1]): (ActionValue("click[Make Green Tea]", 0.45, 2, 0.0),)}
    shown = text_of(render.retrieved([record], replayed))
    assert "score 0.950 (task 1.000 · lcs 0.900)" in shown
    assert "Q then (replayed)" in shown and "click[Make Green Tea]  Q 0.45 · 2 visits" in shown
    assert "click[x]" not in shown
    # Until the replay answers, the values the event recorded, labelled as such.
    recorded = text_of(render.retrieved([record], None, "replaying…"))
    assert "Q as recorded" in recorded and "click[x]  Q 0.5 · 3 visits" in recorded
    assert "replaying…" in recorded
    assert "empty memory" in text_of(render.retrieved([], None))


def test_observation_hint_skips_what_every_page_repeats() -> None:
    page = "WebShop\nInstruction:\nbuy a mug\n[Back to Search]\nPage 1 (Total results: 50)\n[Next >]"
    assert render.observation_hint(page, "Buy a mug") == (
        "WebShop ⏎ [Back to Search] ⏎ Page 1 (Total results: 50)")
    assert render.observation_hint(page, "buy a mug", width=20) == "WebShop ⏎ [Back to …"


def test_responses_show_errors_and_usage() -> None:
    failed = LlmExchanged("e", 0, "m", messages=[], error="timeout", latency_ms=30000.0)
    answered = LlmExchanged("e", 0, "m", messages=[{"role": "user", "content": "hi"}],
                            response="Encouraged:\nbuy -> 1", usage={"prompt_tokens": 10,
                                                                     "completion_tokens": 2},
                            attempt=2)
    shown = text_of(render.responses([failed, answered]))
    assert "attempt 1 · m · 30000 ms" in shown and "error: timeout" in shown
    assert "attempt 2 · m · 10+2 tokens" in shown and "Encouraged:" in shown
    assert "── user ──\nhi" in text_of(render.prompt([failed, answered]))


def test_step_summary_has_reward_return_action_and_reason() -> None:
    transition = TransitionRecorded("e", 4, "o", "click[buy now]", 0.5, "o2", truncated=True,
                                    reason="cheapest")
    shown = text_of(render.step_summary(Step(4, 120, None, (), transition, 1.5), 5, 5))
    assert "Step 4 · 5 of 5 · position 120 · reward 0.5 · return 1.5 · truncated" in shown
    assert "Action: click[buy now]" in shown and "Reason: cheapest" in shown
    assert "in progress" in text_of(render.step_summary(Step(5, 121, None, (), None, 1.5), 6, 6))


def test_available_actions_mark_the_chosen_one() -> None:
    shown = text_of(render.available_actions(["click[a]", "click[b]"], "click[b]"), width=40)
    assert shown.split() == ["click[a]", "▶", "click[b]"]
    assert len(text_of(render.available_actions([f"click[{i}]" for i in range(12)], None),
                       width=40).splitlines()) < 6  # side by side, not one a line
    assert render.clip("one  two\nthree", 8) == "one two…"
