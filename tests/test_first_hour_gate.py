"""The first hour: what a new administrator meets. A gate that cannot pass by accident (no job code is an
error, `validate` counts its warnings and `--strict` fails on them), "did you mean" for misspelt class
paths, queues, commands and options, and a mass-delete guard sized for small fleets.

Each test runs as a newcomer would: in a fresh directory, on a machine with no Nautobot around (no
NAUTOBOT_*/NBJOBS_* variables, no ~/.nautobot), with the sandbox database where one is needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from common import EXAMPLES, clear_settings_environment
from loop_support import Remote, build, settings_for
from test_gitrev import GitRepo

from reconciler.cli import main
from reconciler.loop.tick import dispose_engines, run_tick
from reconciler.nautobot.connect import DatabaseTarget

JOBS = EXAMPLES / "jobs"
HEADER = "apiVersion: nbjobs/v1\nkind: Jobs\n"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh machine: an empty home (no ~/.nautobot), no NBJOBS_*/NAUTOBOT_* variable, and a working
    directory holding the example manifests under manifests/ (the default)."""
    clear_settings_environment(monkeypatch)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    shutil.copytree(EXAMPLES / "manifests", work / "manifests")
    monkeypatch.chdir(work)
    return home


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + text, encoding="utf-8")
    return path


def sandbox(capsys: pytest.CaptureFixture[str], jobs: Path = JOBS) -> Path:
    """`nbjobs sandbox` in the working directory, as `make demo` does: ./nbjobs.db."""
    code, _, err = run(capsys, "sandbox", "--jobs-root", str(jobs))
    assert code == 0, err
    return Path("nbjobs.db").resolve()


def jobs_module(root: Path, name: str, classes: list[str], *, registered: bool = True) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    body = "".join(f"\n\nclass {c}(Job):\n    pass\n" for c in classes)
    register = f"\n\nregister_jobs({', '.join(classes)})\n" if registered else ""
    (root / f"{name}.py").write_text(f"from nautobot.apps.jobs import Job, register_jobs\n{body}{register}")
    return root


# -- 1. A gate that cannot pass by accident --------------------------------------------------------------


