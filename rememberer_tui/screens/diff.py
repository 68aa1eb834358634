"""Two Q-tables of a run side by side: what was added, removed and changed, largest first.

Side A is the run's table as of one position under its own config; side B as of another
position, under the run's config or a what-if (gamma, n-step, update mode). The same
replays and `diff_rows` as `rememberer diff`, so the two always agree. Opened without
positions, it compares the end of the run's next-to-last epoch with the run's end: what
the last epoch changed.
"""

from __future__ import annotations

import attrs
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from rememberer_tui.audit import TrailCache, episode_marks, epoch_ends, run_span, table_diff
from rememberer_tui.data import rl_brief
from rememberer_tui.export import default_name
from rememberer_tui.messages import LoadFailed
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.provenance import ProvenanceScreen
from rememberer_tui.widgets.columns import text_widths
from rememberer_tui.widgets.export_dialog import export_rows
from rememberer_tui.widgets.integrity import IntegrityLine
from rememberer_tui.widgets.render import clip, observation_hint
from replay.diff import ADDED, CHANGED, REMOVED, ActionChange, TableDiff
from replay.projection import run_config
from store.events import UPDATE_MODES, EventValidationError, RLConfig
from store.recorder import StoreError

MAX_ROWS = 1000
STATUS_STYLE = {ADDED: "bold green", REMOVED: "bold red", CHANGED: "bold"}
STATUS_MARK = {ADDED: "+", REMOVED: "−", CHANGED: "~"}


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


@attrs.frozen
class Comparison:
    """What was compared: positions, both configs, and the result."""

    at: int
    against: int
    base: RLConfig
    config: RLConfig
    result: TableDiff | None  # None: nothing to compare (same position, same config)


