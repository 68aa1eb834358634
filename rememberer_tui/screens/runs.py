"""The first screen: one row per run, its setup and how well its episodes went."""

from __future__ import annotations

import attrs
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from rememberer_tui.data import RunStats, RunSummary, age, rl_brief, run_heads, run_stats
from rememberer_tui.messages import LoadFailed, RunsLoaded, RunStatsLoaded
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.diff import DiffScreen
from rememberer_tui.screens.episodes import EpisodesScreen
from rememberer_tui.screens.memory import MemoryScreen
from rememberer_tui.screens.plots import PlotsScreen
from rememberer_tui.widgets.integrity import IntegrityLine
from store.recorder import StoreError

WIDE = 110  # from this many columns the RL config gets its own column
AGES_EVERY = 15.0  # seconds between refreshes of the "last event" ages


def stats_cells(stats: RunStats | None) -> list[Text]:
    """The episodes, average reward and success cells; '…' while not computed yet."""
    if stats is None:
        return [Text("…", justify="right") for _ in range(3)]
    open_ = stats.episodes - stats.ended
    episodes = Text(f"{stats.episodes}" + (f" ({open_} open)" if open_ else ""), justify="right")
    if stats.average_reward is None or stats.success_rate is None:
        return [episodes, Text("-", justify="right"), Text("-", justify="right")]
    return [episodes, Text(f"{stats.average_reward:.2f}", justify="right"),
            Text(f"{stats.success_rate:.0%}", justify="right")]


def policy_cell(summary: RunSummary) -> str:
    if summary.llm and summary.policy:
        return f"{summary.llm} ({summary.policy})"
    return summary.llm or summary.policy or "-"


class RunsScreen(DataScreen):
    """Lists the runs; the episode figures fill in after the rows appear, run by run."""

    AUTO_FOCUS = "#runs"
    BINDINGS = [
        Binding("enter", "open_run", "Open", priority=True),
        Binding("m", "memory", "Memory"),
        Binding("d", "diff", "Last epoch's diff"),
        Binding("c", "plots", "Plots"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.runs: dict[str, RunSummary] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static(id="run-detail", classes="detail-line")
        yield IntegrityLine()
        yield Footer()

    def on_mount(self) -> None:
        self.title = "rememberer"
        self.sub_title = self.settings.db_path.name
        self.query_one("#runs", DataTable).loading = True
        self.set_interval(AGES_EVERY, self.refresh_ages)
        self.reload()

    def reload(self) -> None:
        self.load_runs()

    @work(thread=True, exclusive=True, group="runs")
    def load_runs(self) -> None:
        try:
            with self.settings.open() as recorder:
                heads = run_heads(recorder)
                self.post_message(RunsLoaded(heads))
                for head in heads:
                    self.post_message(RunStatsLoaded(head.run, run_stats(recorder, head.run)))
        except StoreError as exc:
            self.post_message(LoadFailed(str(exc)))

    @on(RunsLoaded)
    def show_runs(self, message: RunsLoaded) -> None:
        # Keep the figures already shown until fresh ones arrive: no flicker on live updates.
        previous = self.runs
        self.runs = {
            head.run: attrs.evolve(head, stats=previous[head.run].stats) if head.run in previous else head
            for head in message.runs
        }
        self.loaded = True
        self.render_rows()

    @on(RunStatsLoaded)
    def show_stats(self, message: RunStatsLoaded) -> None:
        if message.run not in self.runs:
            return
        self.runs[message.run] = attrs.evolve(self.runs[message.run], stats=message.stats)
        table = self.query_one("#runs", DataTable)
        for key, cell in zip(("episodes", "average", "success"), stats_cells(message.stats)):
            table.update_cell(message.run, key, cell, update_width=True)

    def render_rows(self) -> None:
        table = self.query_one("#runs", DataTable)
        selected = self.selected_run()
        wide = self.size.width >= WIDE
        now = self.settings.clock()
        table.clear(columns=True)
        columns = [("run", "run"), ("env", "environment"), ("LLM / policy", "llm")]
        columns += [("RL", "rl")] if wide else []
        columns += [("episodes", "episodes"), ("avg R", "average"), ("success", "success"),
                    ("last", "last")]
        for label, key in columns:
            right = key in ("episodes", "average", "success", "last")
            table.add_column(Text(label, justify="right" if right else "left"), key=key)
        for summary in self.runs.values():
            # Text, not str: a DataTable reads a str cell as markup ("click[x]" would lose "[x]").
            cells = [Text(summary.run), Text(summary.environment or "-"), Text(policy_cell(summary))]
            cells += [Text(rl_brief(summary.rl))] if wide else []
            cells += [*stats_cells(summary.stats),
                      Text(age(summary.last_event_at, now), justify="right")]
            table.add_row(*cells, key=summary.run)
        table.loading = False
        if selected in self.runs:
            table.move_cursor(row=table.get_row_index(selected), animate=False)
        self.show_detail()

    def refresh_ages(self) -> None:
        """Keep "how long ago" true while the screen sits idle."""
        table = self.query_one("#runs", DataTable)
        now = self.settings.clock()
        for run, summary in self.runs.items():
            if run in table.rows:
                table.update_cell(run, "last", Text(age(summary.last_event_at, now), justify="right"),
                                  update_width=True)
        self.show_detail()

    def on_resize(self) -> None:
        if self.loaded:
            self.render_rows()

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#runs", DataTable).loading = False
        self.notify(message.error, title="Cannot read the database", severity="error")

    @on(DataTable.RowHighlighted, "#runs")
    def row_highlighted(self) -> None:
        self.show_detail()

    @on(DataTable.RowSelected, "#runs")
    def row_selected(self) -> None:
        self.action_open_run()

    def selected_run(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def show_detail(self) -> None:
        detail = self.query_one("#run-detail", Static)
        run = self.selected_run()
        if run is None:
            detail.update("No runs in this database yet: ingest a trace (rememberer ingest) or "
                          "start a run, and it appears here.")
            return
        summary = self.runs[run]
        when = summary.last_event_at.replace("T", " ")[:19]
        ago = age(summary.last_event_at, self.settings.clock())
        parts = [Text(run, style="bold"), Text(summary.environment or "no environment"),
                 Text(policy_cell(summary)), Text(rl_brief(summary.rl) or "no RunStarted"),
                 Text(f"last event #{summary.last_position} at {when} ({ago} ago)")]
        detail.update(Text(" · ").join(parts))

    def action_open_run(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.app.push_screen(EpisodesScreen(self.settings, run))

    def action_memory(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.app.push_screen(MemoryScreen(self.settings, run))

    def action_diff(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.app.push_screen(DiffScreen(self.settings, run))

    def action_plots(self) -> None:
        run = self.selected_run()
        if run is not None:
            self.app.push_screen(PlotsScreen(self.settings, run))

    def action_refresh(self) -> None:
        self.reload()
