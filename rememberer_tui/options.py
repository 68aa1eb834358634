"""Option decorators shared by every command, so a flag means the same thing everywhere."""

from __future__ import annotations

from collections.abc import Callable

import click

from replay.matchers.config import MatcherConfig, MatcherConfigError
from store.events import UPDATE_MODES


def db_option(exists: bool = True) -> Callable:
    return click.option(
        "--db", "db", required=True,
        type=click.Path(dir_okay=False, exists=exists),
        help="The rememberer database (one SQLite file).",
    )


def run_option(required: bool = False, default: str | None = None) -> Callable:
    return click.option("--run", "run", required=required, default=default, show_default=bool(default),
                        help="The run's name." + ("" if required else " Defaults to the only run in the database."))


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def rl_options(fn: Callable) -> Callable:
    """The RL hyperparameters of SPEC section 3. Unset options keep their defaults (or the
    run's recorded values, for commands that replay an existing run)."""
    decorators = [
        click.option("--gamma", type=float, default=None, help="Discount factor in [0, 1] (default 1.0)."),
        click.option("--n-step", "n_step", type=int, default=None, help="n of n-step Q-learning (default 1)."),
        click.option("--update-mode", "update_mode", type=click.Choice(UPDATE_MODES), default=None,
                     help="mean: Q moves by 1/visits; const: by the learning rate (default mean)."),
        click.option("--learning-rate", "learning_rate", type=float, default=None,
                     help="Step size alpha for --update-mode const (default 0.1)."),
        click.option("--action-capacity", "action_capacity", type=int, default=None,
                     help="Most actions kept per record; the lowest mean reward goes (default: no limit)."),
        click.option("--item-capacity", "item_capacity", type=int, default=None,
                     help="Most records kept; the most similar one goes (default: no limit)."),
        click.option("--double-q/--no-double-q", "double_q", default=None,
                     help="Double Q-learning with two tables (default off)."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


RL_OPTION_NAMES = ("gamma", "n_step", "update_mode", "learning_rate", "action_capacity",
                   "item_capacity", "double_q")


def pop_rl_options(kwargs: dict) -> dict:
    """Remove the RL options from a command's kwargs; return those the user set."""
    return {name: value for name in RL_OPTION_NAMES if (value := kwargs.pop(name, None)) is not None}


matcher_option = click.option(
    "--matcher", default=None, metavar="NAME=WEIGHT,...",
    help="Similarity terms, weights summing to 1: embedding[:MODEL], lcs, fuzzy, webshop-page, "
         "wikihow-instruction, each optionally @task or @observation "
         "(e.g. embedding=0.5,lcs=0.5). Default: the run's, or the environment's preset.")


def parse_matcher(text: str) -> MatcherConfig:
    """`--matcher` text as a config; bad text is a one-line MatcherConfigError."""
    terms = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            terms.append((name.strip(), float(weight)))
        except ValueError:
            raise MatcherConfigError(f"--matcher: {part!r} must be NAME=WEIGHT") from None
    return MatcherConfig(tuple(terms))
