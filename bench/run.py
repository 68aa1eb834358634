"""Run every registered benchmark in its own process and write docs/BENCHMARKS.md.

Usage: python bench/run.py [--quick] [NAME ...]
Each benchmark prints JSON figures (`rememberer bench NAME --json`); this script adds
the machine and the date, so every figure is quoted with where and when it was measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rememberer_tui.commands.bench_cmds import BENCHMARKS  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def render(name: str, figures: dict, when: str) -> str:
    lines = [f"## {name}", "", when, "", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        if isinstance(value, float):
            value = f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
        elif isinstance(value, (dict, list)):
            value = "`" + json.dumps(value) + "`"
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args()
    names = args.names or sorted(BENCHMARKS)
    out = ROOT / "docs" / "BENCHMARKS.md"
    sections = _sections(out.read_text()) if out.exists() else {}
    when = (f"Measured {datetime.date.today().isoformat()} on {machine()}"
            f"{' (quick sizes)' if args.quick else ''}.")
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "rememberer_tui", "bench", name, "--json"]
        if args.quick:
            cmd.append("--quick")
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sections[name] = f"## {name}\n\n{when}\n\nFAILED:\n\n```\n{done.stderr.strip()[-2000:]}\n```\n"
            continue
        sections[name] = render(name, json.loads(done.stdout), when)
    header = ("# Benchmarks\n\nWritten by `make bench` (`make bench BENCH=\"append read\"` reruns some and keeps "
              "the others). Medians of repeated runs; ratios compare with a baseline measured in the same run. "
              "The machine has 2 cores and is shared, so figures are noisy.\n\n")
    out.parent.mkdir(exist_ok=True)
    out.write_text(header + "\n".join(sections[n] for n in sorted(sections)))
    print(f"wrote {out}", file=sys.stderr)


def _sections(text: str) -> dict[str, str]:
    """The file's `## name` sections, so a partial rerun keeps the others."""
    found: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        name = chunk.split("\n", 1)[0].strip()
        found[name] = "## " + chunk.rstrip("\n") + "\n"
    return found


if __name__ == "__main__":
    main()
