"""The Textual app behind `rememberer tui`, built by one factory for the CLI and the tests.

The app itself only routes: it opens the runs screen, runs the live-follow worker that
watches the log for other processes' appends, and tells the open screens when their run
grew; and it verifies the hash chain once, for the integrity status line. Every database
or replay call happens in a thread worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from rememberer_tui.data import changes_since
from rememberer_tui.messages import IntegrityChecked, LogAdvanced
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.diff import DiffScreen
from rememberer_tui.screens.episode import EpisodeScreen
from rememberer_tui.screens.episodes import EpisodesScreen
from rememberer_tui.screens.help import HelpScreen
from rememberer_tui.screens.memory import MemoryScreen
from rememberer_tui.screens.plots import PlotsScreen
from rememberer_tui.screens.provenance import ProvenanceScreen
from rememberer_tui.screens.runs import RunsScreen
from rememberer_tui.widgets.integrity import IntegrityLine
from store.recorder import SQLiteRecorder, StoreError
from store.verify import VerifyResult, verify_file

THEMES = ("textual-dark", "textual-light")


class RemembererApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "rememberer"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("t", "toggle_theme", "Light/dark"),
    ]

    def __init__(self, settings: Settings, theme: str = "textual-dark") -> None:
        super().__init__()
        self.settings = settings
        self.start_theme = theme
        self.integrity: VerifyResult | None = None  # the hash chain, once verified
        self.integrity_error = ""

    def on_mount(self) -> None:
        self.theme = self.start_theme
        self.push_screen(RunsScreen(self.settings))
        self.check_integrity()
        if self.settings.poll_interval is not None:
            self.follow_log()

    @work(thread=True, exclusive=True, group="verify")
    def check_integrity(self) -> None:
        """Recompute the hash chain once, in a process of its own (store.verify.verify_file):
        the screens' workers keep this interpreter to themselves meanwhile."""
        worker = get_current_worker()
        try:
            result = verify_file(self.settings.db_path, cancelled=lambda: worker.is_cancelled)
        except StoreError as exc:  # a damaged file is what this is for
            self.post_message(IntegrityChecked(None, str(exc)))
            return
        if result is not None:
            self.post_message(IntegrityChecked(result))

    @on(IntegrityChecked)
    def integrity_checked(self, message: IntegrityChecked) -> None:
        self.integrity, self.integrity_error = message.result, message.error
        for screen in self.screen_stack:
            for line in screen.query(IntegrityLine):
                line.show(message.result, message.error)

    @work(thread=True, exclusive=True, group="follow")
    def follow_log(self) -> None:
        """Poll `PRAGMA data_version` on this thread's own connection: it changes only when
        another connection commits, so an idle log costs one tiny query per interval."""
        worker = get_current_worker()
        with self.settings.open() as recorder:
            last = recorder.max_position()
            seen = None
            while not worker.is_cancelled:
                version = recorder.conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:
                    seen = version
                    position, runs = changes_since(recorder, last)
                    if runs:
                        last = position
                        self.post_message(LogAdvanced(position, runs))
                time.sleep(self.settings.poll_interval)

    @on(LogAdvanced)
    def log_advanced(self, message: LogAdvanced) -> None:
        """Every open screen whose run grew reloads, the covered ones too, so going back
        shows the new state at once."""
        for screen in self.screen_stack:
            if isinstance(screen, DataScreen) and screen.follows(message.runs):
                screen.reload()

    def help_sections(self) -> list[tuple[str, list]]:
        everywhere = [*self.BINDINGS, Binding("ctrl+p", "command_palette", "Command palette")]
        return [("Runs", RunsScreen.BINDINGS), ("Episodes", EpisodesScreen.BINDINGS),
                ("Episode", EpisodeScreen.BINDINGS), ("Memory", MemoryScreen.BINDINGS),
                ("Provenance", ProvenanceScreen.BINDINGS), ("Diff", DiffScreen.BINDINGS),
                ("Plots", PlotsScreen.BINDINGS), ("Everywhere", everywhere)]

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.help_sections()))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES[1] if self.current_theme.dark else THEMES[0]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Help", "The keys of every screen", self.action_help)
        yield SystemCommand("Light/dark", "Switch between the light and the dark theme",
                            self.action_toggle_theme)


def make_app(db_path: str | Path, *, clock: Callable[[], datetime] | None = None,
             theme: str | None = None, play_interval: float = 1.0,
             poll_interval: float | None = 0.5) -> RemembererApp:
    """The app on the database at `db_path`, checked to be a rememberer log first
    (a StoreError otherwise). `clock` gives "now" for the ages shown (tests pin it);
    `play_interval` is the pause between steps when an episode plays; `poll_interval`
    how often live follow checks the log (None: no live follow)."""
    path = Path(db_path)
    SQLiteRecorder(path, create=False).close()
    pinned = {"clock": clock} if clock is not None else {}
    settings = Settings(path, play_interval=play_interval, poll_interval=poll_interval, **pinned)
    return RemembererApp(settings, theme=theme or THEMES[0])
