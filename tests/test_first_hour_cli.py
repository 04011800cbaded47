"""A new administrator's first hour with the CLI: `nbjobs get`, installing it as a tool (wheel, venv, the
Dockerfile's own install command), progress of long purges, shell completion, and --help that says which
environment variables a command reads, with an example."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tokenize
import uuid
import venv
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml
from common import EXAMPLES, ROOT, clear_settings_environment
from rich.console import Console
from sqlalchemy import Engine, func, select, update

from reconciler import __version__
from reconciler.apply import ApplyOptions, apply_saved, saved
from reconciler.cli import build_parser, common, main
from reconciler.cli.common import ProgressReporter, progress_line
from reconciler.cli.parser import leaf_parsers
from reconciler.discovery.sources import discover
from reconciler.manifest.load import load_manifests
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.tables import extras_job, extras_objectchange
from reconciler.plan.summary import plural
from reconciler.sandbox import build_sandbox
from reconciler.state.tables import nbjobs_apply

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = EXAMPLES / "manifests"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests, and a working directory of the test's own."""
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def _table(out: str) -> dict[str, dict[str, str]]:
    """A `get` table, parsed by its header's column starts: {class path: {column: cell}}."""
    lines = out.rstrip("\n").splitlines()
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=   ))\S", header)]
    names = [header[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
    rows = {}
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def _entry_lines() -> dict[str, str]:
    """Where each example manifest entry starts, `file:line`, by its match."""
    desired = load_manifests([MANIFESTS])
    entries = [*desired.jobs, *desired.retire]
    return {entry.match: f"{entry.location.file}:{entry.location.line}" for entry in entries}


# -- nbjobs get -------------------------------------------------------------------------------------------


def test_get_shows_every_job_and_what_manages_it(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0

    # No manifests given and no manifests/ here: every job is unmanaged, and a note says why.
    code, out, err = run(capsys, "get")
    assert code == 0
    rows = _table(out)
    assert out.splitlines()[0].split("   ")[0] == "CLASS PATH"
    assert list(_table(out)["audits.DeviceAudit"]) == [
        "CLASS PATH", "INSTALLED", "ENABLED", "DEFAULT QUEUE", "OVERRIDES", "MANAGED BY"
    ]  # fmt: skip
    assert {row["MANAGED BY"] for row in rows.values()} == {"unmanaged"}
    assert "every job shows as unmanaged" in err
    assert list(rows) == sorted(rows)

    where = _entry_lines()
    code, out, _ = run(capsys, "get", "--manifests", str(MANIFESTS))
    rows = _table(out)
    assert rows["audits.DeviceAudit"]["MANAGED BY"] == where["audits.DeviceAudit"]
    assert rows["hooks.RebootDevice"]["MANAGED BY"] == where["hooks.*"]
    assert rows["legacy.OldImport"]["MANAGED BY"] == f"retire {where['legacy.OldImport']}"
    # Matched by an exact entry and a glob: the winning (exact) one, and how many more.
    assert rows["vendor_x.sync.SyncInventory"]["MANAGED BY"] == f"{where['vendor_x.sync.SyncInventory']} (+1)"
    assert rows["audits.DeviceAudit"]["OVERRIDES"] == "<none>"

    assert run(capsys, "apply", "--yes", "--as", "admin", "--jobs-root", JOBS, str(MANIFESTS))[0] == 0
    # manifests/ is the default, as for plan.
    shutil.copytree(MANIFESTS, tmp_path / "manifests")
    code, out, err = run(capsys, "get")
    assert code == 0 and not err
    audit = _table(out)["audits.DeviceAudit"]
    assert audit["MANAGED BY"] == "manifests/jobs.yaml:" + where["audits.DeviceAudit"].rsplit(":", 1)[1]
    assert (audit["INSTALLED"], audit["ENABLED"], audit["DEFAULT QUEUE"]) == ("true", "true", "heavy")
    assert audit["OVERRIDES"] == "grouping,time_limit,job_queues,default_job_queue"

    code, out, _ = run(capsys, "get", "-o", "wide")
    wide = _table(out)["audits.DeviceAudit"]
    assert list(wide)[6:] == ["NAME", "GROUPING", "ELIGIBLE QUEUES", "HIDDEN", "WHY"]
    assert (wide["NAME"], wide["GROUPING"], wide["ELIGIBLE QUEUES"], wide["HIDDEN"]) == (
        "Device Audit", "Compliance / Devices", "default,heavy", "false"
    )  # fmt: skip
    assert wide["WHY"] == "Full audits of large sites run for up to an hour, see NET-123"

    # A glob on the class path, as a manifest's match:; `list` is the same command.
    code, out, _ = run(capsys, "list", "vendor_x.*")
    assert code == 0 and list(_table(out)) == ["vendor_x.sync.PushConfig", "vendor_x.sync.SyncInventory"]
    code, out, err = run(capsys, "get", "nothing.*")
    assert code == 0 and out == "" and "No jobs matching 'nothing.*'" in err


def test_get_json_yaml_and_unmanaged(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    partial = tmp_path / "partial.yaml"
    partial.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.*\n    enabled: true\n"
                       "    why: audits run\nretire:\n  - match: legacy.OldImport\n")  # fmt: skip

    code, out, _ = run(capsys, "get", "--manifests", str(partial), "-o", "json")
    assert code == 0
    documents = json.loads(out)
    keys = ["class_path", "name", "grouping", "installed", "enabled", "hidden", "default_queue", "eligible_queues",
            "overrides", "management", "managed_by", "entries", "why"]  # fmt: skip
    assert all(list(document) == keys for document in documents)
    by_path = {document["class_path"]: document for document in documents}
    assert by_path["audits.DeviceAudit"]["managed_by"] == f"{partial}:4"
    assert by_path["audits.DeviceAudit"]["why"] == "audits run"
    assert by_path["legacy.OldImport"]["management"] == "retire"
    hook = by_path["hooks.RebootDevice"]
    assert (hook["management"], hook["managed_by"], hook["entries"], hook["why"]) == ("unmanaged", None, [], None)

    code, out, _ = run(capsys, "get", "--manifests", str(partial), "--format", "yaml")
    assert code == 0 and yaml.safe_load(out) == documents

    code, out, _ = run(capsys, "get", "--manifests", str(partial), "--unmanaged", "-o", "json")
    unmanaged = [document["class_path"] for document in json.loads(out)]
    assert unmanaged == ["hooks.DeviceChangeNotifier", "hooks.RebootDevice", "vendor_x.sync.PushConfig",
                         "vendor_x.sync.SyncInventory"]  # fmt: skip
    code, out, _ = run(capsys, "get", "--manifests", str(partial), "--unmanaged", "hooks.*")
    assert list(_table(out)) == ["hooks.DeviceChangeNotifier", "hooks.RebootDevice"]

    # The plan's note on unmanaged jobs says how to see them.
    code, out, _ = run(capsys, "plan", "--jobs-root", JOBS, str(partial), str(MANIFESTS / "queues.yaml"))
    assert code == 0
    assert "4 jobs left as found, matched by no manifest entry (`nbjobs get --unmanaged` shows which)" in out


def test_get_errors_are_one_clean_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "get")
    assert code == 1 and "Error: no database at" in err and "nbjobs sandbox" in err
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    code, _, err = run(capsys, "get", "-o", "jsn")
    assert code == 1 and "did you mean 'json'?" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: yes\n")
    code, out, err = run(capsys, "get", "--manifests", str(bad))
    assert code == 1 and out == "" and f"{bad}:5:" in err
    # Entries of equal rank that disagree: plan refuses them; get warns and still shows who matches what.
    clash = tmp_path / "clash.yaml"
    clash.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.*\n    enabled: true\n"
                     "  - match: audits.?eviceAudit\n    enabled: false\n")  # fmt: skip
    code, out, err = run(capsys, "get", "--manifests", str(clash), "audits.DeviceAudit")
    assert code == 0 and "warning:" in err and "equal precedence" in err
    assert _table(out)["audits.DeviceAudit"]["MANAGED BY"] == f"{clash}:4 (+1)"


# -- progress ---------------------------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_off_a_terminal_is_a_periodic_line_with_rate_and_time_left() -> None:
    clock, stream = _Clock(), io.StringIO()
    report = ProgressReporter(stream, clock=clock, interval=5.0, step=10.0)
    for done in range(1000, 100_001, 1000):  # a batch of 1000 every 0.1 s: 10,000 results/s
        report("orphans", done, 100_000)
        clock.now += 0.1
    lines = stream.getvalue().splitlines()
    # The first batch, then every 10% (nothing took 5 s), then the last one.
    assert len(lines) == 11, lines
    assert lines[0] == "  purging orphans: 1,000/100,000 results (1%)"
    assert lines[1] == "  purging orphans: 11,000/100,000 results (11%), 10,000 results/s, about 9s left"
    assert lines[-1] == "  purging orphans: 100,000/100,000 results (100%), 10,000 results/s, done in 10s"

    # Slow work: a line every `interval` seconds, whatever the percentage.
    clock, stream = _Clock(), io.StringIO()
    report = ProgressReporter(stream, clock=clock, interval=5.0, step=10.0)
    for done in range(1, 1001):  # one result a second, 0.1% each
        report("legacy.OldImport", done, 1000)
        clock.now += 1.0
    lines = stream.getvalue().splitlines()
    assert 190 <= len(lines) <= 210
    assert lines[1] == "  purging legacy.OldImport: 6/1,000 results (1%), 1 results/s, about 16m34s left"
    assert progress_line("x", 5, 10, 0.001) == "  purging x: 5/10 results (50%), 0 results/s, about 1h23m left"


def test_progress_on_a_terminal_is_a_rich_bar(capsys: pytest.CaptureFixture[str]) -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=100, color_system=None)
    clock = _Clock()
    report = ProgressReporter(console=console, clock=clock)
    for done in (250, 500, 750, 1000):
        report("orphans", done, 1000)
        clock.now += 1.0
    screen = console.file.getvalue()  # type: ignore[attr-defined]
    assert "━" in screen and "purging orphans" in screen and "1000/1000" in screen
    assert "250 results/s" in screen and "left" in screen
    assert capsys.readouterr() == ("", "")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    ProgressReporter(stream, clock=clock)("orphans", 10, 10)
    assert "━" in stream.getvalue()  # a terminal found on its own gets the bar too
    # apply and purge-orphans report through the same reporter.
    assert isinstance(common.progress, ProgressReporter)


