"""The CI examples and the pre-commit hook: valid against the GitHub workflow and GitLab CI schemas that
check-jsonschema ships, safe to copy (zizmor finds nothing in the GitHub workflow; the credential that
writes reaches the apply job only), and doing what the README says (every nbjobs command in them parses)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from common import EXAMPLES, ROOT
from ruamel.yaml import YAML

from reconciler.cli import build_parser, main
from reconciler.review.render import DIFF_MARKER

GITHUB = EXAMPLES / "ci" / "github" / "workflows" / "nbjobs.yml"
GITLAB = EXAMPLES / "ci" / "gitlab" / ".gitlab-ci.yml"
ZIZMOR_POLICY = EXAMPLES / "ci" / "github" / "zizmor.yml"
ZIZMOR = Path(sys.executable).parent / "zizmor"
HOOKS = ROOT / ".pre-commit-hooks.yaml"


def _load(path: Path) -> Any:
    """YAML 1.2, as GitHub and GitLab read it (PyYAML would turn the `on:` key into True)."""
    return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, check=False)  # fmt: skip


@pytest.mark.parametrize(("schema", "path"), [("vendor.github-workflows", GITHUB), ("vendor.gitlab-ci", GITLAB)])
def test_the_pipelines_match_their_platform_schema(schema: str, path: Path, tmp_path: Path) -> None:
    result = _check_jsonschema(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The check has teeth: the same file with a misspelt key fails it.
    broken = tmp_path / path.name
    broken.write_text(path.read_text().replace("runs-on:", "run-on:").replace("  stage: plan", "  stag: plan"))
    assert _check_jsonschema(schema, broken).returncode != 0


def _zizmor(workflow: Path, *more: str) -> subprocess.CompletedProcess[str]:
    assert ZIZMOR.exists(), "zizmor is a dev dependency (pip install -e '.[dev]')"
    return subprocess.run([str(ZIZMOR), "--offline", "--no-progress", "--color", "never", *more, str(workflow)],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip


def test_the_github_workflow_is_safe_to_copy_as_zizmor_sees_it(tmp_path: Path) -> None:
    """No finding under the example's policy: every action pinned (GitHub's own by tag, as the policy
    allows; any other by commit hash), no checkout keeping credentials, no job with more permissions than
    it needs. Copied as the comments say (.github/zizmor.yml), zizmor finds the policy by itself."""
    done = _zizmor(GITHUB, "--config", str(ZIZMOR_POLICY))
    assert done.returncode == 0 and "No findings" in done.stdout + done.stderr, done.stdout + done.stderr
    repository = tmp_path / "repo"
    (repository / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(GITHUB, repository / ".github" / "workflows" / "nbjobs.yml")
    shutil.copy(ZIZMOR_POLICY, repository / ".github" / "zizmor.yml")
    done = subprocess.run([str(ZIZMOR), "--offline", "--no-progress", "--color", "never", "."], cwd=repository,
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # The check has teeth: a step that drifts from safe use fails it.
    original = GITHUB.read_text()
    drifts = {
        "a checkout keeping its credentials (the default)": "".join(
            line for line in original.splitlines(keepends=True) if "persist-credentials: false" not in line),
        "a third-party action on a branch": original.replace("uses: actions/upload-artifact@v4",
                                                             "uses: someone/upload-artifact@main"),
        "a job of write-all permissions": original.replace("permissions: {}  # none by default",
                                                           "permissions: write-all  # none by default").replace(
            "    permissions: {}  # no checkout: the saved plan comes from this run's artifact\n", ""),
        "a pull request title in a script": original.replace('run: nbjobs validate manifests',
                                                             'run: echo "${{ github.event.pull_request.title }}"', 1),
    }  # fmt: skip
    for what, text in drifts.items():
        assert text != original, what
        broken = tmp_path / "nbjobs.yml"
        broken.write_text(text)
        assert _zizmor(broken, "--config", str(ZIZMOR_POLICY)).returncode != 0, what


def test_the_credential_that_writes_reaches_the_apply_job_only() -> None:
    """Pull-request and merge-request jobs can read the secrets a branch's pipeline can: they plan with a
    read-only role; the role that writes is the `nautobot` environment's, for the apply alone."""
    workflow = _load(GITHUB)
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        url = job["env"]["NBJOBS_DATABASE_URL"]
        if name == "apply":
            assert url == "${{ secrets.NBJOBS_DATABASE_URL }}" and job["environment"] == "nautobot"
            assert job["permissions"] == {}
        else:
            assert url == "${{ secrets.NBJOBS_PLAN_DATABASE_URL }}" and "environment" not in job, name
            assert job["permissions"]["contents"] == "read", name
    assert "NBJOBS_DATABASE_URL }}" not in GITHUB.read_text().replace("secrets.NBJOBS_DATABASE_URL }}  # the", "")
    pipeline = _load(GITLAB)
    for name in ("validate", "review", "plan"):
        assert pipeline[name]["variables"]["NBJOBS_DATABASE_URL"] == "$NBJOBS_PLAN_DATABASE_URL", name
    assert "NBJOBS_DATABASE_URL" not in pipeline["apply"].get("variables", {})
    assert pipeline["apply"]["environment"]["name"] == "nautobot"


