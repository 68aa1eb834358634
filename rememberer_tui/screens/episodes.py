"""A run's episodes: filter by task text, sort by any column, open one."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Input, Static

from rememberer_tui.data import EpisodeRow, run_episodes
from rememberer_tui.messages import EpisodesLoaded, LoadFailed
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.episode import EpisodeScreen
from rememberer_tui.widgets.render import clip
from store.recorder import StoreError


def _success(row: EpisodeRow) -> Text:
    if row.running:
        return Text("running", style="italic")
    return Text("yes", style="green") if row.success else Text("no", style="red")


# (column key, label, sort key, right-aligned); the first is the order episodes started.
COLUMNS: tuple[tuple[str, str, Callable[[EpisodeRow], object], bool], ...] = (
    ("episode", "episode", lambda r: r.first_position, False),
    ("epoch", "epoch", lambda r: (r.epoch, r.first_position), True),
    ("split", "split", lambda r: (r.split, r.first_position), False),
    ("task", "task", lambda r: (r.task, r.first_position), False),
    ("steps", "steps", lambda r: (r.steps, r.first_position), True),
    ("return", "return", lambda r: (r.total_return, r.first_position), True),
    ("success", "success", lambda r: (r.success is None, bool(r.success), r.first_position), False),
)
MAX_ROWS = 1000


class EpisodesScreen(DataScreen):
    SORT = Binding.Group("Sort")
    AUTO_FOCUS = "#episodes"
    BINDINGS = [
        Binding("enter", "open_episode", "Open", priority=True),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort by the next column", group=SORT),
        Binding("S", "reverse", "Reverse the order", group=SORT),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, settings: Settings, run: str) -> None:
        super().__init__(settings)
        self.run = run
        self.episodes: list[EpisodeRow] = []
        self.sort_column = 0
        self.sort_reverse = False
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="episodes-line", classes="detail-line")
        yield Input(placeholder="filter by task text (enter: done, escape: clear)", id="filter")
        yield DataTable(id="episodes", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = "episodes"
        self.query_one("#episodes", DataTable).loading = True
        self.reload()

    def follows(self, runs: frozenset[str]) -> bool:
        return self.run in runs

    def reload(self) -> None:
        self.load_episodes()

    @work(thread=True, exclusive=True, group="episodes")
    def load_episodes(self) -> None:
        try:
            with self.settings.open() as recorder:
                self.post_message(EpisodesLoaded(self.run, run_episodes(recorder, self.run)))
        except StoreError as exc:
            self.post_message(LoadFailed(str(exc)))

    @on(EpisodesLoaded)
    def episodes_loaded(self, message: EpisodesLoaded) -> None:
        self.episodes = message.episodes
        self.loaded = True
        self.render_rows()

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#episodes", DataTable).loading = False
        self.notify(message.error, title="Cannot read the database", severity="error")

    def visible(self) -> list[EpisodeRow]:
        needle = self.filter_text.casefold()
        rows = [r for r in self.episodes if needle in r.task.casefold() or needle in r.episode.casefold()]
        return sorted(rows, key=COLUMNS[self.sort_column][2], reverse=self.sort_reverse)

    def render_rows(self) -> None:
        """Rebuild the table: the task column takes the width the others leave. At most
        MAX_ROWS rows go in (a DataTable measures every cell it holds): the first ones in
        the current order, after the filter; sorting and filtering reach all episodes."""
        table = self.query_one("#episodes", DataTable)
        selected = self.selected_stream()
        matching = self.visible()
        rows = matching[:MAX_ROWS]
        cells = [[Text(row.episode), Text(str(row.epoch), justify="right"), Text(row.split), None,
                  Text(str(row.steps), justify="right"),
                  Text(f"{row.total_return:.3g}", justify="right"), _success(row)] for row in rows]
        arrow = " ▼" if self.sort_reverse else " ▲"
        labels = [label + (arrow if i == self.sort_column else "") for i, (_, label, _, _) in enumerate(COLUMNS)]
        others = sum(max([len(labels[i]), *(len(c[i]) for c in cells)])
                     for i in range(len(COLUMNS)) if COLUMNS[i][0] != "task")
        task_width = max(12, self.size.width - others - 2 * len(COLUMNS) - 2)
        table.clear(columns=True)
        for (key, _, _, right), label in zip(COLUMNS, labels):
            table.add_column(Text(label, justify="right" if right else "left"), key=key,
                             width=task_width if key == "task" else None)
        for row, values in zip(rows, cells):
            values[3] = Text(clip(row.task, task_width))
            table.add_row(*values, key=row.stream)
        table.loading = False
        if selected is not None and selected in table.rows:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        self.show_line(len(matching), len(rows))

    def show_line(self, matching: int, shown: int) -> None:
        label = COLUMNS[self.sort_column][1]
        order = "descending" if self.sort_reverse else "ascending"
        total = len(self.episodes)
        count = f"{matching:,} of {total:,} episodes" if self.filter_text else f"{total:,} episodes"
        parts = [Text(self.run, style="bold"), Text(count), Text(f"sorted by {label}, {order}")]
        if self.filter_text:
            parts.append(Text(f"filter: {self.filter_text}", style="italic"))
        if shown < matching:
            parts.append(Text(f"showing the first {shown:,}: sort (s, S) or filter (/) for others",
                              style="italic"))
        if not self.episodes:
            parts[1:] = [Text("no episodes yet (an imported pool holds records, not episodes: "
                              f"rememberer qtable --run {self.run} lists them)", style="italic")]
        self.query_one("#episodes-line", Static).update(Text(" · ").join(parts))

    def on_resize(self) -> None:
        if self.loaded:
            self.render_rows()

    def selected_stream(self) -> str | None:
        table = self.query_one("#episodes", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    @on(DataTable.RowSelected, "#episodes")
    def row_selected(self) -> None:
        self.action_open_episode()

    def action_open_episode(self) -> None:
        if self.query_one("#filter", Input).has_focus:
            self.filter_done()
            return
        stream = self.selected_stream()
        if stream is not None:
            self.app.push_screen(EpisodeScreen(self.settings, self.run, stream))

    @on(DataTable.HeaderSelected, "#episodes")
    def header_clicked(self, message: DataTable.HeaderSelected) -> None:
        if message.column_index == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = message.column_index, False
        self.render_rows()

    def action_sort(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self.sort_reverse = False
        self.render_rows()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.render_rows()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, message: Input.Changed) -> None:
        self.filter_text = message.value.strip()
        self.render_rows()

    def filter_done(self) -> None:
        if not self.filter_text:
            self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#episodes", DataTable).focus()

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.has_class("shown"):
            box.value = ""
            box.remove_class("shown")
            self.query_one("#episodes", DataTable).focus()
            return
        self.app.pop_screen()
