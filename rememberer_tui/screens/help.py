"""The `?` screen: every screen's keys, read from their bindings so it cannot go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HINTS = {
    "Runs": "enter opens a run; the episode figures fill in once computed.",
    "Episodes": "enter opens an episode; click a column header to sort by it.",
    "Episode": "Q-values are replayed as of the step. tab moves to the panels (arrows scroll"
               " them); a click on a folded title opens it.",
}


def key_label(key: str) -> str:
    names = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc"}
    return ", ".join(names.get(k, k) for k in key.split(","))


def bindings_table(sections: list[tuple[str, list]]) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for title, bindings in sections:
        table.add_row(Text(title, style="bold underline"), Text(HINTS.get(title, ""), style="dim"))
        for binding in bindings:
            if isinstance(binding, Binding) and binding.description:
                table.add_row(key_label(binding.key), binding.description)
        table.add_row("", "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, sections: list[tuple[str, list]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(bindings_table(self.sections), id="help")

    def on_mount(self) -> None:
        self.query_one("#help-box").border_title = "Keys (esc closes)"
