"""`nbjobs`: the command line. Each module of this package registers its own subcommands (cli.catalog
lists them; cli.parser builds the one being run).

Every failure is a clear message and an exit code; a traceback only with NBJOBS_DEBUG=1. What an error
prints, the traceback included, has every password and token it knows masked (cli.redact) and its
control characters shown as escapes.
Exit codes: 0 success; 1 error; with `plan --detailed-exitcode`, 2 when there are changes. A usage error
(an unknown command or option, a value not among the choices) exits 1, as Terraform's and kubectl's do, with
"did you mean". Every command takes `--config FILE` and `--no-color` (added to each of them by cli.parser).
Nothing heavy is imported here: `nbjobs --help` and `--version` load the catalog and argparse alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, TypeGuard

from reconciler.cli.colour import no_color
from reconciler.cli.parser import build_parser, command_parser, option_hints
from reconciler.diagnostics import InputError, NbjobsError, Severity, plural

if TYPE_CHECKING:
    from sqlalchemy.exc import SQLAlchemyError

    from reconciler.cli.redact import Redactor

__all__ = ["build_parser", "main"]

# The commands that write, whose failures say that nothing was changed; the others change nothing anyway.
WRITING_COMMANDS = frozenset({"apply", "export", "db", "purge-orphans"})


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(arguments)
    command = command_parser(parser, arguments)
    try:
        args, extras = parser.parse_known_args(arguments)
        if extras:
            command.error(f"unrecognized arguments: {' '.join(extras)}{option_hints(command, extras)}")
    except SystemExit as exc:  # usage errors and --help: argparse has printed
        # Usage errors exit 1, as Terraform's and kubectl's do: 2 means "changes" under --detailed-exitcode.
        code = int(exc.code or 0)
        return 1 if code == 2 else code
    if not hasattr(args, "handler"):
        parser.print_help()
        return 1
    name = command.prog.split(" ")[1] if " " in command.prog else ""
    unchanged = "; nothing was changed." if name in WRITING_COMMANDS else "."
    try:
        handler: Callable[[argparse.Namespace], int] = args.handler
        with no_color(args.no_color):
            return handler(args)
    except InputError as exc:
        report = _redactor(args, arguments)
        for diagnostic in exc.diagnostics:
            report.error(str(diagnostic))
        errors = sum(d.severity is Severity.ERROR for d in exc.diagnostics)
        report.error(f"Error: {plural(errors, 'problem')} found{unchanged}")
        return 1
    except NbjobsError as exc:
        _redactor(args, arguments).error(f"Error: {exc}")
        return 1
    except KeyboardInterrupt:
        print(f"Interrupted{unchanged}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `nbjobs history | head`: the reader left; as other tools, stop quietly
        with suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by it
    except Exception as exc:
        if _is_database_error(exc):
            from reconciler.nautobot.connect import database_problem

            detail = database_problem(exc)  # one sentence, nbjobs' own for a lost or refused connection
            _redactor(args, arguments).error(f"Error: database: {detail}{unchanged}")
            return 1
        # A bug: say so plainly, keep the trace for whoever reports it.
        report = _redactor(args, arguments)
        if os.environ.get("NBJOBS_DEBUG"):
            report.error(traceback.format_exc().rstrip("\n"))
        report.error(f"Internal error: {type(exc).__name__}: {exc} (run with NBJOBS_DEBUG=1 for details)")
        return 1


def _is_database_error(exc: Exception) -> TypeGuard[SQLAlchemyError]:
    """An SQLAlchemy error, without importing SQLAlchemy for commands that never loaded it."""
    errors = sys.modules.get("sqlalchemy.exc")
    return errors is not None and isinstance(exc, errors.SQLAlchemyError)


def _redactor(args: argparse.Namespace | None, arguments: Sequence[str]) -> Redactor:
    from reconciler.cli.redact import Redactor

    return Redactor.of(args, arguments)
