"""Tables of recorded texts on standard output (qtable, diff, snapshot --list).

On a terminal a person reads them: a rich table fitted to the window, long texts ending in
an ellipsis, at most `TERMINAL_ROWS` rows (rich takes about a millisecond a row, and a
large run's table holds tens of thousands). Piped or redirected, a program reads them:
every row, tab-separated under a header line, every text whole, in no time.
"""

from __future__ import annotations

from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

TERMINAL_ROWS = 2_000

# Control characters shown escaped: a recorded text must not drive the user's terminal (nor
# break a tab-separated line: a tab is one of them).
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))}

# How the width left by the numbers is shared on a terminal.
TEXT_COLUMNS = {"task": 2, "observation": 3, "action": 2, "run": 1, "config": 4}


def one_line(text: str) -> str:
    """A recorded text on one line: its lines joined by " / ", control characters escaped."""
    lines = (line.strip() for line in text.splitlines() if line.strip())
    return " / ".join(lines).translate(_VISIBLE)


def emit(columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None,
         everything: str = "pipe the output (tab-separated) to get them all") -> None:
    """Print `rows` (cells already text) under `columns`. `everything` tells a person at a
    terminal how to see the rows beyond `TERMINAL_ROWS`."""
    console = Console()
    if not console.is_terminal:
        lines = [] if title is None else [title]
        lines += ["\t".join(columns), *("\t".join(row) for row in rows)]
        click.echo("\n".join(lines))
        return
    table = Table(title=title, expand=True)
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis", ratio=TEXT_COLUMNS.get(name))
    for row in rows[:TERMINAL_ROWS]:
        table.add_row(*map(Text, row))  # Text, not markup: WebShop's [brackets] stay as they are
    console.print(table)
    if len(rows) > TERMINAL_ROWS:
        click.echo(f"showing the first {TERMINAL_ROWS:,} of {len(rows):,} rows; {everything}")
