"""Why a Q-value is what it is: every update that made it, from the fold's audit trail.

Each update shows its transition, its target with the n-step terms, and Q before and
after; replaying them (`replay_trail`) must give the value the memory shows, and the line
at the top says whether it does. Prunings of the action and evictions of its record come
last, with their reasons. `enter` opens the update's episode at its step.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from rememberer_tui.audit import (
    Provenance,
    TrailCache,
    UpdateRow,
    fact_text,
    provenance,
    provenance_rows,
    target_terms,
)
from rememberer_tui.export import default_name
from rememberer_tui.messages import LoadFailed
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.episode import EpisodeScreen
from rememberer_tui.widgets.export_dialog import export_rows
from rememberer_tui.widgets.integrity import IntegrityLine
from rememberer_tui.widgets.render import clip, observation_hint
from replay.state import StateKey
from store.events import RLConfig

COLUMNS = (("position", "pos", True), ("episode", "episode", False), ("step", "step", True),
           ("reward", "r", True), ("target", "target G", False), ("q", "Q before → after", False),
           ("visits", "N", True))


def update_detail(row: UpdateRow, config: RLConfig, task: str) -> Text:
    """The highlighted update in full: transition, target, and the step of Q."""
    e, t = row.entry, row.transition
    text = Text()
    if e.kind == "seed":
        text.append(f"seeded at position {e.position} by an imported pool: ", style="bold")
        text.append(f"Q = {e.target:.6g}, {e.visits} visits")
        return text
    text.append(f"update applied at position {e.position}", style="bold")
    text.append(f" · episode {e.episode}, step {e.step} (its transition is at {e.occurrence})")
    if config.double_q:
        text.append(f" · table {e.table}")
    if t is not None:
        ending = " · terminated" if t.terminated else " · truncated" if t.truncated else ""
        text.append("\nobservation: ", style="bold")
        text.append(clip(observation_hint(t.observation, task), 100))
        text.append("\naction: ", style="bold")
        text.append(f"{t.action} · reward {t.reward:g}{ending}")
        text.append("\nnext: ", style="bold")
        text.append(clip(observation_hint(t.next_observation, task), 100))
    text.append("\ntarget: ", style="bold")
    text.append(f"G = {target_terms(e)}")
    if e.bootstrap is not None and e.bootstrap_from is not None:
        via = (f" (the other table's Q of {e.bootstrap_action})" if e.bootstrap_action
               else " (its largest Q; 0 unrecorded)")
        source = clip(observation_hint(e.bootstrap_from[1], e.bootstrap_from[0]), 60)
        text.append(f"\n        V read from «{source}»{via}", style="dim")
    elif e.bootstrap is None:
        text.append("  (the episode ended: no bootstrap)", style="dim")
    text.append("\nstep: ", style="bold")
    if config.update_mode == "mean":
        text.append(f"Q ← Q + (G − Q)/N = {e.old_q:.6g} + ({e.target:.6g} − {e.old_q:.6g})/{e.visits}"
                    f" = {e.new_q:.6g}")
    else:
        text.append(f"Q ← Q + α(G − Q) = {e.old_q:.6g} + {config.learning_rate:g}×({e.target:.6g} − "
                    f"{e.old_q:.6g}) = {e.new_q:.6g}")
    return text


def summary(found: Provenance) -> Text:
    text = Text()
    text.append(found.action, style="bold")
    text.append(f" in «{clip(observation_hint(found.key[1], found.key[0]), 50)}»")
    if found.q is None:
        text.append(f" · not in the memory at position {found.position:,}", style="italic")
        return text
    count = len(found.updates)
    text.append(f" · Q {found.q:.6g}, {found.visits} visits at position {found.position:,} · "
                f"{count} update{'s' if count != 1 else ''} below replay to {found.replayed:.6g} ")
    text.append("✓" if found.consistent else "✗ MISMATCH",
                style="bold green" if found.consistent else "bold red")
    return text


class ProvenanceScreen(DataScreen):
    DEFAULT_CSS = """
    ProvenanceScreen #updates {
        height: 1fr;
    }
    ProvenanceScreen #provenance-detail {
        height: auto;
        max-height: 12;
    }
    """
    AUTO_FOCUS = "#updates"
    BINDINGS = [
        Binding("enter", "open_step", "Open the step", priority=True),
        Binding("x", "export", "Export"),
        Binding("escape", "back", "Back"),
    ]

    class Loaded(Message):
        def __init__(self, found: Provenance) -> None:
            super().__init__()
            self.found = found

    def __init__(self, settings: Settings, run: str, key: StateKey, action: str, position: int, *,
                 config: RLConfig | None = None, trails: TrailCache | None = None) -> None:
        super().__init__(settings)
        self.run = run
        self.key = key
        self.action = action
        self.position = position
        self.config = config
        self.trails = trails if trails is not None else TrailCache()
        self.found: Provenance | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="provenance-line", classes="detail-line")
        yield DataTable(id="updates", cursor_type="row", zebra_stripes=True)
        with VerticalScroll(id="provenance-detail", classes="panel"):
            yield Static(id="update-detail")
        yield Static(id="facts", classes="panel")
        yield IntegrityLine()
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = f"provenance of {clip(self.action, 40)}"
        self.query_one("#provenance-line", Static).update(
            Text(f"replaying run {self.run} with its audit trail up to position {self.position:,}…",
                 style="italic"))
        self.query_one("#provenance-detail").border_title = "Update"
        self.query_one("#facts").border_title = "Pruned or evicted"
        table = self.query_one("#updates", DataTable)
        for key, label, right in COLUMNS:
            table.add_column(Text(label, justify="right" if right else "left"), key=key)
        table.loading = True
        self.reload()

    def reload(self) -> None:
        self.load_provenance()

    def follows(self, runs: frozenset[str]) -> bool:
        return False  # the screen is about one position, which new events do not change

    @work(thread=True, exclusive=True, group="provenance")
    def load_provenance(self) -> None:
        try:
            with self.settings.open() as recorder:
                found = provenance(recorder, self.run, self.key, self.action, self.position,
                                   config=self.config, trails=self.trails)
        except Exception as exc:  # a replay that fails must not close the screen: say why
            self.post_message(LoadFailed(f"replay failed: {exc}"))
            return
        self.post_message(self.Loaded(found))

    @on(Loaded)
    def loaded_provenance(self, message: Loaded) -> None:
        found = self.found = message.found
        self.loaded = True
        self.query_one("#provenance-line", Static).update(summary(found))
        table = self.query_one("#updates", DataTable)
        table.clear()
        for index, row in enumerate(found.updates):
            e, t = row.entry, row.transition
            table.add_row(
                Text(f"{e.position:,}", justify="right"), Text(e.episode or "(pool)"),
                Text(str(e.step), justify="right"),
                Text(f"{t.reward:g}" if t else "", justify="right"),
                Text(target_terms(e)), Text(f"{e.old_q:.4g} → {e.new_q:.4g}"),
                Text(str(e.visits), justify="right"), key=str(index))
        table.loading = False
        facts = self.query_one("#facts", Static)
        if found.facts:
            facts.update(Text("\n").join(Text(fact_text(f)) for f in found.facts))
        else:
            facts.update(Text("never pruned, its record never evicted", style="dim"))
        if found.updates:
            table.move_cursor(row=len(found.updates) - 1, animate=False)
        self.show_detail()

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#updates", DataTable).loading = False
        self.notify(message.error, title="Cannot show the provenance", severity="error")

    def selected(self) -> UpdateRow | None:
        table = self.query_one("#updates", DataTable)
        if self.found is None or not table.row_count:
            return None
        return self.found.updates[table.cursor_row]

    @on(DataTable.RowHighlighted, "#updates")
    def show_detail(self) -> None:
        row = self.selected()
        detail = self.query_one("#update-detail", Static)
        if row is None:
            detail.update(Text("no update: the value is 0 (or was never in the memory)", style="dim"))
        else:
            detail.update(update_detail(row, self.found.config, self.key[0]))

    def action_open_step(self) -> None:
        row = self.selected()
        if row is None or not row.stream:
            return
        self.app.push_screen(EpisodeScreen(self.settings, self.run, row.stream, step=row.entry.step))

    def action_export(self) -> None:
        if self.found is None:
            return
        export_rows(self, "the updates and facts shown",
                    default_name("provenance", self.run, "at", self.position, self.action[:40]),
                    provenance_rows(self.found))

    def action_back(self) -> None:
        self.app.pop_screen()
