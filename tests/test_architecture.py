"""Layers import one way and the planner stays pure: enforced by import-linter (.importlinter)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from common import ROOT


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = (ROOT / ".importlinter").read_text().count("[importlinter:contract:")
    assert contracts >= 3  # layers, the pure planner, the App kept apart
    assert f"Contracts: {contracts} kept, 0 broken." in result.stdout


def test_importing_the_planner_loads_no_io_library() -> None:
    probe = (
        "import sys, reconciler.plan.planner;"
        "loaded = sorted(m for m in ('sqlalchemy', 'yaml', 'pydantic', 'git') if m in sys.modules);"
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""


def test_help_and_a_plan_load_only_what_they_need(tmp_path: Path) -> None:
    """`nbjobs --help` loads no third-party library at all (it starts as fast as Python does); a plan loads
    the database layer, pydantic and YAML, but not the loop's Celery, Alembic, Kubernetes, DeepDiff, GitPython
    (outside a repository), rich or shtab."""
    probe = (
        "import sys, contextlib, io\n"
        "from reconciler.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(sys.argv[1:])\n"
        "heavy = ('sqlalchemy', 'pydantic', 'yaml', 'celery', 'alembic', 'kubernetes', 'deepdiff', 'git', 'rich',"
        " 'shtab', 'kombu', 'prometheus_client', 'pydantic_settings')\n"
        "print(','.join(sorted(m for m in heavy if m in sys.modules)))"
    )

    def loaded(*argv: str) -> set[str]:
        done = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True,
                              cwd=tmp_path)  # fmt: skip
        return set(filter(None, done.stdout.strip().split(",")))

    assert loaded("--help") == set()
    assert loaded("--version") == set()
    jobs, manifests = str(ROOT / "examples" / "jobs"), str(ROOT / "examples" / "manifests")
    database = f"sqlite:///{tmp_path / 'nbjobs.db'}"
    assert loaded("sandbox", "--jobs-root", jobs, "--database-url", database) >= {"sqlalchemy"}
    plan = loaded("plan", "--jobs-root", jobs, "--database-url", database, manifests)
    assert {"sqlalchemy", "pydantic", "yaml"} <= plan
    assert plan.isdisjoint({"celery", "alembic", "kubernetes", "deepdiff", "rich", "shtab", "kombu"}), plan
