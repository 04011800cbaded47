"""The git revision the manifests were read at, for the change log and saved plans."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def manifest_revision(paths: Sequence[Path]) -> str | None:
    """Short commit of the repository holding the first manifest path; `+dirty` when manifests have
    uncommitted changes; None outside a repository (or where git itself is missing)."""
    if not paths:
        return None
    try:
        import git  # GitPython fails at import time when no git executable exists
    except ImportError:
        return None
    start = paths[0].resolve()
    try:
        repo = git.Repo(start if start.is_dir() else start.parent, search_parent_directories=True)
        commit = repo.head.commit.hexsha[:12]
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    root = Path(repo.working_tree_dir or ".")
    relative = [str(p.resolve().relative_to(root)) for p in paths if p.resolve().is_relative_to(root)]
    dirty = any(repo.is_dirty(untracked_files=True, path=path) for path in relative)
    return f"{commit}+dirty" if dirty else commit
