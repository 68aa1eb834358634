"""Writing what a screen shows to a file: CSV or JSON, chosen by the file's suffix.

Rows are flat dicts; JSON keeps them as they are (floats exact), CSV writes one column per
key in first-seen order, lists as JSON text and None as an empty cell.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

def export_format(path: Path) -> str:
    """'json' for a .json file, else 'csv'."""
    return "json" if path.suffix.lower() == ".json" else "csv"


def default_name(*parts: object, suffix: str = "csv") -> str:
    """A file name from the screen and what it shows: 'memory-demo-at-120.csv'."""
    stem = "-".join(str(part) for part in parts if part != "")
    return re.sub(r"[^\w.@-]+", "_", stem) + "." + suffix


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def write_rows(path: Path, rows: list[dict]) -> str:
    """Write `rows` to `path` (parents created); returns the format used."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kind = export_format(path)
    if kind == "json":
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1, allow_nan=False) + "\n",
                        encoding="utf-8")
        return kind
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: _cell(value) for key, value in row.items()})
    return kind
