"""A run's memory as of any log position: its records, and each record's actions.

The position moves event by event (`[` `]`), episode by episode (`{` `}`), epoch by epoch
(`<` `>`) or to a typed position (`g`). A `Scrubber` (rememberer_tui/scrubber.py) does the
moving in a worker: it folds forward, undoes its journal backward, and after each move
extends the journal further back in another worker, so the next steps back cost nothing.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, Static
from textual.worker import get_current_worker

from rememberer_tui.audit import EpisodeMark, TrailCache, episode_at, episode_marks, epoch_ends, run_positions
from rememberer_tui.export import default_name
from rememberer_tui.messages import LoadFailed
from rememberer_tui.scrubber import Memory, RecordView, Scrubber, table_rows
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.screens.diff import DiffScreen
from rememberer_tui.screens.plots import PlotsScreen
from rememberer_tui.screens.provenance import ProvenanceScreen
from rememberer_tui.widgets.columns import text_widths
from rememberer_tui.widgets.export_dialog import export_rows
from rememberer_tui.widgets.integrity import IntegrityLine
from rememberer_tui.widgets.position_bar import PositionBar
from rememberer_tui.widgets.render import clip, observation_hint
from store.recorder import StoreError

MAX_ROWS = 300  # rows the table holds: sorting and the filter reach all records, a rebuild costs per row


def _best_q(record: RecordView) -> float:
    return record.best.q if record.best is not None else float("-inf")


# (column key, label, sort key, right-aligned); the first is the default order.
COLUMNS: tuple[tuple[str, str, Callable[[RecordView], object], bool], ...] = (
    ("task", "task", lambda r: (r.task, r.observation), False),
    ("observation", "observation", lambda r: (r.observation, r.task), False),
    ("actions", "#", lambda r: (len(r.actions), r.key), True),
    ("best", "best action", lambda r: (r.best.action if r.best else "", r.key), False),
    ("q", "Q", lambda r: (_best_q(r), r.key), True),
    ("visits", "visits", lambda r: (r.visits, r.key), True),
)


def matches(record: RecordView, needle: str) -> bool:
    """Whether the record's task, observation or an action contains `needle` (casefolded)."""
    return (not needle or needle in record.task.casefold() or needle in record.observation.casefold()
            or any(needle in a.action.casefold() for a in record.actions))


class RecordOrder:
    """The records that match a filter, sorted by one column (ascending), kept up to date
    from move to move: only the records a move touched (`Memory.touched`) are taken out
    and put back in place, a bisect each, so stepping through a large memory costs no
    full sort."""

    def __init__(self, needle: str = "", column: int = 0) -> None:
        self.needle = needle.casefold()
        self.key = COLUMNS[column][2]
        self.serial = -1  # the memory the order is of
        self.views: dict[tuple[str, str], RecordView] = {}
        self.order: list[RecordView] = []

    def update(self, memory: Memory) -> list[RecordView]:
        key = self.key
        if memory.serial == self.serial:
            return self.order
        touched = memory.touched
        if touched is None or memory.serial != self.serial + 1 or len(touched) > 1000:
            self.views = {r.key: r for r in memory.records if matches(r, self.needle)}
            self.order = sorted(self.views.values(), key=key)
        else:
            for record_key, view in touched.items():
                old = self.views.pop(record_key, None)
                if old is not None:
                    del self.order[bisect_left(self.order, key(old), key=key)]
                if view is not None and matches(view, self.needle):
                    self.views[record_key] = view
                    insort(self.order, view, key=key)
        self.serial = memory.serial
        return self.order


