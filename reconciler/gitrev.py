"""Git revisions: the revision the manifests were read at (for the change log and saved plans), and the
files of any revision, read from git's object store without touching the working tree.

`Repository.materialize()` writes the blobs of a revision's paths into a scratch directory, so that the
ordinary loaders can read them from disk; `Relocator` then maps every path under that directory back to
the file as it is in the repository, written `path@revision` (a location reads `path@rev:line:col`).

This module is a source, like the manifest and discovery layers: it imports none of them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any, TypeVar

from reconciler.diagnostics import NbjobsError

SHORT = 12  # characters of a commit id shown to people
_SYMLINK_MODE = 0o120000


class RevisionError(NbjobsError):
    """A repository or revision that cannot be read: not a repository, an unknown revision, a shallow clone."""


def manifest_revision(paths: Sequence[Path]) -> str | None:
    """Short commit of the repository holding the first manifest path; `+dirty` when manifests have
    uncommitted changes; None outside a repository (or where git itself is missing)."""
    if not paths:
        return None
    start = paths[0].resolve()
    if not any((folder / ".git").exists() for folder in (start, *start.parents)):
        return None  # not in a repository: no need to import GitPython (a third of a second)
    try:
        import git  # GitPython fails at import time when no git executable exists
    except ImportError:
        return None
    try:
        repo = git.Repo(start if start.is_dir() else start.parent, search_parent_directories=True)
        commit = repo.head.commit.hexsha[:SHORT]
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    try:
        root = Path(repo.working_tree_dir or ".")
        relative = [str(p.resolve().relative_to(root)) for p in paths if p.resolve().is_relative_to(root)]
        dirty = any(repo.is_dirty(untracked_files=True, path=path) for path in relative)
    finally:
        repo.close()
    return f"{commit}+dirty" if dirty else commit


@dataclass(frozen=True)
class Revision:
    """A commit, and the name the user gave it (`main`, `origin/main`, `HEAD~2`, a commit id)."""

    sha: str
    name: str

    @property
    def short(self) -> str:
        return self.sha[:SHORT]

    @property
    def label(self) -> str:
        return self.short if self.sha.startswith(self.name) else f"{self.name} ({self.short})"


@dataclass(frozen=True)
class Materialized:
    """What `materialize` wrote: files (repository-relative posix paths) and what it could not."""

    root: Path
    revision: Revision
    files: tuple[str, ...]
    missing: tuple[str, ...] = ()  # requested paths the revision does not have
    skipped: tuple[str, ...] = ()  # symbolic links and submodules, which have no content here

    def path(self, relative: str) -> Path:
        return self.root / relative if relative not in ("", ".") else self.root


class Repository:
    """A git repository, read through GitPython. Use as a context manager (it owns git subprocesses)."""

    def __init__(self, repo: Any) -> None:
        self._repo = repo

    @classmethod
    def find(cls, start: Path) -> Repository:
        try:
            import git
        except ImportError as exc:
            raise RevisionError(f"git is not available: {exc}") from None
        start = start.resolve()
        while not start.exists() and start != start.parent:
            start = start.parent  # a path that does not exist yet is still inside its repository
        try:
            repo = git.Repo(start if start.is_dir() else start.parent, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError):
            raise RevisionError(f"{start} is not inside a git repository") from None
        return cls(repo)

    def __enter__(self) -> Repository:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._repo.close()

    @property
    def root(self) -> Path:
        tree = self._repo.working_tree_dir
        if tree is None:
            raise RevisionError(f"{self._repo.git_dir} is a bare repository: it has no working tree")
        return Path(tree).resolve()

    @property
    def is_shallow(self) -> bool:
        return Path(self._repo.git_dir, "shallow").is_file()

    def relative(self, path: Path) -> str | None:
        """`path` as a repository-relative posix path ("" for the root), or None when it lies outside."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root):
            return None
        relative = resolved.relative_to(self.root).as_posix()
        return "" if relative == "." else relative

    def resolve(self, name: str) -> Revision:
        """The commit `name` names, or a RevisionError that says why not (and what to do)."""
        if not name or name.startswith("-"):
            raise RevisionError(f"{name!r} is not a revision")
        try:
            commit = self._repo.commit(name)
            commit.tree  # noqa: B018 - a commit whose objects a shallow clone lacks fails here
        except Exception as exc:  # GitPython's rev-parse raises BadName, ValueError, KeyError, IndexError...
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            if "not resolve" in detail or "Invalid revision" in detail:
                detail = "no such revision"
            hint = (
                "this clone is shallow and may not contain it: fetch the history "
                "(`git fetch --unshallow`, or `fetch-depth: 0` in actions/checkout, `GIT_DEPTH: 0` in GitLab CI)"
                if self.is_shallow
                else "check the name, or fetch it first (e.g. `git fetch origin main`)"
            )
            raise RevisionError(f"revision {name!r} cannot be read ({detail}); {hint}") from None
        return Revision(str(commit.hexsha), name)

    def head(self) -> Revision | None:
        """The commit HEAD points at; None in a repository without commits."""
        try:
            return Revision(str(self._repo.head.commit.hexsha), "HEAD")
        except ValueError:
            return None

    def merge_base(self, base: Revision, head: Revision) -> Revision:
        """The best common ancestor, as the pull request's own diff uses it."""
        import git

        try:
            found = self._repo.merge_base(base.sha, head.sha)
        except git.GitCommandError:
            found = []
        if not found:
            hint = "; this clone is shallow, fetch more history (`git fetch --unshallow`)" if self.is_shallow else ""
            raise RevisionError(f"{base.label} and {head.label} have no common ancestor here{hint}")
        return Revision(str(found[0].hexsha), f"merge-base({base.name}, {head.name})")

    def uncommitted(self, paths: Sequence[str]) -> tuple[str, ...]:
        """Repository-relative paths under `paths` with uncommitted changes: staged, unstaged or untracked."""
        if not paths:
            return ()
        specs = [p or "." for p in paths]
        output: str = self._repo.git.status("--porcelain", "-z", "--untracked-files=all", "--", *specs)
        changed: list[str] = []
        records = iter(output.split("\0"))
        for record in records:
            if len(record) < 4:
                continue
            changed.append(record[3:])
            if record[0] in "RC":  # a rename or copy is followed by its source path
                next(records, None)
        return tuple(sorted(set(changed)))

    def materialize(self, revision: Revision, paths: Sequence[str], dest: Path) -> Materialized:
        """Write the files under `paths` (repository-relative; "" is the whole tree) as they are at
        `revision` into `dest`, at the same relative paths. Never touches the working tree or index."""
        commit = self._repo.commit(revision.sha)
        files: list[str] = []
        missing: list[str] = []
        skipped: list[str] = []
        for wanted in dict.fromkeys(paths):
            try:
                top = commit.tree / wanted if wanted else commit.tree
            except KeyError:
                missing.append(wanted)
                continue
            objects = [top] if top.type != "tree" else [item for item in top.traverse() if item.type != "tree"]
            for item in objects:
                if item.type != "blob" or item.mode == _SYMLINK_MODE:
                    skipped.append(str(item.path))
                    continue
                target = _inside(dest, str(item.path))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(item.data_stream.read())
                files.append(str(item.path))
        return Materialized(dest, revision, tuple(dict.fromkeys(files)), tuple(missing), tuple(skipped))


