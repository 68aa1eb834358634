r"""Tables of recorded texts on standard output (qtable, diff, snapshot --list, log).

On a terminal a person reads them: a rich table fitted to the window, a text's lines
joined by " / ", long texts ending in an ellipsis, numbers to 6 digits, at most
`TERMINAL_ROWS` rows (rich takes about a millisecond a row, and a large run's table holds
tens of thousands). Piped or redirected, a program reads them: every row, tab-separated
under a header line; texts escaped so that no two differ only in print (a backslash
doubled, tab, newline and carriage return as \t, \n and \r, other control characters as
\xNN); floats in full (the shortest decimal that reads back the same); an empty field for
none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Sized
from itertools import islice

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

TERMINAL_ROWS = 2_000

Cell = str | int | float | None

# Control characters shown escaped: a recorded text must not drive the user's terminal.
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7f, 0xa0))}
# Piped, the escape is reversible: backslash first, then the separators of lines and fields.
_FIELD = {**_VISIBLE, ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}

# How the width left by the numbers is shared on a terminal.
TEXT_COLUMNS = {"task": 2, "observation": 3, "action": 2, "run": 1, "config": 4, "stream": 1, "summary": 3}


def one_line(text: str) -> str:
    """A recorded text on one line, for a person: its lines joined by " / ", control
    characters escaped."""
    lines = (line.strip() for line in text.splitlines() if line.strip())
    return " / ".join(lines).translate(_VISIBLE)


def _shown(value: Cell, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return one_line(value)
    return format(value, spec) if isinstance(value, float) else str(value)


def _field(value: Cell) -> str:
    if value is None:
        return ""
    return value.translate(_FIELD) if isinstance(value, str) else repr(value)


def emit(columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str | None = None,
         formats: dict[str, str] | None = None,
         everything: str = "pipe the output (tab-separated) to get them all") -> None:
    """Print `rows` under `columns`; piped, they are written as they come (a whole log can
    stream through). `formats` gives a float column's format on a terminal (default
    ".6g"); `everything` tells a person there how to see the rows beyond `TERMINAL_ROWS`."""
    console = Console()
    if not console.is_terminal:
        if title is not None:
            click.echo(title)
        click.echo("\t".join(columns))
        rows = iter(rows)
        while chunk := list(islice(rows, 10_000)):
            click.echo("\n".join("\t".join(map(_field, row)) for row in chunk))
        return
    specs = [(formats or {}).get(name, ".6g") for name in columns]
    table = Table(title=title, expand=True)
    for name in columns:
        table.add_column(name, no_wrap=True, overflow="ellipsis", ratio=TEXT_COLUMNS.get(name))
    shown = list(islice(rows, TERMINAL_ROWS + 1))
    for row in shown[:TERMINAL_ROWS]:
        # Text, not markup: WebShop's [brackets] stay as they are.
        table.add_row(*(Text(_shown(value, spec)) for value, spec in zip(row, specs)))
    console.print(table)
    if len(shown) > TERMINAL_ROWS:
        of = f" of {len(rows):,}" if isinstance(rows, Sized) else ""
        click.echo(f"showing the first {TERMINAL_ROWS:,}{of} rows; {everything}")