def test_validate_without_job_code_fails_and_says_where_it_looked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "validate")
    assert code == 1
    assert "0 errors" not in out and "job classes found" not in out
    assert err.startswith("Error: no job code to read: looked for\n")
    assert (f"  JOBS_ROOT: not in --jobs-root, NBJOBS_JOBS_ROOT, NAUTOBOT_JOBS_ROOT; {home}/.nautobot/jobs "
            "does not exist\n") in err  # fmt: skip
    assert (
        f"  GIT_ROOT: not in --git-root, NBJOBS_GIT_ROOT, NAUTOBOT_GIT_ROOT; {home}/.nautobot/git does not exist\n"
        in err
    )
    assert "  Apps: not in --app, NBJOBS_APPS\n" in err
    assert "or pass --no-code to work without it on purpose." in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ("validate",),
        ("plan",),
        ("plan", "--detailed-exitcode"),
        ("apply", "--yes"),
        ("export",),
        ("preflight",),
        ("diff", "--base", "HEAD"),
    ],
)
def test_every_command_that_reads_code_refuses_to_run_without_it(
    home: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    database = sandbox(capsys) if argv[0] in ("plan", "apply", "export", "preflight") else None
    before = database.read_bytes() if database else None
    code, out, err = run(capsys, *argv)
    assert code == 1, out + err
    assert "Error: no job code to read: looked for" in err and "--no-code" in err
    assert "Traceback" not in err
    if database is not None:
        assert database.read_bytes() == before  # changes nothing


def test_code_sources_that_hold_no_job_class_are_an_error_naming_what_was_read(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The newcomer's first job: the class is written, but never passed to register_jobs(...).
    root = jobs_module(tmp_path / "jobs", "audits", ["DeviceAudit"], registered=False)
    code, out, err = run(capsys, "validate", "--jobs-root", str(root))
    assert code == 1 and "job classes found" not in out
    assert (f"{root}: error: no job class found in the job code read (JOBS_ROOT {root} (from --jobs-root)): "
            "Nautobot records only classes passed to register_jobs(...); name the job code, or pass --no-code to "
            "work without it on purpose") in err  # fmt: skip
    assert err.rstrip().endswith("Error: 1 problem found.")

    monkeypatch.setenv("NAUTOBOT_JOBS_ROOT", str(root))
    code, _, err = run(capsys, "plan")
    assert code == 1 and f"(JOBS_ROOT {root} (from NAUTOBOT_JOBS_ROOT))" in err
    monkeypatch.delenv("NAUTOBOT_JOBS_ROOT")

    # Nautobot's own default, ~/.nautobot/jobs, is read when it exists: and said so.
    default = jobs_module(home / ".nautobot" / "jobs", "audits", ["DeviceAudit"], registered=False)
    for command in ("validate", "preflight", "export"):
        code, _, err = run(capsys, command)
        assert code == 1, command
        assert f"(JOBS_ROOT {default} (from Nautobot's default under NAUTOBOT_ROOT))" in err, command


def test_no_code_allows_working_without_job_code_on_purpose(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", "--no-code")
    assert code == 0, err
    assert out.strip() == ("3 manifest files, 5 job entries, 2 queues; no job code read (--no-code); "
                           "0 errors, 0 warnings.")  # fmt: skip
    sandbox(capsys)
    code, out, err = run(capsys, "plan", "--no-code")
    assert code == 0, err
    assert "Plan: " in out
    code, _, err = run(capsys, "validate", "--no-code", "--jobs-root", str(JOBS))
    assert code == 1
    assert "Error: --no-code reads no job code, but --jobs-root was given too: drop one or the other" in err


def test_validate_counts_its_warnings_and_strict_makes_them_errors(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(Path("manifests/more.yaml"), "jobs:\n  - match: vendor_y.*\n    enabled: false\n")
    code, out, err = run(capsys, "validate", "--jobs-root", str(JOBS))
    assert code == 0
    assert f"{manifest}:4:12: warning: glob `vendor_y.*` matches no known job" in err
    assert out.strip().endswith("7 job classes found; 0 errors, 1 warning.")

    code, out, err = run(capsys, "validate", "--strict", "--jobs-root", str(JOBS))
    assert code == 1
    assert f"{manifest}:4:12: error: glob `vendor_y.*` matches no known job" in err
    assert out.strip().endswith("7 job classes found; 1 error, 0 warnings (--strict).")


def test_strict_refuses_an_exact_match_that_names_no_job_in_the_code_or_the_given_database(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    database = sandbox(capsys)  # has legacy.OldImport...
    code_only = tmp_path / "jobs"
    shutil.copytree(JOBS, code_only)
    (code_only / "legacy.py").unlink()  # ...whose code is gone, as a retirement asks
    manifest = write(Path("manifests/more.yaml"),
                     "jobs:\n  - match: audits.DeviceAudt\n    enabled: true\n"
                     "  - match: legacy.OldImport\n    enabled: false\n")  # fmt: skip
    Path("manifests/retire.yaml").unlink()

    code, _, err = run(capsys, "validate", "--jobs-root", str(code_only))
    assert code == 0
    assert (f"{manifest}:4:12: warning: 'audits.DeviceAudt' is not in the job code (the database may have it); "
            "did you mean 'audits.DeviceAudit'?") in err  # fmt: skip

    code, out, err = run(capsys, "validate", "--strict", "--jobs-root", str(code_only))
    assert code == 1 and "2 errors, 0 warnings (--strict)." in out
    assert (f"{manifest}:4:12: error: job 'audits.DeviceAudt' is not in the job code (give --database-url to look "
            "in the database too); did you mean 'audits.DeviceAudit'?") in err  # fmt: skip
    assert f"{manifest}:6:12: error: job 'legacy.OldImport' is not in the job code" in err

    # With the database, the job that only the database has passes; the misspelt one still fails.
    before = database.read_bytes()
    code, out, err = run(capsys, "validate", "--strict", "--jobs-root", str(code_only), "--database-url",
                         f"sqlite:///{database}")  # fmt: skip
    assert code == 1
    assert (f"{manifest}:4:12: error: job 'audits.DeviceAudt' exists neither in the job code nor in the database; "
            "did you mean 'audits.DeviceAudit'?") in err  # fmt: skip
    assert "legacy.OldImport" not in err
    assert "6 job classes found, 7 job records in the database; 1 error, 0 warnings (--strict)." in out
    assert database.read_bytes() == before


def test_read_only_commands_never_say_nothing_was_changed(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    database = sandbox(capsys)
    write(Path("manifests/bad.yaml"), "jobs:\n  - match: hooks.RebootDevice\n    hidden: yes\n")
    for argv in (("validate",), ("plan",), ("preflight",)):
        code, _, err = run(capsys, *argv, "--jobs-root", str(JOBS))
        assert code == 1 and "bad.yaml:5:13: error:" in err, argv
        assert err.rstrip().endswith("Error: 1 problem found."), argv
        assert "nothing was changed" not in err, argv
    code, _, err = run(capsys, "apply", "--yes", "--jobs-root", str(JOBS))
    assert code == 1 and err.rstrip().endswith("Error: 1 problem found; nothing was changed.")

    repo = GitRepo(tmp_path / "repo")
    try:
        repo.commit("manifests", {"manifests/jobs.yaml": (EXAMPLES / "manifests" / "jobs.yaml").read_text()})
        repo.write("manifests/bad.yaml", HEADER + "jobs:\n  - match: hooks.RebootDevice\n    hidden: yes\n")
        code, _, err = run(capsys, "diff", "--base", "HEAD", "--jobs-root", str(JOBS), str(repo.root / "manifests"))
    finally:
        repo.close()
    assert code == 1 and err.rstrip().endswith("Error: 1 problem found.") and "nothing was changed" not in err

    database.write_bytes(b"not a database at all" * 100)  # a database error, per command too
    code, _, err = run(capsys, "plan", "--jobs-root", str(JOBS), "manifests/jobs.yaml")
    assert code == 1 and err.startswith("Error: database: ") and "nothing was changed" not in err
    code, _, err = run(capsys, "apply", "--yes", "--jobs-root", str(JOBS), "manifests/jobs.yaml")
    assert code == 1 and err.startswith("Error: database: ") and err.rstrip().endswith("; nothing was changed.")


def test_diff_refuses_a_head_whose_code_holds_no_job_class(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    try:
        jobs = jobs_module(repo.root / "jobs", "audits", ["DeviceAudit"], registered=False)
        queues = HEADER + "queues:\n  - name: heavy\n    type: celery\n"
        repo.commit("manifests and unregistered code", {"manifests/queues.yaml": queues})
        manifests = str(repo.root / "manifests")
        code, _, err = run(capsys, "diff", "--base", "HEAD", "--jobs-root", str(jobs), manifests)
        assert code == 1
        assert "no job class found in the job code read at the head (working tree" in err
        assert run(capsys, "diff", "--base", "HEAD", "--no-code", manifests)[0] == 0
    finally:
        repo.close()


# -- 2. Did you mean -------------------------------------------------------------------------------------


def test_a_misspelt_command_or_option_gets_the_nearest_names_and_exits_1(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "plna")  # 1, not argparse's 2: 2 means "changes" under --detailed-exitcode
    assert code == 1 and not out
    assert "invalid choice: 'plna'" in err and err.rstrip().endswith("did you mean 'plan'?")

    code, _, err = run(capsys, "plan", "--jobs-rot", "x")
    assert code == 1
    assert "nbjobs plan: error: unrecognized arguments: --jobs-rot; did you mean '--jobs-root'" in err

    code, _, err = run(capsys, "plan", "--format", "jsn")
    assert code == 1 and "invalid choice: 'jsn'" in err and "did you mean 'json'?" in err
    code, _, err = run(capsys, "db", "upgrad")
    assert code == 1 and "did you mean 'upgrade'?" in err
    code, _, err = run(capsys, "validate", "--strikt", "--jobs-rooot", str(JOBS))
    assert code == 1
    assert "--strikt: did you mean '--strict'?" in err and "--jobs-rooot: did you mean '--jobs-root'" in err


def test_the_plan_suggests_the_job_and_the_queue_a_typo_meant(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    database = sandbox(capsys)
    before = database.read_bytes()
    manifest = write(Path("manifests/jobs.yaml"), "jobs:\n  - match: audits.DeviceAudt\n    enabled: true\n")
    code, _, err = run(capsys, "plan", "--jobs-root", str(JOBS))
    assert code == 1
    assert (f"{manifest}:4:12: error: job 'audits.DeviceAudt' exists neither in the job code nor in the database; "
            "did you mean 'audits.DeviceAudit'?") in err  # fmt: skip

    write(manifest, "jobs:\n  - match: audits.DeviceAudit\n    queues: {default: hevy, eligible: [hevy]}\n")
    code, _, err = run(capsys, "apply", "--yes", "--jobs-root", str(JOBS))
    assert code == 1
    assert (f"{manifest}:5:23: error: queue 'hevy' exists nowhere: declare it under queues: or create it in "
            "Nautobot; did you mean 'heavy'?") in err  # fmt: skip
    assert database.read_bytes() == before

    code, _, err = run(capsys, "validate", "--jobs-root", str(JOBS))
    assert code == 0
    assert (f"{manifest}:5:23: warning: queue 'hevy' is declared neither under queues: nor by any job's task_queues "
            "(the database must have it, or the plan will refuse); did you mean 'heavy'?") in err  # fmt: skip


def test_a_name_far_from_every_known_one_gets_no_suggestion(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = write(Path("manifests/jobs.yaml"), "jobs:\n  - match: zzz.Qqq\n    enabled: true\n")
    code, _, err = run(capsys, "validate", "--jobs-root", str(JOBS))
    assert code == 0
    assert f"{manifest}:4:12: warning: 'zzz.Qqq' is not in the job code (the database may have it)\n" in err
    assert "did you mean" not in err


# -- 3. Guards sized for small fleets --------------------------------------------------------------------


def _fleet(capsys: pytest.CaptureFixture[str], tmp_path: Path, size: int) -> Path:
    root = jobs_module(tmp_path / "jobs", "few", [f"J{i}" for i in range(size)])
    sandbox(capsys, root)
    return root


def test_retiring_one_job_of_three_by_name_is_no_mass_delete(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _fleet(capsys, tmp_path, 3)
    shutil.rmtree("manifests")
    write(Path("manifests/jobs.yaml"), "jobs:\n  - match: few.J0\n    enabled: true\n  - match: few.J1\n"
          "    enabled: true\nretire:\n  - match: few.J2\n    force: true\n")  # fmt: skip
    code, out, err = run(capsys, "plan", "--jobs-root", str(root))
    assert code == 0, err
    assert "  - job few.J2" in out and "delete the record" in out
    code, out, err = run(capsys, "apply", "--yes", "--jobs-root", str(root))
    assert code == 0 and "Apply complete" in out, err


def test_the_share_rule_counts_from_mass_delete_min_managed_and_names_the_retire_entries(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _fleet(capsys, tmp_path, 3)
    shutil.rmtree("manifests")
    manifest = write(Path("manifests/jobs.yaml"), "jobs:\n  - match: few.J0\n    enabled: true\n  - match: few.J1\n"
                     "    enabled: true\nretire:\n  - match: few.J2\n    force: true\n")  # fmt: skip
    Path("nbjobs.toml").write_text("mass_delete_min_managed = 3\n")
    expected = (f"{manifest}:9:12: error: this plan would delete 1 of the 3 jobs the manifests manage (more than a "
                "quarter of them; the share rule applies from 3 managed jobs): pass --allow-mass-delete if that is "
                f"intended; the retire entries that delete: few.J2 ({manifest}:9:12)")  # fmt: skip
    for command in ("plan", "apply"):
        code, _, err = run(capsys, command, "--yes" if command == "apply" else "--detailed-exitcode",
                           "--jobs-root", str(root))  # fmt: skip
        assert code == 1 and expected in err, err
    code, _, err = run(capsys, "apply", "--yes", "--allow-mass-delete", "--jobs-root", str(root))
    assert code == 0, err


def test_more_than_ten_deletions_are_refused_whatever_the_fleet_size(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    root = _fleet(capsys, tmp_path, 60)
    shutil.rmtree("manifests")
    retire = "".join(f"  - match: few.J{i}\n    force: true\n" for i in range(11))
    manifest = write(Path("manifests/jobs.yaml"), f"jobs:\n  - match: few.*\n    enabled: true\nretire:\n{retire}")
    code, _, err = run(capsys, "plan", "--jobs-root", str(root))
    assert code == 1
    assert "this plan would delete 11 of the 60 jobs the manifests manage (more than 10)" in err
    assert f"few.J0 ({manifest}:7:12), few.J1 ({manifest}:9:12)" in err and err.count(" and 1 more") == 1


@pytest.mark.database
def test_the_loop_sizes_the_guard_with_the_same_setting(db_target: DatabaseTarget, tmp_path: Path) -> None:
    remote = Remote(tmp_path / "git")
    remote.push({"manifests/jobs.yaml": HEADER + "jobs:\n  - match: audits.DeviceAudit\n    enabled: true\n"
                 "retire:\n  - match: legacy.OldImport\n"})  # fmt: skip
    jobs_root = tmp_path / "jobs"
    shutil.copytree(JOBS, jobs_root)
    build(db_target, jobs_root)  # the sandbox, then legacy.py removed: the retirement may delete it
    try:
        settings = settings_for(db_target, remote, jobs_root, tmp_path / "cache", prune=True)
        outcome = run_tick(settings, settings.target())
        assert outcome.state == "drifted", outcome  # 1 deletion of 2 managed jobs: planned, not refused
        remote.push({"README.md": "# manifests\n"})  # a new revision, so that the next tick plans again
        strict = settings.model_copy(update={"mass_delete_min_managed": 2})
        outcome = run_tick(strict, strict.target())
        assert outcome.state == "error", outcome
        assert "would delete 1 of the 2 jobs the manifests manage (more than a quarter" in outcome.errors[0]["message"]
    finally:
        dispose_engines()