def _nbjobs_commands(script: str) -> list[list[str]]:
    """Each `nbjobs ...` invocation in a shell script, up to its redirection or pipe."""
    commands = []
    for line in script.splitlines():
        found = re.search(r"(?:^|[;&|(]\s*|\s)(nbjobs\s.*)", line.strip())
        if found and not line.strip().startswith("#"):
            command = re.split(r"\s(?:>>?|\|\|?|&&)\s", found.group(1))[0]
            commands.append(shlex.split(command)[1:])
    return commands


def _assert_commands_parse(commands: list[list[str]]) -> None:
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)  # exits (fails the test) on an unknown command or option
        assert hasattr(args, "handler"), argv


def test_github_workflow_reviews_pull_requests_and_applies_the_saved_plan_on_merge() -> None:
    workflow = _load(GITHUB)
    assert set(workflow["on"]) == {"pull_request", "push"} and workflow["on"]["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {}  # each job says what it needs (test_the_credential_that_writes_...)
    jobs = workflow["jobs"]
    review, plan, apply = jobs["review"], jobs["plan"], jobs["apply"]

    assert "pull_request" in review["if"] and review["permissions"]["pull-requests"] == "write"
    steps = review["steps"]
    checkout = next(s for s in steps if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    scripts = "\n".join(s.get("run", "") for s in steps)
    commands = _nbjobs_commands(scripts)
    assert ["validate", "manifests"] in commands
    diff = next(c for c in commands if c[0] == "diff")
    assert diff[diff.index("--format") + 1] == "markdown" and "--base" in diff
    comment = next(s for s in steps if s.get("uses", "").startswith("actions/github-script@"))
    assert DIFF_MARKER in comment["with"]["script"] and "updateComment" in comment["with"]["script"]

    assert "push" in plan["if"]
    plan_commands = _nbjobs_commands("\n".join(s.get("run", "") for s in plan["steps"]))
    saved = next(c for c in plan_commands if c[0] == "plan")
    assert saved[saved.index("--out") + 1] == "plan.json"
    upload = next(s for s in plan["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["path"] == "plan.json"

    assert apply["needs"] == "plan" and apply["environment"] == "nautobot"
    apply_commands = _nbjobs_commands("\n".join(s.get("run", "") for s in apply["steps"]))
    assert apply_commands == [["apply", "--yes", "plan.json"]]
    assert plan["concurrency"]["group"] == apply["concurrency"]["group"]  # one apply at a time
    _assert_commands_parse(commands + plan_commands + apply_commands)


def test_gitlab_pipeline_reviews_merge_requests_and_applies_the_saved_plan_on_merge() -> None:
    pipeline = _load(GITLAB)
    assert pipeline["stages"] == ["validate", "plan", "apply"]
    assert pipeline["variables"]["GIT_DEPTH"] == "0"
    review, plan, apply = pipeline["review"], pipeline["plan"], pipeline["apply"]
    assert review["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    script = "\n".join(review["script"])
    commands = _nbjobs_commands(script)
    diff = next(c for c in commands if c[0] == "diff")
    assert diff[diff.index("--base") + 1] == "$CI_MERGE_REQUEST_DIFF_BASE_SHA"
    assert diff[diff.index("--format") + 1] == "markdown"
    assert DIFF_MARKER in script and "merge_requests" in script
    compile(script[script.index("<<'PY'\n") + 7 : script.index("\nPY")], "note.py", "exec")  # the note poster

    for job in (plan, apply):
        assert job["rules"] == [{"if": "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"}]
        assert job["resource_group"] == "nautobot"
    assert "plan.json" in plan["artifacts"]["paths"] and apply["needs"] == ["plan"]
    plan_commands = _nbjobs_commands("\n".join(plan["script"]))
    apply_commands = _nbjobs_commands("\n".join(apply["script"]))
    assert apply_commands == [["apply", "--yes", "plan.json"]]
    _assert_commands_parse(commands + _nbjobs_commands("\n".join(pipeline["validate"]["script"])) + plan_commands
                           + apply_commands)  # fmt: skip


def test_pre_commit_hook_runs_nbjobs_validate(capsys: pytest.CaptureFixture[str]) -> None:
    hooks = _load(HOOKS)
    assert isinstance(hooks, list) and len(hooks) == 1
    hook = hooks[0]
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["id"] == "nbjobs-validate" and hook["language"] == "python" and hook["pass_filenames"] is False
    executable, *command = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert executable in scripts and command == ["validate"]
    files = re.compile(hook["files"])
    assert files.search("manifests/jobs.yaml") and files.search("jobs/audits.py") and not files.search("README.md")
    # What pre-commit runs, with the arguments the README suggests.
    assert main([*command, str(EXAMPLES / "manifests"), "--jobs-root", str(EXAMPLES / "jobs")]) == 0
    assert "0 errors" in capsys.readouterr().out
