"""One episode, step by step: what the agent saw, recalled, was prompted, answered and did.

The Q-values shown are those of the memory as it was just before the step, not today's:
one worker replays the run up to the episode's first step, then folds forward step by
step, so moving between steps never waits for a replay.
"""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import Collapsible, DataTable, Footer, Header, Static
from textual.worker import get_current_worker

from rememberer_tui.data import EpisodeDetail, StateKey, StateValues, Step, episode_detail, memory_at
from rememberer_tui.messages import EpisodeLoaded, LoadFailed, MemoryLoaded
from rememberer_tui.screens.base import DataScreen, Settings
from rememberer_tui.widgets import render
from rememberer_tui.widgets.render import clip
from store.recorder import StoreError


class EpisodeScreen(DataScreen):
    STEP = Binding.Group("Step")
    AUTO_FOCUS = "#steps"
    BINDINGS = [
        Binding("n", "next", "Next step", group=STEP),
        Binding("p", "previous", "Previous step", group=STEP),
        Binding("home", "first", "First step", priority=True, show=False),
        Binding("end", "last", "Last step", priority=True, show=False),
        Binding("space", "play", "Play/pause"),
        Binding("m", "memory", "Memory then"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, settings: Settings, run: str, stream: str, step: int | None = None) -> None:
        super().__init__(settings)
        self.run = run
        self.stream = stream
        self.start_step = step  # the step (its index) to show first, e.g. from a provenance
        self.detail: EpisodeDetail | None = None
        self.shown_step: int | None = None
        self.memory: dict[int, StateValues] = {}  # step moment -> Q-values then
        self.memory_error = ""
        self.player: Timer | None = None

    @property
    def task(self) -> str:
        return self.detail.started.task if self.detail and self.detail.started else ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="episode-line", classes="detail-line")
        with Horizontal(id="episode-body"):
            yield DataTable(id="steps", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="step-detail"):
                yield Static(id="step-summary", classes="panel")
                with VerticalScroll(id="observation-box", classes="panel"):
                    yield Static(id="observation")
                yield Static(id="available", classes="panel")
                yield Static(id="retrieved", classes="panel")
                yield Static(id="state-memory", classes="panel")
                with Collapsible(title="Exemplars", id="exemplars-box"):
                    yield Static(id="exemplars")
                with Collapsible(title="Prompt", id="prompt-box"):
                    yield Static(id="prompt")
                yield Static(id="response", classes="panel")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"run {self.run}"
        self.sub_title = self.stream.split("/", 1)[-1]
        titles = {"#observation-box": "Observation", "#available": "Available actions",
                  "#retrieved": "Retrieved experiences", "#state-memory": "This state in memory",
                  "#response": "LLM response"}
        for selector, title in titles.items():
            self.query_one(selector).border_title = title
        table = self.query_one("#steps", DataTable)
        table.add_column(Text("#", justify="right"), key="step")
        table.add_column("action", key="action")
        table.add_column(Text("r", justify="right"), key="reward")
        table.loading = True
        self.app.theme_changed_signal.subscribe(self, self.theme_changed)
        self.reload()

    def theme_changed(self, theme: Theme) -> None:
        """Observations are highlighted for a dark or a light background: redraw."""
        if self.shown_step is not None:
            index, self.shown_step = self.shown_step, None
            self.show_step(index)

    def follows(self, runs: frozenset[str]) -> bool:
        return self.run in runs and (self.detail is None or self.detail.ended is None)

    def reload(self) -> None:
        self.load_episode()

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="episode")
    def load_episode(self) -> None:
        try:
            with self.settings.open() as recorder:
                self.post_message(EpisodeLoaded(episode_detail(recorder, self.stream)))
        except StoreError as exc:
            self.post_message(LoadFailed(str(exc)))

    @work(thread=True, exclusive=True, group="memory")
    def load_memory(self, wanted: list[tuple[int, list[StateKey]]]) -> None:
        """The Q-values before each step, for the steps not known yet: one replay."""
        worker = get_current_worker()
        try:
            with self.settings.open() as recorder:
                values = memory_at(recorder, self.run, wanted, lambda: worker.is_cancelled)
        except Exception as exc:  # a replay that fails must not close the viewer: say why
            self.post_message(MemoryLoaded({position: {} for position, _ in wanted},
                                           error=f"replay failed: {exc}"))
            return
        self.post_message(MemoryLoaded(values))

    # ------------------------------------------------------------------ results

    @on(EpisodeLoaded)
    def episode_loaded(self, message: EpisodeLoaded) -> None:
        previous = self.shown_step
        was_last = self.detail is not None and previous == len(self.detail.steps) - 1
        self.detail = message.detail
        self.loaded = True
        self.show_episode_line()
        steps = len(self.detail.steps)
        # Follow the tail while the last step is shown (a live run); otherwise stay put.
        target = (self.row_of(self.start_step) if previous is None else
                  steps - 1 if was_last else previous)
        self.shown_step = None
        self.fill_steps()
        if not steps:
            self.query_one("#step-summary", Static).update(Text("no steps recorded yet", style="italic"))
            return
        self.move_to(target)
        wanted = [(step.moment, self.memory_keys(step)) for step in self.detail.steps
                  if step.moment not in self.memory]
        if wanted:
            self.load_memory(wanted)

    def fill_steps(self) -> None:
        """The steps list, actions cut to the table's width (known once laid out)."""
        table = self.query_one("#steps", DataTable)
        if self.detail is None:
            return
        if not table.size.width:
            self.call_after_refresh(self.fill_steps)
        cursor = table.cursor_row
        width = max(8, table.size.width - 10)
        table.clear()
        for step in self.detail.steps:
            transition = step.transition
            table.add_row(
                Text(str(step.index), justify="right"),
                Text(clip(transition.action, width)) if transition else Text("…", style="italic"),
                Text(f"{transition.reward:g}" if transition else "", justify="right"),
                key=str(step.index))
        table.loading = False
        table.move_cursor(row=cursor, animate=False)

    def on_resize(self) -> None:
        self.call_after_refresh(self.fill_steps)

    def show_episode_line(self) -> None:
        detail = self.detail
        if detail is None:
            return
        started, ended = detail.started, detail.ended
        parts = [Text(self.stream.split("/", 1)[-1], style="bold")]
        if started is not None:
            parts += [Text(clip(started.task, 70)), Text(f"{started.split} · epoch {started.epoch}")]
        if ended is not None:
            parts += [Text(f"{ended.steps} steps · return {ended.total_reward:g}"),
                      Text("success", style="green") if ended.success else Text("failure", style="red")]
        else:
            parts.append(Text(f"{len(detail.steps)} steps so far · running", style="italic"))
        self.query_one("#episode-line", Static).update(Text(" · ").join(parts))

    @on(LoadFailed)
    def show_failure(self, message: LoadFailed) -> None:
        self.query_one("#steps", DataTable).loading = False
        self.notify(message.error, title="Cannot read the database", severity="error")

    @on(DataTable.RowHighlighted, "#steps")
    def step_highlighted(self, message: DataTable.RowHighlighted) -> None:
        self.show_step(message.cursor_row)

    def current(self) -> Step | None:
        if self.detail is None or self.shown_step is None:
            return None
        return self.detail.steps[self.shown_step]

    @staticmethod
    def observation(step: Step) -> str:
        if step.transition is not None:
            return step.transition.observation
        return step.retrieved.observation if step.retrieved is not None else ""

    def show_step(self, index: int) -> None:
        if self.detail is None or not 0 <= index < len(self.detail.steps) or index == self.shown_step:
            return
        self.shown_step = index
        step = self.detail.steps[index]
        transition, retrieved = step.transition, step.retrieved
        dark = self.app.current_theme.dark
        obs = self.observation(step)
        self.query_one("#step-summary", Static).update(render.step_summary(step, index + 1, len(self.detail.steps)))
        self.query_one("#observation", Static).update(render.observation(obs, dark))
        self.query_one("#observation-box").scroll_home(animate=False)
        self.query_one("#available", Static).update(render.available_actions(
            transition.available_actions if transition else (), transition.action if transition else None))
        exemplars = retrieved.exemplars if retrieved else ""
        self.query_one("#exemplars", Static).update(
            Text(exemplars) if exemplars else Text("no exemplars shown", style="dim italic"))
        self.query_one("#exemplars-box", Collapsible).title = (
            f"Exemplars ({len(exemplars.splitlines())} lines)" if exemplars else "Exemplars (none)")
        self.query_one("#prompt", Static).update(render.prompt(step.exchanges))
        messages = len(step.exchanges[-1].messages) if step.exchanges else 0
        self.query_one("#prompt-box", Collapsible).title = (
            f"Prompt ({messages} messages)" if messages else "Prompt (none)")
        self.query_one("#response", Static).update(render.responses(step.exchanges))
        self.show_memory()

    def memory_keys(self, step: Step) -> list[StateKey]:
        """The states whose Q-values the step shows: its own and those it retrieved."""
        keys = [(self.task, self.observation(step))]
        if step.retrieved is not None:
            keys += [(str(r.get("task", "")), str(r.get("observation", "")))
                     for r in step.retrieved.records if isinstance(r, dict)]
        return keys

    def show_memory(self) -> None:
        step = self.current()
        if step is None:
            return
        values = self.memory.get(step.moment)
        error = self.memory_error
        records = [r for r in step.retrieved.records if isinstance(r, dict)] if step.retrieved else []
        when = f"as of position {step.moment}, before this step"
        note = error or (f"replaying the run up to position {step.moment}… (on a long run, "
                         "`rememberer snapshot` makes this fast)" if values is None and records else "")
        retrieved = self.query_one("#retrieved", Static)
        if step.retrieved is None:
            retrieved.update(Text("no retrieval recorded for this step", style="dim italic"))
        else:
            retrieved.update(render.retrieved(records, values, note))
        state = self.query_one("#state-memory", Static)
        state.border_subtitle = when
        if values is None:
            state.update(Text(error or "replaying…", style="dim italic"))
        else:
            state.update(render.action_values(values.get((self.task, self.observation(step)), ()),
                                              limit=8))

    @on(MemoryLoaded)
    def memory_loaded(self, message: MemoryLoaded) -> None:
        if message.error:
            self.memory_error = message.error
        else:
            self.memory.update(message.values)
        self.show_memory()

    # ------------------------------------------------------------------ keys

    def move_to(self, index: int) -> None:
        """Move the cursor and show that step now (not when the highlight message arrives)."""
        table = self.query_one("#steps", DataTable)
        if table.row_count:
            index = max(0, min(index, table.row_count - 1))
            table.move_cursor(row=index, animate=False)
            self.show_step(index)

    def action_next(self) -> None:
        self.move_to(self.query_one("#steps", DataTable).cursor_row + 1)

    def action_previous(self) -> None:
        self.move_to(self.query_one("#steps", DataTable).cursor_row - 1)

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(self.query_one("#steps", DataTable).row_count - 1)

    @property
    def playing(self) -> bool:
        return self.player is not None

    def action_play(self) -> None:
        """Play from the shown step (from the start when at the end), or pause."""
        if self.player is not None:
            self.pause()
            return
        table = self.query_one("#steps", DataTable)
        if table.row_count and table.cursor_row == table.row_count - 1:
            self.move_to(0)
        self.player = self.set_interval(self.settings.play_interval, self.play_step)
        self.notify("playing: space pauses", timeout=2)

    def play_step(self) -> None:
        table = self.query_one("#steps", DataTable)
        if table.cursor_row >= table.row_count - 1:
            self.pause()
            return
        self.move_to(table.cursor_row + 1)

    def pause(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player = None

    def row_of(self, step: int | None) -> int:
        """The row of the step with this index (the first row if there is none)."""
        rows = [i for i, s in enumerate(self.detail.steps) if s.index == step] if self.detail else []
        return rows[0] if rows else 0

    def action_memory(self) -> None:
        """The memory screen as of this step's moment (before the step)."""
        from rememberer_tui.screens.memory import MemoryScreen  # it imports this module itself

        step = self.current()
        if step is not None:
            self.app.push_screen(MemoryScreen(self.settings, self.run, position=step.moment))

    def action_back(self) -> None:
        self.pause()
        self.app.pop_screen()