class DiffScreen(DataScreen):
    DEFAULT_CSS = """
    DiffScreen #diff-form {
        height: auto;
        padding: 0 1;
    }
    DiffScreen #diff-form Input {
        width: 1fr;
    }
    DiffScreen #diff-form Select {
        width: 1fr;
    }
    DiffScreen #changes {
        height: 1fr;
    }
    """
    AUTO_FOCUS = "#changes"
    BINDINGS = [
        Binding("enter", "provenance", "Provenance", priority=True),
        Binding("e", "edit", "Edit the comparison"),
        Binding("f", "status_filter", "Filter"),
        Binding("x", "export", "Export"),
        Binding("escape", "back", "Back"),
    ]

    class Compared(Message):
        def __init__(self, comparison: Comparison) -> None:
            super().__init__()
            self.comparison = comparison

    def __init__(self, settings: Settings, run: str, *, at: int | None = None,
                 against: int | None = None, trails: TrailCache | None = None) -> None:
        super().__init__(settings)
        self.run = run
        self.at = at
        self.against = against
        self.trails = trails if trails is not None else TrailCache()
        self.comparison: Comparison | None = None
        self.status = ""  # the status shown ("": all)
        self.changes: list[ActionChange] = []  # those shown, largest |delta| first

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="diff-form"):
            yield Input(placeholder="A position", id="diff-at", type="integer", tooltip="Side A: position")
            yield Input(placeholder="B position", id="diff-against", type="integer",
                        tooltip="Side B: position")
            yield Input(placeholder="B γ", id="diff-gamma", type="number", tooltip="Side B: gamma (what-if)")
            yield Input(placeholder="B n", id="diff-n", type="integer", tooltip="Side B: n-step (what-if)")
            yield Select([(mode, mode) for mode in UPDATE_MODES], prompt="B mode", id="diff-mode",
                         tooltip="Side B: update mode (what-if)")
        yield Static(id="diff-line", classes="detail-line")
        yield DataTable(id="changes", cursor_type="row", zebra_stripes=True)
        yield IntegrityLine()
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = "diff"
        self.query_one("#diff-line", Static).update(Text("replaying both sides…", style="italic"))
        self.query_one("#changes", DataTable).loading = True
        self.reload()

    def follows(self, runs: frozenset[str]) -> bool:
        return False  # both sides are fixed positions: new events do not change them

    def reload(self) -> None:
        self.compare(self.at, self.against, {})

    # ------------------------------------------------------------------ the comparison

    @work(thread=True, exclusive=True, group="diff")
    def compare(self, at: int | None, against: int | None, overrides: dict) -> None:
        try:
            with self.settings.open() as recorder:
                if at is None or against is None:
                    first, last = run_span(recorder, self.run)
                    ends = [end for _, end in epoch_ends(episode_marks(recorder, self.run))]
                    at = at if at is not None else (ends[-2] if len(ends) > 1 else first)
                    against = against if against is not None else last
                base = run_config(recorder, self.run)
                config = attrs.evolve(base, **overrides)
                same = at == against and config == base
                result = None if same else table_diff(recorder, self.run, at, against, config)
        except (StoreError, EventValidationError) as exc:
            self.post_message(LoadFailed(str(exc)))
            return
        self.post_message(self.Compared(Comparison(at, against, base, config, result)))

    def action_edit(self) -> None:
        self.query_one("#diff-at", Input).focus()

    @on(Input.Submitted)
    @on(Select.Changed)
    def submitted(self) -> None:
        """Enter in any field, or another mode chosen, compares again with what the form says."""
        fields = {name: self.query_one(f"#diff-{name}", Input).value.strip()
                  for name in ("at", "against", "gamma", "n")}
        try:
            at = int(fields["at"]) if fields["at"] else None
            against = int(fields["against"]) if fields["against"] else None
            overrides: dict = {}
            if fields["gamma"]:
                overrides["gamma"] = float(fields["gamma"])
            if fields["n"]:
                overrides["n_step"] = int(fields["n"])
        except ValueError as exc:
            self.notify(str(exc), title="Not a number", severity="error")
            return
        mode = self.query_one("#diff-mode", Select).value
        if isinstance(mode, str):
            overrides["update_mode"] = mode
        self.query_one("#changes", DataTable).loading = True
        self.compare(at, against, overrides)

    @on(Compared)
    def compared(self, message: Compared) -> None:
        comparison = self.comparison = message.comparison
        self.loaded = True
        for name, value in (("at", comparison.at), ("against", comparison.against)):
            box = self.query_one(f"#diff-{name}", Input)
            if not box.value:
                box.value = str(value)
        self.query_one("#diff-gamma", Input).placeholder = f"B γ ({comparison.base.gamma:g})"
        self.query_one("#diff-n", Input).placeholder = f"B n ({comparison.base.n_step})"
        self.render_rows()
        self.query_one("#changes", DataTable).focus()  # the answer to what was typed

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#changes", DataTable).loading = False
        self.notify(message.error, title="Cannot compare", severity="error")

    # ------------------------------------------------------------------ drawing

    def render_rows(self) -> None:
        """One change a row, largest |Δ| first: +, − or ~, then what changed and by how
        much. From 120 columns the task and the visits get columns too."""
        comparison = self.comparison
        if comparison is None:
            return
        table = self.query_one("#changes", DataTable)
        everything = comparison.result.actions if comparison.result is not None else []
        self.changes = [c for c in everything if not self.status or c.status == self.status]
        wide = self.size.width >= 120
        names = ["task", "action", "observation"] if wide else ["action", "observation"]
        numbers = 6 + 6 + 7 + (11 if wide else 0) + 1
        widths = dict(zip(names, text_widths(self.size.width, numbers, len(names) + 4 + wide,
                                             [2, 3, 4] if wide else [1, 1])))
        table.clear(columns=True)
        columns = [("status", "", False), *((name, name, False) for name in names),
                   ("qa", "Q A", True), ("qb", "Q B", True), ("delta", "Δ", True)]
        columns += [("visits", "visits A→B", True)] if wide else []
        for key, label, right in columns:
            table.add_column(Text(label, justify="right" if right else "left"), key=key)
        for index, change in enumerate(self.changes[:MAX_ROWS]):
            texts = {"task": change.task, "action": change.action,
                     "observation": observation_hint(change.observation, change.task)}
            cells = [Text(STATUS_MARK[change.status], style=STATUS_STYLE[change.status])]
            cells += [Text(clip(texts[name], widths[name])) for name in names]
            cells += [Text(_number(change.q_a), justify="right"), Text(_number(change.q_b), justify="right"),
                      Text(f"{change.delta:+.4g}", justify="right", style="bold")]
            if wide:
                cells.append(Text(f"{_number(change.visits_a)}→{_number(change.visits_b)}", justify="right"))
            table.add_row(*cells, key=str(index))
        table.loading = False
        self.show_line()

    def show_line(self) -> None:
        comparison = self.comparison
        line = self.query_one("#diff-line", Static)
        what_if = comparison.config != comparison.base
        sides = Text.assemble(
            ("A ", "bold"), f"{comparison.at:,} ({rl_brief(comparison.base)}) · ",
            ("B ", "bold"), f"{comparison.against:,} ({rl_brief(comparison.config)}",
            (", what-if" if what_if else "", "italic"), ")")
        result = comparison.result
        if result is None:
            line.update(sides + Text(" · nothing to compare: change a position or a B setting (e)",
                                     style="italic"))
            return
        counts = (f" · records +{len(result.records_added)} −{len(result.records_removed)} · actions "
                  f"+{result.count('added')} −{result.count('removed')} ~{result.count('changed')}, "
                  f"{result.unchanged} same")
        if self.status:
            counts += f" · showing {self.status} only (f)"
        if len(self.changes) > MAX_ROWS:
            counts += f" · the {MAX_ROWS:,} largest shown (export writes all)"
        line.update(sides + Text(counts))

    def on_resize(self) -> None:
        if self.loaded:
            self.render_rows()

    # ------------------------------------------------------------------ keys

    def selected(self) -> ActionChange | None:
        table = self.query_one("#changes", DataTable)
        if not table.row_count:
            return None
        return self.changes[table.cursor_row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """enter in the form is the form's (compare, open the list), not a provenance."""
        focused = self.focused
        in_form = focused is not None and any(isinstance(node, (Input, Select))
                                              for node in focused.ancestors_with_self)
        return not (action == "provenance" and in_form)

    def action_provenance(self) -> None:
        change, comparison = self.selected(), self.comparison
        if change is None or comparison is None:
            return
        self.app.push_screen(ProvenanceScreen(
            self.settings, self.run, (change.task, change.observation), change.action, comparison.against,
            config=comparison.config, trails=self.trails))

    def action_status_filter(self) -> None:
        """Show all changes, then only the changed actions, the added, the removed."""
        cycle = ["", CHANGED, ADDED, REMOVED]
        self.status = cycle[(cycle.index(self.status) + 1) % len(cycle)]
        self.render_rows()

    def action_export(self) -> None:
        comparison = self.comparison
        if comparison is None or comparison.result is None:
            return
        rows = [change.to_dict() for change in self.changes]
        export_rows(self, f"the {self.status or 'added, removed and changed'} actions (beyond the rows shown too)",
                    default_name("diff", self.run, comparison.at, comparison.against, self.status), rows)

    def action_back(self) -> None:
        if isinstance(self.focused, (Input, Select)):
            self.query_one("#changes", DataTable).focus()
            return
        self.app.pop_screen()
