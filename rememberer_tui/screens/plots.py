"""How a run went: per-epoch reward and success (train and test, as the paper reports
them), and along the log the memory's size and how much its Q-values still move."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Footer, Header, Static
from textual_plotext import PlotextPlot

from rememberer_tui.audit import PlotSeries, plot_series
from rememberer_tui.messages import LoadFailed
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.widgets.integrity import IntegrityLine
from store.recorder import StoreError

SPLITS = ("train", "test")


def epochs_line(series: PlotSeries) -> Text:
    """The last epoch's figures in words, under the plots."""
    if not series.epochs:
        return Text("no ended episodes yet: the per-epoch plots stay empty", style="italic")
    last = max(row.epoch for row in series.epochs)
    parts = [Text(f"epoch {last}", style="bold")]
    for row in series.epochs:
        if row.epoch == last:
            parts.append(Text(f"{row.split}: average reward {row.average_reward:.3f}, success "
                              f"{row.success_rate:.0%} over {row.episodes} episodes"))
    parts.append(Text(f"memory: {series.memory_size[-1]:,} records at position {series.positions[-1]:,}"))
    return Text(" · ").join(parts)


class PlotsScreen(DataScreen):
    DEFAULT_CSS = """
    PlotsScreen #plots {
        grid-size: 2 2;
        height: 1fr;
    }
    """
    BINDINGS = [Binding("escape", "back", "Back")]

    class Plotted(Message):
        def __init__(self, series: PlotSeries) -> None:
            super().__init__()
            self.series = series

    def __init__(self, settings: Settings, run: str) -> None:
        super().__init__(settings)
        self.run = run
        self.series: PlotSeries | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Grid(id="plots"):
            for name in ("reward", "success", "size", "delta"):
                yield PlotextPlot(id=f"plot-{name}")
        yield Static(id="plots-line", classes="detail-line")
        yield IntegrityLine()
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = "plots"
        self.query_one("#plots-line", Static).update(Text("folding the run…", style="italic"))
        self.reload()

    def follows(self, runs: frozenset[str]) -> bool:
        return self.run in runs

    def reload(self) -> None:
        self.load_series()

    @work(thread=True, exclusive=True, group="plots")
    def load_series(self) -> None:
        try:
            with self.settings.open() as recorder:
                self.post_message(self.Plotted(plot_series(recorder, self.run)))
        except StoreError as exc:
            self.post_message(LoadFailed(str(exc)))

    @on(Plotted)
    def plotted(self, message: Plotted) -> None:
        series = self.series = message.series
        self.loaded = True
        for name, title, field in (("reward", "average reward per epoch", "average_reward"),
                                   ("success", "success rate per epoch", "success_rate")):
            plt = self.query_one(f"#plot-{name}", PlotextPlot).plt
            plt.clear_data()
            plt.title(title)
            for split in SPLITS:
                rows = [row for row in series.epochs if row.split == split]
                if rows:
                    plt.plot([row.epoch for row in rows], [getattr(row, field) for row in rows],
                             label=split, marker="braille")
            epochs = sorted({row.epoch for row in series.epochs})
            if epochs:
                plt.xticks(epochs)
            plt.ylim(0, 1)
        for name, title, values in (("size", "records in memory", series.memory_size),
                                    ("delta", "mean |ΔQ| per update", series.mean_abs_delta)):
            plt = self.query_one(f"#plot-{name}", PlotextPlot).plt
            plt.clear_data()
            plt.title(title)
            plt.xlabel("position")
            plt.plot(list(series.positions), list(values), marker="braille")
            ticks = sorted({series.positions[i * (len(series.positions) - 1) // 4] for i in range(5)})
            plt.xticks(ticks, [f"{tick:,}" for tick in ticks])
        for plot in self.query(PlotextPlot):
            plot.refresh()
        self.query_one("#plots-line", Static).update(epochs_line(series))

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.notify(message.error, title="Cannot plot", severity="error")

    def action_back(self) -> None:
        self.app.pop_screen()
