"""Manifests and job code as they are at a revision, or in the working tree.

A revision is never checked out: the blobs of its manifest and code paths are written into a scratch
directory, the ordinary loaders read them there, and every location is mapped back to the file as it is
in the repository (`manifests/jobs.yaml@1a2b3c4d5e6f:12:5`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.diagnostics import InputError, plural
from reconciler.discovery.sources import discover
from reconciler.discovery.types import Discovery
from reconciler.fields import DEFAULT_QUEUE_NAME
from reconciler.gitrev import Materialized, Relocator, Repository, Revision, RevisionError, relocate
from reconciler.manifest.limits import ManifestLimits
from reconciler.manifest.load import MANIFEST_SUFFIXES, load_manifests
from reconciler.manifest.types import DesiredState
from reconciler.review.types import Side

_LISTED = 10  # uncommitted files named in a note before "and N more"


@dataclass(frozen=True)
class Sources:
    """Where the manifests and the job code are, as paths on disk (inside the repository or not)."""

    manifests: tuple[Path, ...]
    jobs_root: Path | None = None
    git_root: Path | None = None
    apps: tuple[str, ...] = ()
    default_queue: str = DEFAULT_QUEUE_NAME
    limits: ManifestLimits = field(default_factory=ManifestLimits)  # what the manifests may hold


@dataclass(frozen=True)
class Loaded:
    """The desired state and the code at one end of a comparison."""

    side: Side
    desired: DesiredState
    discovery: Discovery
    notes: tuple[str, ...] = field(default=())


def load_worktree(repo: Repository, sources: Sources) -> Loaded:
    """The files on disk, as `nbjobs plan` reads them; notes the uncommitted ones among the sources."""
    desired = load_manifests(list(sources.manifests), sources.limits)
    discovery = discover(jobs_root=sources.jobs_root, git_root=sources.git_root, apps=list(sources.apps),
                         default_queue=sources.default_queue)  # fmt: skip
    inside = [rel for path in _source_paths(sources) if (rel := repo.relative(path)) is not None]
    dirty = repo.uncommitted(inside)
    head = repo.head()
    notes = []
    if dirty:
        listed = ", ".join(dirty[:_LISTED]) + (f" and {len(dirty) - _LISTED} more" if len(dirty) > _LISTED else "")
        notes.append(f"the head is the working tree, which has uncommitted changes: {listed}")
    label = "working tree" + (f" (HEAD {head.short}{', with uncommitted changes' if dirty else ''})" if head else "")
    side = Side(label, head.sha if head else None, worktree=True, dirty=dirty)
    return Loaded(side, desired, discovery, tuple(notes))


def load_revision(repo: Repository, revision: Revision, sources: Sources, role: str) -> Loaded:
    """The manifests and job code of `revision`, read from git's objects. Code sources outside the
    repository are read from disk (the same for both ends); sources the revision lacks are empty."""
    manifest_paths = []
    for path in sources.manifests:
        relative = repo.relative(path)
        if relative is None:
            raise RevisionError(f"{path} is outside the repository {repo.root}: diff reads manifests from git")
        manifest_paths.append(relative)
    code = {name: path for name, path in _code_paths(sources).items() if path is not None}
    code_relative = {name: repo.relative(path) for name, path in code.items()}
    notes: list[str] = []
    label = f"{role} {revision.label}"
    with tempfile.TemporaryDirectory(prefix="nbjobs-rev-") as scratch:
        wanted = manifest_paths + [rel for rel in code_relative.values() if rel is not None]
        tree = repo.materialize(revision, wanted, Path(scratch))
        fix = Relocator(tree)
        present = []
        for relative in manifest_paths:
            if has_manifests(tree, relative):
                present.append(tree.path(relative))
            else:
                notes.append(f"{relative or '.'} has no manifests at {label}: its desired state there is empty")
        desired = DesiredState()
        if present:
            try:
                desired = relocate(load_manifests(present, sources.limits), fix)
            except InputError as exc:
                raise InputError(relocate(exc.diagnostics, fix)) from None
        where: dict[str, Path | None] = {}
        for name, path in code.items():
            relative = code_relative[name]
            if relative is None:
                notes.append(f"{name} {path} is outside the repository: read from disk for both ends")
                where[name] = path
            elif tree.path(relative).exists():
                where[name] = tree.path(relative)
            else:
                notes.append(f"{name} {relative or '.'} does not exist at {label}: no job code from it there")
        apps = []
        for app in sources.apps:
            key = f"--app {app}"
            if key not in code:
                apps.append(app)  # a package name, located on sys.path
            elif where.get(key) is not None:
                apps.append(str(where[key]))
        found = discover(jobs_root=where.get("--jobs-root"), git_root=where.get("--git-root"), apps=apps,
                         default_queue=sources.default_queue)  # fmt: skip
        discovery = relocate(found, fix)
    if tree.skipped:
        notes.append(f"{plural(len(tree.skipped), 'symbolic link or submodule', 'symbolic links or submodules')} "
                     f"at {label} cannot be read: "
                     + ", ".join(tree.skipped[:_LISTED]))  # fmt: skip
    return Loaded(Side(revision.label, revision.sha), desired, discovery, tuple(notes))


def has_manifests(tree: Materialized, relative: str) -> bool:
    prefix = f"{relative}/" if relative else ""
    return any(
        (name == relative or name.startswith(prefix)) and Path(name).suffix in MANIFEST_SUFFIXES
        and not any(part.startswith(".") for part in Path(name[len(prefix):]).parts)
        for name in tree.files
    )  # fmt: skip


def _code_paths(sources: Sources) -> dict[str, Path | None]:
    paths: dict[str, Path | None] = {"--jobs-root": sources.jobs_root, "--git-root": sources.git_root}
    for app in sources.apps:
        candidate = Path(app)
        if "/" in app or candidate.is_dir():  # a path; a bare name is a package located on sys.path
            paths[f"--app {app}"] = candidate
    return paths


def _source_paths(sources: Sources) -> list[Path]:
    return [*sources.manifests, *(p for p in _code_paths(sources).values() if p is not None)]