# -- completion and help ----------------------------------------------------------------------------------


def _leaves() -> list[argparse.ArgumentParser]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return leaf_parsers(commands)


def test_completion_scripts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, script, _ = run(capsys, "completion", "bash")
    assert code == 0
    names = {leaf.prog.split(" ")[1] for leaf in _leaves()}
    assert {"get", "list", "plan", "apply", "purge-orphans", "completion", "db"} <= names | {"list"}
    for name in names | {"list"}:
        assert re.search(rf"\b{re.escape(name)}\b", script), name
    path = tmp_path / "nbjobs.bash"
    path.write_text(script)
    checked = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    # The script completes: a command, then an option's choices.
    session = f'source {shlex.quote(str(path))}\nCOMP_WORDS=(nbjobs get -o ""); COMP_CWORD=3\n' \
              '_shtab_nbjobs nbjobs "" -o; echo "${COMPREPLY[@]}"\n'  # fmt: skip
    completed = subprocess.run(["bash", "-c", session], capture_output=True, text=True)
    assert completed.stdout.split() == ["text", "wide", "json", "yaml"], completed.stderr

    code, script, _ = run(capsys, "completion", "zsh")
    assert code == 0 and script.startswith("#compdef nbjobs") and "purge-orphans" in script
    code, _, err = run(capsys, "completion", "fish")
    assert code == 1 and "invalid choice" in err


