"""The commands nbjobs has: for each, the module that registers it and its line in `nbjobs --help`.

`nbjobs --help`, `--version` and a misspelt command need only this table, so the CLI builds every other
command's parser (and imports its module, with the database layer and whatever else it uses) only when that
command runs: `nbjobs --help` starts as fast as Python does. One fact in one place: the modules register
their commands through `add`, which takes the summary and aliases from here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # reconciler.cli.<module> has register(commands)
    summary: str
    aliases: tuple[str, ...] = ()


COMMANDS = (
    Command("validate", "core", "check manifests and job code (no database unless given)"),
    Command("plan", "core", "show what apply would change"),
    Command("apply", "core", "carry the plan out in one transaction (MANIFESTS..., or one saved plan FILE.json)"),
    Command("schema", "core", "print the manifests' JSON Schema"),
    Command("sandbox", "core", "create or refresh the embedded sandbox database"),
    Command("preflight", "preflight", "check that workers or a cluster serve every routed queue"),
    Command("db", "ops", "nbjobs' own tables in the Nautobot database"),
    Command("purge-orphans", "ops", "delete results whose job is gone (a dry-run count first)"),
    Command("history", "ops", "list the applies made, or show one"),
    Command("diff", "review", "what a change does: desired state and job code between two git revisions, and the "
                              "head's plan"),
    Command("export", "review", "write manifests from the database: enabled flags, overrides, queues"),
    Command("config", "loop", "print the effective configuration and where each value came from"),
    Command("loop", "loop", "run the reconcile loop: a Celery worker with beat, on queue nbjobs"),
    Command("reconcile", "loop", "run one tick of the loop in the foreground (cron, debugging)"),
    Command("status", "loop", "where each target stands: last run, drift, pending, errors"),
    Command("get", "get", "list the jobs in the database, and which manifest entry manages each", ("list",)),
    Command("audit", "audit", "review overrides, runtimes, schedules and idle jobs, as Nautobot's guide asks"),
    Command("completion", "completion", "print the shell completion script for bash or zsh"),
)
BY_NAME = {name: command for command in COMMANDS for name in (command.name, *command.aliases)}
MODULES = tuple(dict.fromkeys(command.module for command in COMMANDS))  # in the order `--help` lists them


def add(commands: argparse._SubParsersAction[Any], name: str, **options: Any) -> argparse.ArgumentParser:
    """The parser of command `name`, with its summary and aliases from the table."""
    command = BY_NAME[name]
    parser: argparse.ArgumentParser = commands.add_parser(
        command.name, aliases=list(command.aliases), help=command.summary, **options
    )
    return parser


def placeholder(commands: argparse._SubParsersAction[Any], command: Command) -> None:
    """A command listed (in `--help`, and for "did you mean") whose module is not loaded for this run."""
    commands.add_parser(command.name, aliases=list(command.aliases), help=command.summary, add_help=False)
