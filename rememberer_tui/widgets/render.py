"""Rich renderables for the episode screen's panels: pure functions of the events' data.

Kept apart from the screen so each is tested on its own (no app needed) and so the
screen only decides where things go.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.columns import Columns
from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text

from rememberer_tui.data import ActionValue, StateValues, Step
from store.events import LlmExchanged

VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
             "source", "track", "wbr"}
_TAG = re.compile(r"^<\s*(/)?\s*([a-zA-Z][\w-]*)")
_CLICKABLE = re.compile(r"\[[^\[\]\n]+\]")


def clip(text: str, width: int) -> str:
    """One line of at most `width` characters: whitespace folded, an ellipsis if cut."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def looks_like_html(text: str) -> bool:
    """A screen of elements one a line (WikiHow, SPEC section 4), not WebShop's text page."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return bool(lines) and sum(line.startswith("<") for line in lines) * 2 >= len(lines)


def indent_html(text: str, unit: str = "  ") -> str:
    """Indent an element-per-line screen by nesting depth, so its structure shows."""
    depth = 0
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        match = _TAG.match(line)
        closing = bool(match and match.group(1))
        if closing:
            depth = max(depth - 1, 0)
        out.append(unit * depth + line)
        if match and not closing:
            tag = match.group(2).lower()
            self_contained = line.endswith("/>") or f"</{tag}" in line.lower()
            if tag not in VOID_TAGS and not self_contained:
                depth += 1
    return "\n".join(out)


def observation(text: str, dark: bool = True) -> RenderableType:
    """HTML-like screens indented and highlighted; text pages with their [buttons] marked."""
    text = text.strip("\n")
    if not text:
        return Text("(empty observation)", style="dim italic")
    if looks_like_html(text):
        return Syntax(indent_html(text), "html", theme="monokai" if dark else "default",
                      background_color="default", word_wrap=True)
    page = Text(text)
    page.highlight_regex(_CLICKABLE, "bold cyan" if dark else "bold blue")
    return page


def available_actions(actions: Sequence[str], chosen: str | None) -> RenderableType:
    """The actions side by side, as many to a line as fit; the chosen one marked."""
    if not actions:
        return Text("(not recorded)", style="dim italic")
    cells = [Text(f"▶ {action}", style="bold") if action == chosen else Text(f"  {action}")
             for action in actions]
    return Columns(cells, padding=(0, 2))


def _first_line(text: str, width: int = 60) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return clip(lines[0] if lines else "", width)


def observation_hint(observation: str, task: str, width: int = 120) -> str:
    """A line that tells a stored observation apart: its first lines without the task
    and without headings ("Instruction:"), which every page of an environment repeats."""
    task = task.strip().casefold()
    lines = [line.strip() for line in observation.splitlines()]
    lines = [line for line in lines if line and line.casefold() != task and not line.endswith(":")]
    return clip(" ⏎ ".join(lines[:3]), width)


def action_values(values: Sequence[ActionValue], limit: int = 4, indent: str = "") -> Text:
    """'click[x]  Q 0.45 · 2 visits' one per line, highest Q first."""
    if not values:
        return Text(f"{indent}no record", style="dim")
    text = Text()
    for index, value in enumerate(values[:limit]):
        if index:
            text.append("\n")
        text.append(indent + value.action)
        text.append(f"  Q {value.q:.4g}", style="bold")
        text.append(f" · {value.visits} visit{'s' if value.visits != 1 else ''}", style="dim")
    if len(values) > limit:
        text.append(f"\n{indent}+{len(values) - limit} more", style="dim")
    return text


def recorded_values(record: dict) -> tuple[ActionValue, ...]:
    """The Q-values an ExperienceRetrieved record itself holds (what the live memory saw)."""
    found = []
    for item in record.get("actions") or ():
        if isinstance(item, dict) and "action" in item:
            found.append(ActionValue(str(item["action"]), float(item.get("q", 0.0)),
                                     int(item.get("visits", 0)), float(item.get("mean_reward", 0.0))))
    return tuple(sorted(found, key=lambda a: (-a.q, a.action)))


def retrieved(records: Sequence[dict], values: StateValues | None, note: str = "") -> RenderableType:
    """The retrieved experiences, best first: combined and per-matcher scores, then their
    Q-values replayed as of the step (`values`), or as the event recorded them until the
    replay answers. A list, not a table, so it reads at 80 columns too."""
    if not records:
        return Text("no experience retrieved (empty memory)", style="dim italic")
    source = "then (replayed)" if values is not None else "as recorded"
    text = Text()
    for index, record in enumerate(records, start=1):
        task, obs = str(record.get("task", "")), str(record.get("observation", ""))
        if index > 1:
            text.append("\n\n")
        text.append(f"{index}. ", style="bold")
        text.append(_first_line(task, 200), style="bold")
        score = record.get("score")
        scores = record.get("scores") or {}
        parts = [f"{name} {value:.3f}" for name, value in scores.items() if isinstance(value, (int, float))]
        text.append("\n   score ")
        text.append(f"{score:.3f}" if isinstance(score, (int, float)) else "-", style="bold")
        if parts:
            text.append(f" ({' · '.join(parts)})")
        text.append("\n   ")
        text.append(observation_hint(obs, task), style="dim")
        q = values.get((task, obs), ()) if values is not None else recorded_values(record)
        text.append(f"\n   Q {source}:\n", style="italic")
        text.append_text(action_values(q, indent="     "))
    if note:
        text.append(f"\n\n{note}", style="dim italic")
    return text


def prompt(exchanges: Sequence[LlmExchanged]) -> RenderableType:
    """Every message of the last exchange, each under its role."""
    if not exchanges:
        return Text("no LLM exchange recorded for this step", style="dim italic")
    text = Text()
    for index, message in enumerate(exchanges[-1].messages):
        if index:
            text.append("\n\n")
        role = str(message.get("role", "?")) if isinstance(message, dict) else "?"
        content = message.get("content", "") if isinstance(message, dict) else message
        text.append(f"── {role} ──\n", style="bold")
        text.append(content if isinstance(content, str) else str(content))
    return text


def responses(exchanges: Sequence[LlmExchanged]) -> RenderableType:
    """Each attempt: model, tokens, latency, then the response or the error."""
    if not exchanges:
        return Text("no LLM exchange recorded for this step", style="dim italic")
    text = Text()
    for index, exchange in enumerate(exchanges):
        if index:
            text.append("\n\n")
        usage = exchange.usage
        tokens = "+".join(str(usage[k]) for k in ("prompt_tokens", "completion_tokens") if k in usage)
        head = [f"attempt {exchange.attempt}", exchange.model or "?"]
        if tokens:
            head.append(f"{tokens} tokens")
        head.append(f"{exchange.latency_ms:.0f} ms")
        text.append(" · ".join(head) + "\n", style="dim")
        if exchange.error:
            text.append(f"error: {exchange.error}", style="bold red")
        else:
            text.append(exchange.response or "(empty response)")
    return text


def step_summary(step: Step, ordinal: int, total_steps: int) -> Text:
    """The step's number and place, the reward and running return, the action and reason."""
    transition = step.transition
    text = Text()
    text.append(f"Step {step.index}", style="bold")
    text.append(f" · {ordinal} of {total_steps}")
    text.append(f" · position {step.position}", style="dim")
    if transition is None:
        text.append("\n(in progress: no transition recorded yet)", style="italic")
        return text
    ending = " · terminated" if transition.terminated else " · truncated" if transition.truncated else ""
    text.append(f" · reward {transition.reward:g} · return {step.running_return:g}{ending}")
    text.append("\nAction: ", style="bold")
    text.append(transition.action)
    if transition.reason:
        text.append("\nReason: ", style="bold")
        text.append(transition.reason)
    return text