def test_every_command_help_has_a_description_environment_and_example(capsys: pytest.CaptureFixture[str]) -> None:
    leaves = _leaves()
    assert len(leaves) >= 17
    for leaf in leaves:
        name = leaf.prog.split(" ", 1)[1]
        code, out, _ = run(capsys, *name.split(), "--help")
        assert code == 0, name
        description = out.split("\n\n")[1]
        assert description and not description.startswith(("positional", "options")), (name, out)
        assert "\nEnvironment:\n  " in out and "\nExample:\n  nbjobs " + name.split()[0] in out, (name, out)
        assert "NBJOBS_CONFIG" in out
    _, out, _ = run(capsys, "apply", "--help")
    assert "saved PLAN.json" in out and "NBJOBS_USER" in out and "NBJOBS_DATABASE_URL" in out
    _, out, _ = run(capsys, "validate", "--help")
    assert "NBJOBS_DATABASE_URL" not in out  # validate reads a database only when given one


# -- installing it as a tool ------------------------------------------------------------------------------


def _dockerignored(root: Path) -> Callable[[str, list[str]], set[str]]:
    """What `docker build` leaves out of the build context (.dockerignore), for shutil.copytree."""
    patterns = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()]
    patterns = [p.removeprefix("**/") for p in patterns if p and not p.startswith("#")]

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(root)
        return {n for n in names if any(fnmatch(n, p) or fnmatch(str(relative / n), p) for p in patterns)}

    return ignore


