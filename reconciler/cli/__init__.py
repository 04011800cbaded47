"""`nbjobs`: the command line. Each module of this package registers its own subcommands.

Every failure is a clear message and an exit code; a traceback only with NBJOBS_DEBUG=1.
Exit codes: 0 success; 1 error; with `plan --detailed-exitcode`, 2 when there are changes.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from reconciler import __version__
from reconciler.cli import core, loop, ops, preflight, review
from reconciler.diagnostics import InputError, NbjobsError, Severity

# Modules that add subcommands: each has register(commands) -> None.
COMMAND_MODULES = (core, preflight, ops, review, loop)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors and --help: argparse has printed; return its code
        return int(exc.code or 0)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 1
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except InputError as exc:
        for diagnostic in exc.diagnostics:
            print(diagnostic, file=sys.stderr)
        errors = sum(d.severity is Severity.ERROR for d in exc.diagnostics)
        print(f"Error: {errors} problem(s) found; nothing was changed.", file=sys.stderr)
        return 1
    except NbjobsError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        print(f"Error: database: {detail}; nothing was changed.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; nothing was changed.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, keep the trace for whoever reports it
        if os.environ.get("NBJOBS_DEBUG"):
            traceback.print_exc()
        print(f"Internal error: {type(exc).__name__}: {exc} (run with NBJOBS_DEBUG=1 for details)", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nbjobs", description="Declarative GitOps reconciler for Nautobot Jobs.")
    parser.add_argument("--version", action="version", version=f"nbjobs {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    for command in _leaf_parsers(commands):
        command.add_argument("--config", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                             help="settings file (default NBJOBS_CONFIG, else ./nbjobs.toml if present)")  # fmt: skip
    return parser


def _leaf_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[argparse.ArgumentParser]:
    """Every subcommand that runs (`db upgrade`, not `db`), so `--config` goes after the command as flags do."""
    leaves = []
    for parser in dict.fromkeys(commands.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        leaves += [leaf for n in nested for leaf in _leaf_parsers(n)] if nested else [parser]
    return leaves
