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


def render(name: str, figures: dict) -> str:
    lines = [f"## {name}", "", "| figure | value |", "|---|---|"]
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
    sections = []
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, "-m", "rememberer_tui", "bench", name, "--json"]
        if args.quick:
            cmd.append("--quick")
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{done.stderr.strip()[-2000:]}\n```\n")
            continue
        sections.append(render(name, json.loads(done.stdout)))
    today = datetime.date.today().isoformat()
    header = (f"# Benchmarks\n\nMeasured {today} on {machine()}"
              f"{' (quick sizes)' if args.quick else ''}, by `make bench`. Medians of repeated runs; "
              "ratios compare with a baseline measured in the same run.\n\n")
    out = ROOT / "docs" / "BENCHMARKS.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(header + "\n".join(sections))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