def _install_command(dockerfile: str) -> str:
    """The Dockerfile's `RUN pip install ...` of the wheel, without what follows it (`&& rm -rf /dist`)."""
    commands = [line.removeprefix("RUN ").split(" && ")[0] for line in dockerfile.splitlines()
                if line.startswith("RUN pip install") and "/dist/" in line]  # fmt: skip
    assert len(commands) == 1, commands
    return commands[0]


def test_dockerfile_is_the_image_the_examples_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(" ", 1) for line in dockerfile.splitlines() if line and not line.startswith(("#", " "))]
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim"]
    final = dockerfile.split("\nFROM python:3.11-slim\n", 1)[1]
    assert "apt-get install -y --no-install-recommends git" in final
    assert "--uid 10001" in final and "USER 10001:10001" in final and "WORKDIR /work" in final
    assert 'ENTRYPOINT ["nbjobs"]' in final
    assert _install_command(dockerfile).startswith("pip install --no-cache-dir ")
    assert "[postgres,mysql]" in _install_command(dockerfile)
    for manifest in (EXAMPLES / "kubernetes").glob("*/*.yaml"):
        text = manifest.read_text()
        if "image: nbjobs" in text:
            assert "runAsUser: 10001" in text or "runAsUser" not in text, manifest


@pytest.mark.slow
def test_the_wheel_installs_with_the_dockerfiles_command_and_runs_outside_the_repository(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_dockerignored(ROOT))  # the image's build context
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), "."],
                           cwd=source, capture_output=True, text=True, timeout=600)  # fmt: skip
    output = built.stdout + built.stderr
    assert built.returncode == 0, output
    assert "BuildBackendWarning" not in output and "deprecated" not in output.lower(), output
    (wheel,) = (tmp_path / "dist").glob("nbjobs-*.whl")

    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    bin_dir = environment / "bin"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    command = _install_command((ROOT / "Dockerfile").read_text()).replace("/dist/", f"{wheel.parent}/")
    installed = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=900)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    work = tmp_path / "work"  # outside the repository: only the installed wheel can be imported
    work.mkdir()

    def nbjobs(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(bin_dir / "nbjobs"), *argv], cwd=work, env=env, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    located = subprocess.run([str(bin_dir / "python"), "-c", "import reconciler; print(reconciler.__file__)"],
                             cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert str(environment) in located.stdout, located
    version = nbjobs("--version")
    assert (version.returncode, version.stdout.strip()) == (0, f"nbjobs {__version__}")
    validated = nbjobs("validate", "--strict", "--jobs-root", JOBS, str(MANIFESTS))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "0 errors, 0 warnings" in validated.stdout
    for argv in (("sandbox", "--jobs-root", JOBS), ("get", "--manifests", str(MANIFESTS)), ("completion", "bash")):
        done = nbjobs(*argv)  # the sandbox runs nbjobs' own migrations: they are in the wheel
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    assert "retire " in nbjobs("get", "--manifests", str(MANIFESTS)).stdout


# -- one spelling for one thing; saved plans apply once; counts in words (issue "The first hour") ---------


def _options(leaf: argparse.ArgumentParser) -> dict[str, list[str]]:
    """A command's options by destination, as spelled (help-suppressed aliases included)."""
    found: dict[str, list[str]] = {}
    for action in leaf._actions:
        found.setdefault(action.dest, []).extend(action.option_strings)
    return found


def _by_name() -> dict[str, argparse.ArgumentParser]:
    return {leaf.prog.split(" ", 1)[1]: leaf for leaf in _leaves()}


def test_one_spelling_for_writing_files_confirming_quiet_and_colour() -> None:
    leaves = _by_name()
    for name, leaf in leaves.items():
        options = _options(leaf)
        spelled = [o for spellings in options.values() for o in spellings]
        # Files are written with --out alone (plan: FILE; export: DIR); `-o` is get's output format, as kubectl's.
        assert not [o for o in spelled if o.startswith(("--output", "--write", "--dest", "--save"))], name
        assert options.get("out", ["--out"]) == ["--out"], name
        assert "-o" not in spelled or (name == "get" and options["format"] == ["-o", "--format"]), name
        # --no-color and --config on every command, as the NO_COLOR variable.
        assert "--no-color" in spelled and "--config" in spelled, name
        if "yes" in options:  # -y is --yes everywhere it goes ahead without asking or counting
            assert options["yes"][:2] == ["-y", "--yes"], name
        if "quiet" in options:
            assert options["quiet"] == ["-q", "--quiet"], name
    for name in ("apply", "purge-orphans", "export"):
        assert "-y" in _options(leaves[name])["yes"], name
    assert _options(leaves["export"])["yes"] == ["-y", "--yes", "--force"]  # --force stays, out of --help
    for name in ("plan", "apply", "validate", "purge-orphans", "export"):
        assert "quiet" in _options(leaves[name]), name
    for name in ("validate", "apply", "export", "history", "status"):
        assert "json" in next(a for a in leaves[name]._actions if a.dest == "format").choices, name  # type: ignore[operator]


def test_validate_format_json_is_one_document_with_located_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    keys = ["format_version", "valid", "strict", "files", "entries", "queues", "job_classes", "job_records", "errors",
            "warnings"]  # fmt: skip
    code, out, err = run(capsys, "validate", "--jobs-root", JOBS, str(MANIFESTS), "--format", "json")
    document = json.loads(out)
    assert code == 0 and err == "" and list(document) == keys
    assert (document["valid"], document["entries"], document["queues"], document["job_classes"]) == (True, 5, 2, 7)
    assert document["job_records"] is None and len(document["files"]) == 3 and document["errors"] == []

    odd = tmp_path / "odd.yaml"
    odd.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.NoSuchAudit\n    enabled: true\n")
    code, out, err = run(capsys, "validate", "--jobs-root", JOBS, str(odd), "--format", "json")
    document = json.loads(out)
    assert code == 0 and err == "" and document["valid"] is True and document["errors"] == []
    (warning,) = document["warnings"]
    assert list(warning) == ["location", "file", "line", "column", "message", "severity"]
    assert (warning["location"], warning["file"], warning["line"], warning["severity"]) == (
        f"{odd}:4:12", str(odd), 4, "warning")  # fmt: skip
    assert "'audits.NoSuchAudit' is not in the job code" in warning["message"]
    code, out, _ = run(capsys, "validate", "--jobs-root", JOBS, str(odd), "--format", "json", "--strict")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False and document["strict"] is True and document["warnings"] == []
    assert document["errors"][0]["severity"] == "error"

    # Manifests that do not load are the report too; so is a missing code source (located nowhere).
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: yes\n")
    code, out, err = run(capsys, "validate", "--jobs-root", JOBS, str(bad), "--format", "json")
    document = json.loads(out)
    assert code == 1 and err == "" and list(document) == keys and document["entries"] is None
    assert document["errors"][0]["file"] == str(bad) and document["errors"][0]["line"] == 5
    code, out, err = run(capsys, "validate", str(MANIFESTS), "--format", "json")
    (problem,) = json.loads(out)["errors"]
    assert code == 1 and err == "" and problem["location"] is None and "no job code to read" in problem["message"]


def test_quiet_prints_only_errors_and_the_closing_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = tmp_path / "odd.yaml"
    odd.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.NoSuchAudit\n    enabled: true\n")
    code, out, err = run(capsys, "validate", "-q", "--jobs-root", JOBS, str(odd))
    assert (code, err) == (0, "") and out.endswith("0 errors, 1 warning.\n") and out.count("\n") == 1
    code, out, err = run(capsys, "validate", "--quiet", "--strict", "--jobs-root", JOBS, str(odd))
    assert code == 1 and "error: job 'audits.NoSuchAudit'" in err and out.endswith("1 error, 0 warnings (--strict).\n")

    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    closing = "Plan: 1 to create, 7 to change, 0 to delete (2 queues, 6 jobs) in 19 operations"
    code, out, err = run(capsys, "plan", "-q", "--jobs-root", JOBS, str(MANIFESTS), "--out", str(tmp_path / "p.json"))
    assert (code, err) == (0, "") and out.startswith(closing) and out.count("\n") == 1
    assert (tmp_path / "p.json").exists()

    # Asking for confirmation, quiet still says what is being approved: the closing line.
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _prompt: "no")
    code, out, _ = run(capsys, "apply", "-q", "--jobs-root", JOBS, str(MANIFESTS))
    assert code == 1 and out == f"{closing}: 12 overrides set, 5 jobs enabled.\nApply cancelled; nothing was changed.\n"

    code, out, err = run(capsys, "apply", "-q", "-y", "--as", "admin", "--jobs-root", JOBS, str(MANIFESTS))
    assert code == 0 and err == "" and out.startswith("Apply complete: 1 created, 7 changed") and out.count("\n") == 1
    code, out, _ = run(capsys, "plan", "--quiet", "--jobs-root", JOBS, str(MANIFESTS))
    assert out == "7 managed jobs in sync.\n"
    code, out, err = run(capsys, "export", "-q", "--jobs-root", JOBS, "--out", str(tmp_path / "exported"))
    assert code == 0 and out == "" and "note:" not in err
    assert err.startswith("Exported 7 jobs and 3 queues into 5 files")


