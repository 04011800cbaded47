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
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_importing_the_planner_loads_no_io_library() -> None:
    probe = (
        "import sys, reconciler.plan.planner;"
        "loaded = sorted(m for m in ('sqlalchemy', 'yaml', 'pydantic', 'git') if m in sys.modules);"
        "print(','.join(loaded))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ""
