"""Reading the paper's answer format and turning it into an action, never crashing.

The LLM answers like the exemplars it was shown (OpenDFM/Rememberer prompts):

    Encouraged:
    click[b078gwrc1j] -> 1.0 b078gwrc1j is a bright citrus deodorant. I can check it first.
    Discouraged:
    click[b087wksr2g] -> 0.0 b087wksr2g is not the desired item.

The agent takes the encouraged action with the highest value (the first on a tie). Real
answers are noisier: prose around the sections, markdown bullets and bold, code fences,
headers in another case or spacing, values like `+1` or `1.0.`, missing reasons or
values, Windows newlines. All of that is tolerated; what cannot be used is reported in
`problems`. An action counts as available if it equals one of the available actions
after normalising case and whitespace (WebShop's `click[Buy Now]` is `click[buy now]`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import attrs

_HEADER = re.compile(
    r"^[\s#>*_\-]*(encouraged|discouraged)(?:\s+actions?)?[\s*_]*(?::|$)[\s*_]*(.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*•+]\s+|\d{1,3}[.)]\s+)")
_ENTRY = re.compile(
    r"^(?P<action>.*?\S)\s*(?:->|→|=>)\s*"
    r"(?P<value>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)?"
    r"\s*[.,:;]?\s*(?P<reason>.*)$")
_AROUND_ACTION = "`*_ \t"


@attrs.frozen
class Advice:
    """One line of a section: an action, its value (None if missing) and the reason given."""

    action: str
    value: float | None
    reason: str = ""


@attrs.frozen
class ParsedResponse:
    """The chosen action (spelt as in the available actions) or None, and why not."""

    action: str | None
    value: float | None
    reason: str
    encouraged: tuple[Advice, ...]
    discouraged: tuple[Advice, ...]
    problems: tuple[str, ...]
    proposed: str | None = None  # the top encouraged action as the LLM wrote it

    @property
    def ok(self) -> bool:
        return self.action is not None


def normalise_action(action: str) -> str:
    """Case and spacing do not change an action: `Click[ Buy  Now ]` is `click[buy now]`."""
    action = re.sub(r"\s+", " ", action).strip().casefold()
    return re.sub(r"\s*([\[\]()])\s*", r"\1", action)


def _entry(line: str) -> Advice | None:
    match = _ENTRY.match(line)
    if match is None:
        return None
    action = _unwrap(match["action"])
    if not action:
        return None
    value = float(match["value"]) if match["value"] else None
    if value is not None and not math.isfinite(value):
        value = None
    return Advice(action=action, value=value, reason=match["reason"].strip().strip("*_").strip())


def _unwrap(action: str) -> str:
    action = action.strip(_AROUND_ACTION)
    if len(action) >= 2 and action[0] == action[-1] and action[0] in "\"'":
        action = action[1:-1].strip()
    return action


def _sections(text: str) -> tuple[list[Advice], list[Advice], bool]:
    """Encouraged and discouraged entries, and whether any header was seen. Without
    headers, every `action -> value` line counts as encouraged."""
    encouraged: list[Advice] = []
    discouraged: list[Advice] = []
    loose: list[Advice] = []
    current: list[Advice] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("```"):
            continue
        header = _HEADER.match(line)
        if header:
            current = encouraged if header[1].lower() == "encouraged" else discouraged
            line = header[2].strip()
            if not line:
                continue
        entry = _entry(_BULLET.sub("", line))
        if entry is not None:
            (loose if current is None else current).append(entry)
    seen_header = current is not None
    return (encouraged if seen_header else loose), discouraged, seen_header


def parse_response(text: str, available_actions: Sequence[str] | None = None) -> ParsedResponse:
    """Parse an answer; with `available_actions`, the choice must be one of them."""
    text = text if isinstance(text, str) else ""
    encouraged, discouraged, seen_header = _sections(text)
    problems: list[str] = []

    def result(action: str | None = None, top: Advice | None = None) -> ParsedResponse:
        return ParsedResponse(
            action=action, value=top.value if top else None, reason=top.reason if top else "",
            encouraged=tuple(encouraged), discouraged=tuple(discouraged), problems=tuple(problems),
            proposed=top.action if top else None)

    if not text.strip():
        problems.append("the answer is empty")
        return result()
    if not encouraged:
        problems.append("no encouraged action of the form 'action -> value reason' found")
        return result()
    if not seen_header:
        problems.append("no 'Encouraged:' header; took the 'action -> value' lines as encouraged")
    valued = [entry for entry in encouraged if entry.value is not None]
    if valued:
        top = max(valued, key=lambda entry: entry.value)  # max keeps the first of equals
    else:
        top = encouraged[0]
        problems.append("no encouraged action has a value; took the first")
    if available_actions is None:
        return result(top.action, top)
    by_form = {normalise_action(a): a for a in reversed(available_actions)}
    chosen = by_form.get(normalise_action(top.action))
    if chosen is None:
        problems.append(f"the encouraged action {top.action!r} is not among the available actions")
    return result(chosen, top)


@attrs.frozen
class Choice:
    """The action taken, how it was obtained, and every problem met on the way."""

    action: str
    value: float | None
    reason: str
    fallback: bool
    parses: tuple[ParsedResponse, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(f"answer {i}: {p}" for i, parsed in enumerate(self.parses, 1) for p in parsed.problems)


def correction(parsed: ParsedResponse, available_actions: Sequence[str]) -> str:
    """The message asking the LLM to answer again after an unusable answer."""
    return (
        f"Your answer could not be used: {'; '.join(parsed.problems)}.\n"
        "Answer again in exactly this format, with actions taken from the available actions:\n"
        "Encouraged:\n<action> -> <value> <reason>\nDiscouraged:\n<action> -> <value> <reason>\n"
        "Available actions:\n" + "\n".join(f"- {a}" for a in available_actions)
    )


def choose_action(llm_call: Callable[[list[dict]], str], messages: Sequence[dict],
                  available_actions: Sequence[str]) -> Choice:
    """Ask; if the answer is unusable, ask once more with a correction appended; then fall
    back to the first available action. Errors of the LLM call itself propagate."""
    if not available_actions:
        raise ValueError("choose_action needs at least one available action")
    asked = list(messages)
    parses: list[ParsedResponse] = []
    for _ in range(2):
        text = llm_call(asked)
        parsed = parse_response(text, available_actions)
        parses.append(parsed)
        if parsed.ok:
            return Choice(action=parsed.action, value=parsed.value, reason=parsed.reason,
                          fallback=False, parses=tuple(parses))
        asked = [*asked, {"role": "assistant", "content": text},
                 {"role": "user", "content": correction(parsed, available_actions)}]
    return Choice(action=available_actions[0], value=None, reason="fallback: no usable answer",
                  fallback=True, parses=tuple(parses))