def test_apply_format_json_says_what_was_applied_and_needs_yes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    code, out, err = run(capsys, "apply", "--format", "json", "--jobs-root", JOBS, str(MANIFESTS))
    assert code == 1 and out == "" and "give --yes (-y)" in err and "nothing was changed" in err

    keys = ["format_version", "outcome", "history_id", "already_applied_as", "database", "revision", "plan_file",
            "replanned", "summary", "change_log_entries", "purged"]  # fmt: skip
    argv = ("apply", "--format", "json", "-y", "--as", "admin", "--jobs-root", JOBS, str(MANIFESTS))
    code, out, err = run(capsys, *argv)
    document = json.loads(out)  # the whole of standard output: one document
    assert code == 0 and list(document) == keys and document["outcome"] == "applied"
    summary = document["summary"]
    assert (summary["created"], summary["changed"], summary["deleted"], summary["operations"]) == (1, 7, 0, 19)
    assert document["change_log_entries"] == 9 and document["purged"] == 0 and document["plan_file"] is None
    _, history, _ = run(capsys, "history", "--format", "json")
    (recorded,) = json.loads(history)
    assert uuid.UUID(recorded["id"]) == uuid.UUID(document["history_id"]) and recorded["counts"] == summary

    code, out, _ = run(capsys, "apply", "--format", "json", "-y", "--jobs-root", JOBS, str(MANIFESTS))
    assert code == 0 and json.loads(out)["outcome"] == "no-changes" and json.loads(out)["summary"]["objects"] == 0