def what_changed(memory: Memory) -> Text:
    """What the event at the memory's position did to the memory, in a line."""
    if not memory.changed:
        return Text("this event changed no Q-value", style="dim")
    parts = []
    for _, key, before, after in memory.changed[:3]:
        hint = clip(observation_hint(key[1], key[0]), 30)
        if after is None:
            parts.append(f"removed «{hint}»")
            continue
        old = {a.action: a for a in before.actions} if before is not None else {}
        moved = [a for a in after.actions if old.get(a.action) != a]
        for action in moved[:1]:
            was = old.get(action.action)
            parts.append(f"Q({clip(action.action, 28)}) {was.q if was else 0:.4g} → {action.q:.4g} "
                         f"in «{hint}»")
        if not moved:
            parts.append(f"updated «{hint}»")
    more = len(memory.changed) - 3
    return Text(" · ".join(parts) + (f" · +{more} more" if more > 0 else ""))


class MemoryScreen(DataScreen):
    DEFAULT_CSS = """
    MemoryScreen #goto {
        display: none;
        margin: 0 1;
    }
    MemoryScreen #goto.shown {
        display: block;
    }
    MemoryScreen #records {
        height: 1fr;
    }
    MemoryScreen #actions {
        height: auto;
        max-height: 8;
    }
    """
    MOVE = Binding.Group("Move")
    AUTO_FOCUS = "#records"
    BINDINGS = [
        Binding("left_square_bracket", "step(-1)", "Event back", group=MOVE),
        Binding("right_square_bracket", "step(1)", "Event forward", group=MOVE),
        Binding("left_curly_bracket", "episode(-1)", "Episode back", group=MOVE),
        Binding("right_curly_bracket", "episode(1)", "Episode forward", group=MOVE),
        Binding("less_than_sign", "epoch(-1)", "Epoch back", group=MOVE),
        Binding("greater_than_sign", "epoch(1)", "Epoch forward", group=MOVE),
        Binding("g", "goto", "Go to"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse the order", show=False),
        Binding("p", "provenance", "Provenance"),
        Binding("d", "diff", "Diff"),
        Binding("c", "plots", "Plots", show=False),
        Binding("x", "export", "Export"),
        Binding("escape", "back", "Back"),
    ]

    class Marked(Message):
        """The run's positions and episodes, to move by."""

        def __init__(self, positions: array, marks: list[EpisodeMark]) -> None:
            super().__init__()
            self.positions = positions
            self.marks = marks

    class Moved(Message):
        def __init__(self, memory: Memory) -> None:
            super().__init__()
            self.memory = memory

    def __init__(self, settings: Settings, run: str, position: int | None = None) -> None:
        super().__init__(settings)
        self.run = run
        self.target = position  # where the user asked to be (None: the run's end)
        self.scrubber = Scrubber(run)
        self.trails = TrailCache()  # shared with the provenance screens opened from here
        self.positions = array("q")
        self.marks: list[EpisodeMark] = []
        self.episode_ends: list[int] = []
        self.epochs: list[tuple[int, int]] = []
        self.memory: Memory | None = None
        self.rows: list[RecordView] = []  # the records listed, in order
        self.bold: set[tuple[str, str]] = set()  # those drawn as changed by the shown event
        self.drawn: tuple | None = None  # the widths and header the table was built with
        self.actions_of: RecordView | None = None  # the record whose actions are listed
        self.sort_column = 0
        self.sort_reverse = False
        self.filter_text = ""
        self.order = RecordOrder()

    def compose(self) -> ComposeResult:
        yield Header()
        yield PositionBar(id="position-bar")
        yield Input(placeholder="filter by task, observation or action (enter: done, escape: clear)",
                    id="filter", classes="prompt")
        yield Input(placeholder="go to position (enter: go, escape: cancel)", id="goto",
                    classes="prompt", type="integer")
        yield DataTable(id="records", cursor_type="row", zebra_stripes=True)
        yield Static(id="actions-title", classes="detail-line")
        yield DataTable(id="actions", cursor_type="row")
        yield IntegrityLine()
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = "memory"
        self.query_one("#records", DataTable).loading = True
        actions = self.query_one("#actions", DataTable)
        for key, label, right in (("action", "action", False), ("q", "Q", True), ("visits", "visits", True),
                                  ("mean", "mean reward", True), ("last", "last update", True)):
            actions.add_column(Text(label, justify="right" if right else "left"), key=key)
        self.reload()

    def follows(self, runs: frozenset[str]) -> bool:
        return self.run in runs

    def reload(self) -> None:
        self.load_marks()

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="marks")
    def load_marks(self) -> None:
        try:
            with self.settings.open() as recorder:
                self.post_message(self.Marked(run_positions(recorder, self.run),
                                              episode_marks(recorder, self.run)))
        except StoreError as exc:
            self.post_message(LoadFailed(str(exc)))

    @work(thread=True, exclusive=True, group="scrub")
    def scrub(self) -> None:
        worker = get_current_worker()
        try:
            with self.settings.open() as recorder:
                memory = self.scrubber.move(recorder, self.target, lambda: worker.is_cancelled)
        except Exception as exc:  # a replay that fails must not close the screen: say why
            self.post_message(LoadFailed(f"replay failed: {exc}"))
            return
        if memory is not None:
            self.post_message(self.Moved(memory))

    @work(thread=True, exclusive=True, group="extend")
    def extend(self) -> None:
        """Fold the stretches before the journal, one at a time, while there is room."""
        worker = get_current_worker()
        with self.settings.open() as recorder:
            while not worker.is_cancelled and self.scrubber.extend_back(recorder):
                pass

    # ------------------------------------------------------------------ results

    @on(Marked)
    def marked(self, message: Marked) -> None:
        at_end = self.positions and self.target == self.positions[-1]
        self.positions, self.marks = message.positions, message.marks
        self.episode_ends = sorted(mark.last for mark in self.marks)
        self.epochs = epoch_ends(self.marks)
        if not self.positions:
            self.query_one("#records", DataTable).loading = False
            self.show_bar()
            return
        if self.target is None or at_end:
            self.target = self.positions[-1]
        self.scrub()

    @on(Moved)
    def moved(self, message: Moved) -> None:
        self.memory = message.memory
        self.loaded = True
        self.render_rows()
        if self.scrubber.can_extend:
            self.extend()

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#records", DataTable).loading = False
        self.notify(message.error, title="Cannot show the memory", severity="error")

    # ------------------------------------------------------------------ drawing

    def widths(self) -> tuple[int, ...]:
        """Task, observation, #, best action, Q, visits: the texts share what is left."""
        task, observation, action = text_widths(self.size.width, 3 + 7 + 6 + 5, 1, [2, 4, 3])
        return (task, observation, 3, action, 7, 6)

    def header(self, widths: tuple[int, ...]) -> Text:
        arrow = " ▼" if self.sort_reverse else " ▲"
        cells = []
        for index, ((_, label, _, right), width) in enumerate(zip(COLUMNS, widths)):
            label += arrow if index == self.sort_column else ""
            cells.append(label.rjust(width) if right else label.ljust(width))
        return Text(" ".join(cells))

    @staticmethod
    def line(record: RecordView, widths: tuple[int, ...], changed: bool) -> Text:
        """One record as one line: a single-cell row draws several times faster than six
        cells, and the table redraws on every move."""
        task, observation, count, action, q, visits = widths
        best = record.best
        style = "bold" if changed else ""
        return Text.assemble(
            (clip(record.task, task).ljust(task), style), " ",
            (clip(observation_hint(record.observation, record.task), observation).ljust(observation), style), " ",
            str(len(record.actions)).rjust(count), " ",
            (clip(best.action if best else "-", action).ljust(action), style), " ",
            ((f"{best.q:.4g}" if best else "-").rjust(q), style), " ",
            str(record.visits).rjust(visits))

    def render_rows(self) -> None:
        """The records table at the shown position; the cursor stays on its record. When
        the same records are listed in the same order (a step that changed values only),
        only the rows that changed are redrawn."""
        memory = self.memory
        if memory is None:
            return
        table = self.query_one("#records", DataTable)
        selected = self.selected_key()
        matching = self.order.update(memory)
        rows = list(reversed(matching[-MAX_ROWS:])) if self.sort_reverse else matching[:MAX_ROWS]
        changed = {key for _, key, _, _ in memory.changed}
        widths = self.widths()
        header = self.header(widths)
        same = (table.row_count == len(rows) and self.drawn == (widths, header)
                and all(old.key == new.key for old, new in zip(self.rows, rows)))
        if same:
            for index, (old, new) in enumerate(zip(self.rows, rows)):
                if old is not new or (new.key in changed) != (new.key in self.bold):
                    table.update_cell(str(index), "record", self.line(new, widths, new.key in changed))
        else:
            table.clear(columns=True)
            table.add_column(header, key="record", width=sum(widths) + len(widths) - 1)
            for index, record in enumerate(rows):
                table.add_row(self.line(record, widths, record.key in changed), key=str(index))
            keys = [r.key for r in rows]
            if selected in keys:
                table.move_cursor(row=keys.index(selected), animate=False)
        self.rows, self.bold, self.drawn = rows, changed, (widths, header)
        table.loading = False
        self.show_bar()
        self.show_actions()

    def show_bar(self) -> None:
        """The bar at the shown position, and a line on it: where it is in the run, what
        the event there did, and where the screen is moving to while a move takes long."""
        memory = self.memory
        first, last = (self.positions[0], self.positions[-1]) if self.positions else (0, 0)
        bar = self.query_one("#position-bar", PositionBar)
        if memory is None:
            waiting = "no events in this run" if not self.positions else (
                f"replaying the run to position {self.target:,}… (on a long run, `rememberer snapshot`"
                " makes this fast)")
            bar.show(first, last, first, [end for _, end in self.epochs], Text(waiting, style="italic"))
            return
        note = Text()
        note.append(f"position {memory.position:,}", style="bold")
        if self.target != memory.position:
            note.append(f" → {self.target:,}…", style="italic")
        episode = episode_at(self.marks, memory.position)
        if episode is not None:
            note.append(f" · {episode.episode} (epoch {episode.epoch}, {episode.split})")
        total, matching = len(memory.records), len(self.order.order)
        count = f"{matching:,} of {total:,} records" if self.filter_text else f"{total:,} records"
        note.append(f" · {count} · ")
        note.append_text(what_changed(memory))
        bar.show(first, last, memory.position, [end for _, end in self.epochs], note)

    def selected_record(self) -> RecordView | None:
        table = self.query_one("#records", DataTable)
        if not table.row_count or not 0 <= table.cursor_row < len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def selected_key(self) -> tuple[str, str] | None:
        record = self.selected_record()
        return record.key if record is not None else None

    @on(DataTable.RowHighlighted, "#records")
    def record_highlighted(self) -> None:
        self.show_actions()

    def show_actions(self) -> None:
        record = self.selected_record()
        if record is self.actions_of and record is not None:
            return
        self.actions_of = record
        table = self.query_one("#actions", DataTable)
        title = self.query_one("#actions-title", Static)
        cursor = table.cursor_row
        table.clear()
        if record is None:
            title.update(Text("no record selected", style="dim"))
            return
        hint = clip(observation_hint(record.observation, record.task), 60)
        title.update(Text.assemble(("actions of ", "dim"), hint,
                                   (" · enter on an action: its provenance", "dim")))
        for action in sorted(record.actions, key=lambda a: (-a.q, a.action)):
            table.add_row(Text(action.action), Text(f"{action.q:.4g}", justify="right"),
                          Text(str(action.visits), justify="right"),
                          Text(f"{action.mean_reward:.4g}", justify="right"),
                          Text(f"{action.last_position:,}", justify="right"), key=action.action)
        table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)

    def on_resize(self) -> None:
        if self.loaded:
            self.render_rows()

    # ------------------------------------------------------------------ moving

    def go(self, target: int) -> None:
        if not self.positions:
            return
        self.target = max(self.positions[0], min(target, self.positions[-1]))
        self.scrub()
        self.show_bar()

    def action_step(self, delta: int) -> None:
        if not self.positions or self.target is None:
            return
        index = bisect_right(self.positions, self.target) - 1  # the event shown
        self.go(self.positions[max(0, min(index + delta, len(self.positions) - 1))])

    def _jump(self, ends: list[int], delta: int) -> None:
        """To the next (previous) of `ends` after (before) the position; the run's last
        (first) event when there is none."""
        if not self.positions or self.target is None:
            return
        if delta > 0:
            index = bisect_right(ends, self.target)
            self.go(ends[index] if index < len(ends) else self.positions[-1])
        else:
            index = bisect_left(ends, self.target) - 1
            self.go(ends[index] if index >= 0 else self.positions[0])

    def action_episode(self, delta: int) -> None:
        self._jump(self.episode_ends, delta)

    def action_epoch(self, delta: int) -> None:
        self._jump([end for _, end in self.epochs], delta)

    def action_goto(self) -> None:
        box = self.query_one("#goto", Input)
        box.add_class("shown")
        box.value = ""
        box.focus()

    @on(Input.Submitted, "#goto")
    def goto_submitted(self, message: Input.Submitted) -> None:
        box = self.query_one("#goto", Input)
        box.remove_class("shown")
        self.query_one("#records", DataTable).focus()
        if message.value.strip().lstrip("-").isdigit():
            self.go(int(message.value))

    # ------------------------------------------------------------------ filter and sort

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("shown")
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, message: Input.Changed) -> None:
        self.filter_text = message.value.strip()
        self.order = RecordOrder(self.filter_text, self.sort_column)
        self.render_rows()

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        if not self.filter_text:
            self.query_one("#filter", Input).remove_class("shown")
        self.query_one("#records", DataTable).focus()

    def action_sort(self) -> None:
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self.sort_reverse = self.sort_column in (2, 4, 5)  # numbers: largest first
        self.order = RecordOrder(self.filter_text, self.sort_column)
        self.render_rows()

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self.render_rows()

    # ------------------------------------------------------------------ other screens

    @on(DataTable.RowSelected, "#records")
    def record_selected(self) -> None:
        if self.query_one("#actions", DataTable).row_count:
            self.query_one("#actions", DataTable).focus()

    @on(DataTable.RowSelected, "#actions")
    def actions_row_selected(self) -> None:
        self.action_provenance()

    def selected_action(self) -> str | None:
        table = self.query_one("#actions", DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_provenance(self) -> None:
        record, action = self.selected_record(), self.selected_action()
        if record is None or action is None or self.memory is None:
            return
        self.app.push_screen(ProvenanceScreen(self.settings, self.run, record.key, action,
                                              self.memory.position, trails=self.trails))

    def action_diff(self) -> None:
        if self.memory is None:
            return
        position = self.memory.position
        before = [end for _, end in self.epochs if end < position]
        start = before[-1] if before else self.positions[0]
        self.app.push_screen(DiffScreen(self.settings, self.run, at=start, against=position))

    def action_plots(self) -> None:
        self.app.push_screen(PlotsScreen(self.settings, self.run))

    def action_export(self) -> None:
        if self.memory is None:
            return
        rows = table_rows(self.order.update(self.memory))
        export_rows(self, "the records shown (one row per action)",
                    default_name("memory", self.run, "at", self.memory.position), rows)

    def action_back(self) -> None:
        for box in self.query(".prompt").results(Input):
            if box.has_focus or box.has_class("shown"):
                if box.id == "filter":
                    box.value = ""
                box.remove_class("shown")
                self.query_one("#records", DataTable).focus()
                return
        if self.query_one("#actions", DataTable).has_focus:
            self.query_one("#records", DataTable).focus()
            return
        self.app.pop_screen()
