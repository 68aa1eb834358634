"""The `x` dialog of the audit screens: where to write what the screen shows."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, Static

from rememberer_tui.export import write_rows


class ExportDialog(ModalScreen[Path | None]):
    """Asks for a file name (a sensible default filled in); .json writes JSON, any other
    suffix CSV. Dismissed with the path, or None on escape."""

    DEFAULT_CSS = """
    ExportDialog {
        align: center middle;
    }
    #export-box {
        width: 80%;
        max-width: 90;
        height: auto;
        border: round $accent;
        padding: 0 1;
        background: $surface;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, what: str, default: str) -> None:
        super().__init__()
        self.what = what
        self.default = default

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box"):
            yield Static(f"Export {self.what} to (.csv or .json; enter writes, escape cancels):")
            yield Input(self.default, id="export-path")

    def on_mount(self) -> None:
        self.query_one("#export-box").border_title = "Export"

    @on(Input.Submitted, "#export-path")
    def submitted(self, message: Input.Submitted) -> None:
        value = message.value.strip()
        self.dismiss(Path(value).expanduser() if value else None)

    def action_cancel(self) -> None:
        self.dismiss(None)


def export_rows(screen: Screen, what: str, default: str, rows: list[dict]) -> None:
    """Ask where, then write `rows` (taken now: what the screen shows at the key press)
    there in a thread worker, and say how it went."""

    def write(path: Path) -> None:
        try:
            kind = write_rows(path, rows)
        except OSError as exc:
            screen.notify(f"could not write {path}: {exc}", title="Export failed", severity="error")
            return
        screen.notify(f"{len(rows):,} rows written to {path} ({kind.upper()})", title="Exported")

    def chosen(path: Path | None) -> None:
        if path is not None:
            screen.run_worker(lambda: write(path), thread=True, group="export")

    screen.app.push_screen(ExportDialog(what, default), chosen)
