"""The argument parser: every command's options, its --help (a description, the environment variables it
reads, an example), and "did you mean" for misspelt commands, choices and options.

Only the command being run is built in full: its module is imported and registers it, while the others are
listed from the catalog (reconciler.cli.catalog). `build_parser()` with no arguments builds them all.
"""

from __future__ import annotations

import argparse
import importlib
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.cli import catalog
from reconciler.diagnostics import did_you_mean


class Parser(argparse.ArgumentParser):
    """argparse's parser, whose invalid-choice errors (a misspelt command, `--format jsn`) say "did you
    mean"; subcommand parsers are of the same class (add_subparsers makes them so)."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            hint = did_you_mean(str(value), map(str, action.choices or ()))
            if hint is None:
                raise
            raise argparse.ArgumentError(action, f"{exc.message}; {hint}") from None


def build_parser(arguments: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for these arguments: the command they name built in full (its module imported), the
    others only listed. Without arguments, every command in full (shell completion, tests)."""
    parser = Parser(prog="nbjobs", description="Declarative GitOps reconciler for Nautobot Jobs.")
    parser.add_argument("--version", action="version", version=f"nbjobs {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    full = arguments is None
    wanted = named_command(arguments or ())
    for module in catalog.MODULES:
        if full or (wanted is not None and wanted.module == module):
            importlib.import_module(f"reconciler.cli.{module}").register(commands)
        else:
            for listed in (c for c in catalog.COMMANDS if c.module == module):
                catalog.placeholder(commands, listed)
    for command in leaf_parsers(commands):
        command.add_argument("--config", type=Path, metavar="FILE", default=argparse.SUPPRESS,
                             help="settings file (default NBJOBS_CONFIG, else ./nbjobs.toml if present)")  # fmt: skip
        command.add_argument("--no-color", action="store_true",
                             help="no colour, even on a terminal (as NO_COLOR does)")  # fmt: skip
    _document(commands)
    return parser


# What each command's --help ends with: the environment variables it reads and an example, as (variables,
# example). Every command also reads NBJOBS_CONFIG and NBJOBS_DEBUG (_ALWAYS). A command missing here
# gets the variables of the options it has (_BY_OPTION) and a bare example.
_CODE = (
    ("NBJOBS_JOBS_ROOT, NAUTOBOT_JOBS_ROOT", "JOBS_ROOT (--jobs-root; else $NAUTOBOT_ROOT/jobs)"),
    ("NBJOBS_GIT_ROOT, NAUTOBOT_GIT_ROOT", "GIT_ROOT (--git-root; else $NAUTOBOT_ROOT/git)"),
    ("NBJOBS_APPS", "App packages, a JSON list (--app): '[\"my_app\"]'"),
    ("NBJOBS_DEFAULT_QUEUE, NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE", "CELERY_TASK_DEFAULT_QUEUE (--default-queue)"),
)
_DATABASE = (
    ("NBJOBS_DATABASE_URL", "the database (--database-url)"),
    ("NAUTOBOT_DB_*", "else Nautobot's: _ENGINE, _HOST, _PORT, _NAME, _USER, _PASSWORD (else ./nbjobs.db)"),
)
_USER = (("NBJOBS_USER", "the Nautobot user in the change log (--as)"),)
_COLOUR = (("NO_COLOR", "no colour, even on a terminal"),)
_GUARD = (("NBJOBS_MASS_DELETE_MIN_MANAGED", "managed jobs from which a quarter deleted is a mass delete"),)
_PREFLIGHT = (
    ("NAUTOBOT_CELERY_BROKER_URL", "the broker Nautobot's workers use (--broker-url)"),
    ("NBJOBS_KUBECONFIG", "kubeconfig (--kubeconfig; else Nautobot's NAUTOBOT_KUBERNETES_* settings)"),
    ("NAUTOBOT_KUBERNETES_JOB_POD_NAMESPACE", "the jobs' namespace (--k8s-namespace)"),
    ("NAUTOBOT_KUBERNETES_JOB_MANIFEST", "the pod manifest, JSON (--k8s-manifest FILE)"),
    ("NAUTOBOT_JOB_QUEUE_PATH", "per-queue manifests (--job-queue-path)"),
)
_LOOP = (
    ("NBJOBS_REPO, NBJOBS_BRANCH, NBJOBS_PATH", "where the manifests are (--repo, --branch, --path)"),
    ("NBJOBS_GIT_USERNAME, NBJOBS_GIT_PASSWORD", "credentials for the repository"),
    ("NBJOBS_POLICY, NBJOBS_PRUNE, NBJOBS_INTERVAL", "what a tick does, and how often (--policy, --prune, --interval)"),
    ("NBJOBS_BROKER_URL", "the loop's own broker (--broker-url; else NAUTOBOT_CELERY_BROKER_URL)"),
    ("NBJOBS_METRICS_PORT, NBJOBS_CACHE_DIR", "metrics (--metrics-port) and git clones (--cache-dir)"),
    ("NBJOBS_SUSPEND, NBJOBS_WINDOWS, NBJOBS_PREFLIGHT", "settings without flags (see `nbjobs config`)"),
)
_ALWAYS = (
    ("NBJOBS_CONFIG", "the settings file (--config; else ./nbjobs.toml)"),
    ("NBJOBS_DEBUG=1", "a traceback on an internal error"),
)
_Variables = tuple[tuple[str, str], ...]
_HELP: dict[str, tuple[_Variables, str]] = {
    "validate": (
        _CODE,
        "nbjobs validate --strict --jobs-root jobs manifests/   # no database: pre-commit\n"
        'nbjobs validate --strict --jobs-root jobs --database-url "$DB" manifests/   # CI',
    ),
    "plan": (
        _CODE + _DATABASE + _GUARD + _PREFLIGHT + _COLOUR,
        "nbjobs plan --jobs-root jobs manifests/\n"
        "nbjobs plan --jobs-root jobs --out PLAN.json --detailed-exitcode manifests/   # save it for apply",
    ),
    "apply": (
        _CODE
        + _DATABASE
        + _USER
        + (("NBJOBS_LOCK_TIMEOUT", "wait for another apply (--lock-timeout)"),)
        + _GUARD
        + _COLOUR,
        "nbjobs apply --as admin --jobs-root jobs manifests/   # shows the plan, asks for yes\n"
        "nbjobs apply --yes --as ci-bot PLAN.json   # also takes a saved PLAN.json: exactly that plan",
    ),
    "schema": ((), "nbjobs schema > schemas/nbjobs-manifest.schema.json"),
    "sandbox": (_CODE + _DATABASE, "nbjobs sandbox --jobs-root examples/jobs   # creates ./nbjobs.db"),
    "preflight": (
        _CODE + _DATABASE + _PREFLIGHT + _COLOUR,
        "nbjobs preflight --jobs-root jobs --broker-url redis://redis:6379/0 --strict manifests/",
    ),
    "db upgrade": (_DATABASE, 'nbjobs db upgrade --database-url "postgresql://nbjobs@db/nautobot"'),
    "purge-orphans": (
        _DATABASE,
        "nbjobs purge-orphans --older-than 90d   # counts them (a dry run)\n"
        "nbjobs purge-orphans --older-than 90d --yes",
    ),
    "history": (_DATABASE, "nbjobs history --limit 5\nnbjobs history 3f2a9c   # one apply's changes"),
    "diff": (
        _CODE + _DATABASE + _COLOUR,
        "nbjobs diff --base origin/main --merge-base --jobs-root jobs --format markdown manifests/",
    ),
    "export": (_CODE + _DATABASE, "nbjobs export --match 'audits.*' --out manifests/ --jobs-root jobs"),
    "config": (
        (
            ("NBJOBS_<SETTING>", "every setting (lists and tables as JSON)"),
            ("NAUTOBOT_*", "Nautobot's own variables of the same meaning (README: Configuration)"),
        ),
        "nbjobs config --format json",
    ),
    "loop": (
        _CODE + _DATABASE + _USER + _LOOP,
        "nbjobs loop --repo https://git.example.com/netops/jobs.git --policy heal --metrics-port 9108",
    ),
    "reconcile": (_CODE + _DATABASE + _USER + _LOOP, "nbjobs reconcile --format json   # one tick, for cron"),
    "status": (_DATABASE, "nbjobs status --format json"),
    "get": (
        _DATABASE,
        "nbjobs get\nnbjobs get 'vendor_x.*' -o wide --manifests manifests/\nnbjobs get --unmanaged -o json",
    ),
    "audit": (
        _CODE
        + _DATABASE
        + (("NBJOBS_AUDIT_UNUSED_DAYS", "days without a run after which a job is idle (--unused-days)"),
           ("NBJOBS_AUDIT_MODULE_THRESHOLD", "jobs of a module sharing an override (--module-threshold)"))
        + _COLOUR,
        "nbjobs audit --jobs-root jobs manifests/\n"
        "nbjobs audit --since-upgrade --strict --format markdown --jobs-root jobs manifests/   # after an upgrade",
    ),
    "completion": (
        (),
        "nbjobs completion bash > ~/.local/share/bash-completion/completions/nbjobs\n"
        'nbjobs completion zsh > "${fpath[1]}/_nbjobs"',
    ),
}
# For a command missing from _HELP: the variables behind the options it has (by destination).
_BY_OPTION: dict[str, _Variables] = {
    "database_url": _DATABASE, "jobs_root": _CODE, "username": _USER, "nautobot_broker_url": _PREFLIGHT,
    "repo": _LOOP,
}  # fmt: skip


def _document(commands: argparse._SubParsersAction[Any]) -> None:
    """Give every subcommand's --help a one-line description (its line in `nbjobs --help`), the environment
    variables it reads and an example."""
    summaries = _summaries(commands)
    for command in leaf_parsers(commands):
        name = command.prog.split(" ", 1)[1]
        variables, example = _HELP.get(name) or (_derived(command), f"nbjobs {name}")
        if command.description is None:
            command.description = summaries.get(command)
        if command.description:  # the raw formatter below keeps line breaks: wrap it here
            command.description = textwrap.fill(command.description, width=100)
        examples = "\n".join(f"  {line}" for line in example.splitlines())
        command.epilog = f"Environment:\n{_table([*dict.fromkeys((*variables, *_ALWAYS))])}\n\nExample:\n{examples}"
        command.formatter_class = argparse.RawDescriptionHelpFormatter


def _summaries(commands: argparse._SubParsersAction[Any]) -> dict[argparse.ArgumentParser, str]:
    """Each (nested) subcommand's parser and the help line it was registered with."""
    found: dict[argparse.ArgumentParser, str] = {}
    for action in commands._choices_actions:
        parser = commands.choices[action.dest]
        if action.help:
            found[parser] = str(action.help)
        for nested in (a for a in parser._actions if isinstance(a, argparse._SubParsersAction)):
            found.update(_summaries(nested))
    return found


def _table(rows: Sequence[tuple[str, str]], width: int = 24) -> str:
    """Two columns, as argparse lays options out: a name too long for its column has the text on the next line."""
    lines = []
    for name, text in rows:
        lines += [f"  {name:<{width}}  {text}"] if len(name) <= width else [f"  {name}", f"  {'':<{width}}  {text}"]
    return "\n".join(lines)


def _derived(command: argparse.ArgumentParser) -> _Variables:
    dests = {action.dest for action in command._actions}
    return tuple(row for dest, rows in _BY_OPTION.items() if dest in dests for row in rows)


def leaf_parsers(commands: argparse._SubParsersAction[Any]) -> list[argparse.ArgumentParser]:
    """Every subcommand that runs (`db upgrade`, not `db`), so `--config` goes after the command as flags do."""
    leaves = []
    for parser in dict.fromkeys(commands.choices.values()):
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        leaves += [leaf for n in nested for leaf in leaf_parsers(n)] if nested else [parser]
    return leaves


def command_parser(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)command parser the arguments name (`nbjobs db upgrade` -> db upgrade's), else the top one."""
    current = parser
    for argument in arguments:
        nested = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested:
            break
        if argument in nested[0].choices:
            current = nested[0].choices[argument]
    return current


def option_hints(parser: argparse.ArgumentParser, extras: Sequence[str]) -> str:
    """For each unrecognized option close to one the command has: `; did you mean '--jobs-root'?`."""
    options = [option for action in parser._actions for option in action.option_strings]
    unknown = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-")]
    hints = [(name, hint) for name in unknown if (hint := did_you_mean(name, options)) is not None]
    if len(unknown) == 1:
        return "".join(f"; {hint}" for _, hint in hints)
    return "".join(f"; {name}: {hint}" for name, hint in hints)


def named_command(arguments: Sequence[str]) -> catalog.Command | None:
    """The command the arguments name: the first that is not an option (nbjobs' own options take no value)."""
    first = next((argument for argument in arguments if not argument.startswith("-")), None)
    return catalog.BY_NAME.get(first) if first is not None else None
