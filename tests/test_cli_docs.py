"""Every command can be learned from --help: a description and an example each."""

from __future__ import annotations

import click
from click.testing import CliRunner

from rememberer_tui.cli import cli


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append(prefix + (name,))
        if isinstance(command, click.Group):
            found += all_commands(command, prefix + (name,))
    return found


def test_every_command_has_an_example_in_its_help() -> None:
    commands = all_commands(cli)
    assert {("ingest",), ("log",), ("verify",), ("runs",), ("bench",)} <= set(commands)
    for path in commands:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example:" in result.output, f"rememberer {' '.join(path)} --help has no example"
        assert f"rememberer {path[-1]}" in result.output.split("Example:", 1)[1], path
        for option in [p for p in cli.get_command(None, path[0]).params if isinstance(p, click.Option)]:
            assert option.help or option.hidden, f"{path}: {option.name} has no help text"
