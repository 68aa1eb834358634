"""`rememberer bench NAME`: run one benchmark and print its figures.

Each benchmark is a function in its area's module returning a dict of figures; this
command only looks it up and prints. `bench/run.py` runs them all into docs/BENCHMARKS.md.
"""

from __future__ import annotations

import importlib
import json

import click

from rememberer_tui.cli import cli

# name -> "module:function"; each function takes keyword options and returns a dict.
BENCHMARKS: dict[str, str] = {
    "append": "store.benchmarks:bench_append",
    "read": "store.benchmarks:bench_read",
    "retrieval": "replay.retrieval_benchmarks:bench_retrieval",
    "replay": "replay.benchmarks:bench_replay",
    "tui": "rememberer_tui.tui_benchmarks:bench_tui",
    "scrub": "rememberer_tui.audit_benchmarks:bench_scrub",
    "step": "rememberer_tui.agent.benchmarks:bench_step",
}


@cli.command("bench")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--records", type=int, default=None, help="Size of the memory, for benchmarks that take one.")
@click.option("--quick", is_flag=True, help="Smaller sizes, for a smoke run in seconds.")
def bench(name: str, as_json: bool, records: int | None, quick: bool) -> None:
    """Run the benchmark NAME and print its figures (medians, rates, ratios to a baseline).

    \b
    Example:
      rememberer bench append --json
      rememberer bench retrieval --records 10000 --json
    """
    if name not in BENCHMARKS:
        raise click.ClickException(f"no benchmark {name!r}; choose one of: {', '.join(sorted(BENCHMARKS))}")
    module_name, function_name = BENCHMARKS[name].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    kwargs = {"quick": quick}
    if records is not None:
        kwargs["records"] = records
    figures = function(**kwargs)
    if as_json:
        click.echo(json.dumps(figures, indent=2, sort_keys=True))
    else:
        for key, value in figures.items():
            click.echo(f"{key}: {value}")
