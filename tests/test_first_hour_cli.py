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
import venv
from collections.abc import Callable
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml
from common import EXAMPLES, ROOT
from rich.console import Console

from reconciler import __version__
from reconciler.cli import _leaf_parsers, build_parser, common, main
from reconciler.cli.common import ProgressReporter, progress_line
from reconciler.manifest.load import load_manifests

JOBS = str(EXAMPLES / "jobs")
MANIFESTS = EXAMPLES / "manifests"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting from the machine running the tests, and a working directory of the test's own."""
    for name in list(os.environ):
        if name.startswith(("NBJOBS_", "NAUTOBOT_")):
            monkeypatch.delenv(name)
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
    assert "4 job(s) match no manifest entry and are left as they are (`nbjobs get --unmanaged` lists them)" in out


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
    assert lines[0] == "  purging orphans: 1,000/100,000 result(s) (1%)"
    assert lines[1] == "  purging orphans: 11,000/100,000 result(s) (11%), 10,000 results/s, about 9s left"
    assert lines[-1] == "  purging orphans: 100,000/100,000 result(s) (100%), 10,000 results/s, done in 10s"

    # Slow work: a line every `interval` seconds, whatever the percentage.
    clock, stream = _Clock(), io.StringIO()
    report = ProgressReporter(stream, clock=clock, interval=5.0, step=10.0)
    for done in range(1, 1001):  # one result a second, 0.1% each
        report("legacy.OldImport", done, 1000)
        clock.now += 1.0
    lines = stream.getvalue().splitlines()
    assert 190 <= len(lines) <= 210
    assert lines[1] == "  purging legacy.OldImport: 6/1,000 result(s) (1%), 1 results/s, about 16m34s left"
    assert progress_line("x", 5, 10, 0.001) == "  purging x: 5/10 result(s) (50%), 0 results/s, about 1h23m left"


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
    return _leaf_parsers(commands)


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
    assert "0 error(s), 0 warning(s)" in validated.stdout
    for argv in (("sandbox", "--jobs-root", JOBS), ("get", "--manifests", str(MANIFESTS)), ("completion", "bash")):
        done = nbjobs(*argv)  # the sandbox runs nbjobs' own migrations: they are in the wheel
        assert done.returncode == 0, (argv, done.stdout, done.stderr)
    assert "retire " in nbjobs("get", "--manifests", str(MANIFESTS)).stdout