def test_export_format_json_lists_the_files_written_or_that_would_be(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0
    assert run(capsys, "apply", "-y", "--as", "admin", "--jobs-root", JOBS, str(MANIFESTS))[0] == 0
    keys = ["format_version", "out", "jobs", "queues", "files", "notes", "warnings"]
    code, out, err = run(capsys, "export", "--jobs-root", JOBS, "--format", "json")
    document = json.loads(out)  # not the YAML: the files --out would write, with their text
    assert code == 0 and err == "" and list(document) == keys and document["out"] is None
    paths = [file["path"] for file in document["files"]]
    assert paths[0] == "queues.yaml" and "jobs/audits.yaml" in paths
    assert not any(file["written"] for file in document["files"])
    assert all(list(file) == ["path", "written", "text"] for file in document["files"])
    assert not (tmp_path / "queues.yaml").exists()

    out_dir = tmp_path / "exported"
    code, out, _ = run(capsys, "export", "--jobs-root", JOBS, "--format", "json", "--out", str(out_dir))
    written = json.loads(out)["files"]
    assert code == 0 and [f["path"] for f in written] == [str(out_dir / path) for path in paths]
    assert all(f["written"] and Path(f["path"]).read_text() == f["text"] for f in written)
    code, out, err = run(capsys, "export", "--jobs-root", JOBS, "--format", "json", "--out", str(out_dir))
    assert code == 1 and out == "" and "refusing to overwrite 5 existing files" in err and "--yes (-y)" in err
    assert run(capsys, "export", "--jobs-root", JOBS, "-y", "--out", str(out_dir))[0] == 0
    assert run(capsys, "export", "--jobs-root", JOBS, "--force", "--out", str(out_dir))[0] == 0  # the older spelling


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_flag_beside_the_no_color_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[0] == 0

    def plan(*extra: str) -> str:
        terminal = _Terminal()
        with monkeypatch.context() as patched:
            patched.setattr(sys, "stdout", terminal)
            assert main(["plan", "--jobs-root", JOBS, str(MANIFESTS), *extra]) == 0
        return terminal.getvalue()

    assert "\033[1mPlan: " in plan()  # a terminal gets colour
    assert "\033[" not in plan("--no-color") and "Plan: " in plan("--no-color")
    assert "\033[1mPlan: " in plan()  # the flag held for that command only
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\033[" not in plan()
    capsys.readouterr()


@pytest.mark.database
def test_reapplying_a_saved_plan_says_which_apply_did_it(
    capsys: pytest.CaptureFixture[str], db_engine: Engine, db_target: DatabaseTarget, tmp_path: Path
) -> None:
    build_sandbox(db_engine, discover(jobs_root=EXAMPLES / "jobs"))
    url = db_target.url.render_as_string(hide_password=False)
    plan_file = tmp_path / "plan.json"
    sources = ("--jobs-root", JOBS, "--database-url", url)
    assert run(capsys, "plan", *sources, "--out", str(plan_file), str(MANIFESTS))[0] == 0
    code, out, _ = run(capsys, "apply", "-y", "--database-url", url, str(plan_file))
    assert code == 0
    first = re.search(r"history id ([0-9a-f]{12})\.", out)
    assert first is not None

    with db_engine.connect() as connection:
        changes = connection.execute(select(func.count()).select_from(extras_objectchange)).scalar_one()
    # Not "stale" (its own writes moved every row it touches): done, by that apply; exit 0, nothing written.
    code, out, err = run(capsys, "apply", "-y", "--database-url", url, str(plan_file))
    assert code == 0 and err == ""
    assert out.startswith(f"This plan was already applied as {first.group(1)} (started ") and "stale" not in out
    assert out.rstrip().endswith("a saved plan applies once; nothing was changed.")
    assert "~ job" not in out  # neither shown nor asked about
    code, out, _ = run(capsys, "apply", "--format", "json", "-y", "--database-url", url, str(plan_file))
    document = json.loads(out)
    assert code == 0 and document["outcome"] == "already-applied"
    assert document["already_applied_as"].startswith(first.group(1)) and document["summary"]["operations"] == 0
    assert document["plan_file"] == str(plan_file)
    with db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(extras_objectchange)).scalar_one() == changes
        rows = connection.execute(select(nbjobs_apply.c.outcome, nbjobs_apply.c.message)
                                  .order_by(nbjobs_apply.c.started_at)).all()  # fmt: skip
    again = ("no-changes", f"already applied as {first.group(1)}")
    assert [tuple(row) for row in rows] == [("applied", ""), again, again]

    # Under the lock, where it counts (another apply may have done it since the command looked): the same.
    saved_plan = saved.load(plan_file)
    result = apply_saved(db_engine, saved_plan, ApplyOptions(database="test"))
    assert result.already_applied is not None and result.already_applied.apply_id.hex.startswith(first.group(1))
    assert result.outcome == "already-applied" and result.plan.is_empty and result.object_changes == 0
    # A plan that was refused (stale) is not "applied": applying another plan still checks staleness.
    other = tmp_path / "other.json"
    released = tmp_path / "released.yaml"
    released.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: false\n")
    assert run(capsys, "plan", "--jobs-root", JOBS, "--database-url", url, "--out", str(other), str(released))[0] == 0
    with db_engine.begin() as connection:
        connection.execute(update(extras_job).where(extras_job.c.job_class_name == "DeviceAudit").values(enabled=False))
    code, _, err = run(capsys, "apply", "-y", "--database-url", url, str(other))
    assert code == 1 and "the plan is stale: 1 field it depends on moved" in err


# Counts in user-facing text are words (`1 entry`, `2 entries`), never `entr(ies)` or `job(s)`.
_PARENTHESISED_PLURAL = re.compile(r"[A-Za-z]\((?:s|es|ies)\)")


def test_no_parenthesised_plurals_in_the_text_nbjobs_writes() -> None:
    found = []
    for path in sorted((ROOT / "reconciler").rglob("*.py")):
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type in (tokenize.STRING, *_FSTRING_TOKENS) and _PARENTHESISED_PLURAL.search(token.string):
                found.append(f"{path.relative_to(ROOT)}:{token.start[0]}: {token.string.strip()[:80]}")
    assert not found, "\n".join(found)
    assert (plural(1, "entry"), plural(3, "entry"), plural(0, "job"), plural(2, "key")) == (
        "1 entry", "3 entries", "0 jobs", "2 keys")  # fmt: skip
    assert plural(2, "job class", "job classes") == "2 job classes" and plural(2, "day") == "2 days"
    assert plural(100_000, "result", thousands=True) == "100,000 results"
    from reconciler import diagnostics

    assert getattr(diagnostics, "plural", None) is plural  # one helper, for every layer (preflight's too)


_FSTRING_TOKENS = tuple(getattr(tokenize, name) for name in ("FSTRING_MIDDLE",) if hasattr(tokenize, name))


def test_counts_read_as_words(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "validate", "--jobs-root", JOBS, str(MANIFESTS))
    assert code == 0
    assert out == "3 manifest files, 5 job entries, 2 queues; 7 job classes found; 0 errors, 0 warnings.\n"
    one = tmp_path / "one.yaml"
    one.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: true\n")
    code, out, _ = run(capsys, "validate", "--jobs-root", JOBS, str(one))
    assert out == "1 manifest file, 1 job entry, 0 queues; 7 job classes found; 0 errors, 0 warnings.\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: audits.DeviceAudit\n    enabled: yes\n")
    code, _, err = run(capsys, "validate", "--jobs-root", JOBS, str(bad))
    assert code == 1 and err.endswith("Error: 1 problem found.\n")
    assert run(capsys, "sandbox", "--jobs-root", JOBS)[1].endswith(": 7 job records created, 0 refreshed, 0 marked "
                                                                   "uninstalled, 1 queue created.\n")  # fmt: skip
    code, out, _ = run(capsys, "plan", "--jobs-root", JOBS, str(one), str(MANIFESTS / "queues.yaml"))
    assert "6 jobs left as found, matched by no manifest entry (`nbjobs get --unmanaged` shows which)" in out
    assert progress_line("orphans", 1, 1, None) == "  purging orphans: 1/1 result (100%)"


def test_a_reader_that_leaves_the_pipe_stops_nbjobs_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nbjobs history | head`: no "Internal error: BrokenPipeError", the shell's own code for SIGPIPE."""

    class ClosedPipe(io.StringIO):
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    errors = io.StringIO()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    monkeypatch.setattr(sys, "stderr", errors)
    assert main(["schema"]) == 141
    assert errors.getvalue() == ""
