"""Where in the log the memory screen is: a bar over the run's span, epochs marked.

`bar` is a pure function of the figures, tested on its own; the widget only keeps the
figures it was last given ("attributes down") and draws them at its width.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


def _column(position: int, first: int, last: int, width: int) -> int:
    if last <= first or width <= 1:
        return 0
    return round((min(max(position, first), last) - first) / (last - first) * (width - 1))


def bar(first: int, last: int, position: int, epoch_ends: list[int], width: int) -> Text:
    """'1 ━━━━━━●───┊────── 5,000': the run from its first to its last event, the
    position as a dot, each epoch's end as a dotted tick."""
    left, right = f"{first:,} ", f" {last:,}"
    inner = max(4, width - len(left) - len(right))
    here = _column(position, first, last, inner)
    ticks = {_column(end, first, last, inner) for end in epoch_ends if first <= end < last}
    text = Text(left, style="dim")
    for column in range(inner):
        if column == here:
            text.append("●", style="bold")
        elif column in ticks:
            text.append("┊", style="dim" if column > here else "")
        else:
            text.append("━" if column < here else "─", style="" if column < here else "dim")
    text.append(right, style="dim")
    return text


class PositionBar(Widget):
    """Two lines: the bar, then what the screen says about the position."""

    DEFAULT_CSS = """
    PositionBar {
        height: 2;
        padding: 0 1;
        background: $boost;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (textual's name)
        super().__init__(id=id)
        self.first = self.last = self.position = 0
        self.epoch_ends: list[int] = []
        self.note = Text("")

    def show(self, first: int, last: int, position: int, epoch_ends: list[int], note: Text) -> None:
        self.first, self.last, self.position = first, last, position
        self.epoch_ends, self.note = epoch_ends, note
        self.refresh()

    def render(self) -> Text:
        line = bar(self.first, self.last, self.position, self.epoch_ends, self.content_size.width)
        line.append("\n")
        line.append_text(self.note)
        line.no_wrap = True
        line.overflow = "ellipsis"
        return line