def _inside(root: Path, relative: str) -> Path:
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("..", "") for part in parts) or PurePosixPath(relative).is_absolute():
        raise RevisionError(f"refusing to write {relative!r} outside the scratch directory")
    return root.joinpath(*parts)


@contextmanager
def open_repository(start: Path) -> Iterator[Repository]:
    repo = Repository.find(start)
    try:
        yield repo
    finally:
        repo.close()


class Relocator:
    """Maps paths under a materialized revision back to `path@revision` in every string it is given."""

    def __init__(self, materialized: Materialized) -> None:
        self._root = str(materialized.root)
        self._suffix = f"@{materialized.revision.short}"
        known = sorted(materialized.files, key=len, reverse=True)
        self._known = [(str(materialized.path(f)), f + self._suffix) for f in known]
        self._rest = re.compile(re.escape(self._root) + r"(?:/([^\s:'\"`,;()\[\]]*))?")

    def __call__(self, text: str) -> str:
        if self._root not in text:
            return text
        for absolute, relative in self._known:
            text = text.replace(absolute, relative)
        return self._rest.sub(lambda m: (m.group(1) or ".") + self._suffix, text)


_T = TypeVar("_T")


def relocate(value: _T, fix: Callable[[str], str]) -> _T:
    """A copy of `value` (frozen dataclasses, tuples, lists, mappings, sets) with `fix` applied to every
    string in it: the locations in a DesiredState, a Discovery or a list of Diagnostics, and the paths
    that messages quote."""
    result: _T = _relocate(value, fix)
    return result


def _relocate(value: Any, fix: Callable[[str], str]) -> Any:
    if isinstance(value, Enum) or value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return fix(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _relocate(getattr(value, f.name), fix) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    if isinstance(value, MappingProxyType):
        return MappingProxyType({_relocate(k, fix): _relocate(v, fix) for k, v in value.items()})
    if isinstance(value, Mapping):
        return {_relocate(k, fix): _relocate(v, fix) for k, v in value.items()}
    if isinstance(value, tuple | list | frozenset | set):
        return type(value)(_relocate(item, fix) for item in value)
    return value
