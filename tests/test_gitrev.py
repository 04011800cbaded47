"""Reading a git revision without checking it out: resolution, shallow clones, materialized files, and
locations mapped back to `path@revision`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import git
import pytest

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues
from reconciler.gitrev import Relocator, Repository, RevisionError, manifest_revision, open_repository, relocate
from reconciler.manifest.types import QueueType


class GitRepo:
    """A real repository in a temporary directory, committed to with GitPython."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = root
        self.repo = git.Repo.init(root, initial_branch=branch)
        with self.repo.config_writer() as config:
            config.set_value("user", "name", "Test")
            config.set_value("user", "email", "test@example.com")
            config.set_value("commit", "gpgsign", "false")

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def remove(self, relative: str) -> None:
        self.repo.index.remove([relative], working_tree=True, r=True)

    def commit(self, message: str, files: dict[str, str] | None = None, removed: tuple[str, ...] = ()) -> str:
        for relative, text in (files or {}).items():
            self.write(relative, text)
        for relative in removed:
            self.remove(relative)
        self.repo.git.add("-A")
        self.repo.index.commit(message)
        return str(self.repo.head.commit.hexsha)

    def close(self) -> None:
        self.repo.close()

    @staticmethod
    def clone_shallow(source: Path, dest: Path) -> None:
        """A clone with only the tip commit, as CI checkouts are by default."""
        subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{source}", str(dest)], check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[GitRepo]:
    made = GitRepo(tmp_path / "repo")
    yield made
    made.close()


def test_materialize_writes_a_revision_without_touching_the_working_tree(repo: GitRepo, tmp_path: Path) -> None:
    first = repo.commit("one", {"manifests/a.yaml": "v1\n", "manifests/sub/b.yml": "b1\n", "jobs/x.py": "x = 1\n"})
    repo.commit("two", {"manifests/a.yaml": "v2\n"}, removed=("manifests/sub/b.yml",))
    repo.write("manifests/a.yaml", "edited, uncommitted\n")
    index_before = repo.repo.git.diff("--cached")
    out = tmp_path / "out"
    with open_repository(repo.root) as opened:
        revision = opened.resolve(first[:8])
        tree = opened.materialize(revision, ["manifests", "jobs/x.py", "nope"], out)
    assert revision.sha == first and revision.short == first[:12]
    assert (out / "manifests" / "a.yaml").read_text() == "v1\n"
    assert (out / "manifests" / "sub" / "b.yml").read_text() == "b1\n"
    assert (out / "jobs" / "x.py").read_text() == "x = 1\n"
    assert tree.files == ("manifests/a.yaml", "manifests/sub/b.yml", "jobs/x.py")
    assert tree.missing == ("nope",)
    # The working tree and the index are as they were.
    assert (repo.root / "manifests" / "a.yaml").read_text() == "edited, uncommitted\n"
    assert not (repo.root / "manifests" / "sub" / "b.yml").exists()
    assert repo.repo.git.diff("--cached") == index_before


def test_symbolic_links_are_skipped_not_followed(repo: GitRepo, tmp_path: Path) -> None:
    repo.write("manifests/a.yaml", "a\n")
    os.symlink("/etc/passwd", repo.root / "manifests" / "link.yaml")
    sha = repo.commit("with a link")
    with open_repository(repo.root) as opened:
        tree = opened.materialize(opened.resolve(sha), ["manifests"], tmp_path / "out")
    assert tree.files == ("manifests/a.yaml",) and tree.skipped == ("manifests/link.yaml",)
    assert not (tmp_path / "out" / "manifests" / "link.yaml").exists()


@pytest.mark.parametrize("name", ["no-such-branch", "HEAD~5", "--output=/tmp/x", "", "HEAD:manifests"])
def test_a_revision_that_does_not_exist_is_a_clear_error(repo: GitRepo, name: str) -> None:
    repo.commit("one", {"a.txt": "a\n"})
    with open_repository(repo.root) as opened, pytest.raises(RevisionError) as raised:
        opened.resolve(name)
    message = str(raised.value)
    assert "cannot be read" in message or "is not a revision" in message
    assert "Traceback" not in message


def test_a_shallow_clone_missing_the_base_says_to_fetch_the_history(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("one", {"a.txt": "1\n"})
    repo.commit("two", {"a.txt": "2\n"})
    repo.commit("three", {"a.txt": "3\n"})
    clone = tmp_path / "clone"
    GitRepo.clone_shallow(repo.root, clone)
    with open_repository(clone) as opened:
        assert opened.is_shallow
        with pytest.raises(RevisionError, match=r"shallow .*git fetch --unshallow.*fetch-depth: 0"):
            opened.resolve("HEAD~1")


def test_merge_base_and_unrelated_histories(repo: GitRepo) -> None:
    base = repo.commit("one", {"a.txt": "1\n"})
    repo.repo.git.checkout("-b", "feature")
    feature = repo.commit("feature", {"b.txt": "b\n"})
    repo.repo.git.checkout("main")
    main = repo.commit("main moves on", {"a.txt": "2\n"})
    repo.repo.git.checkout("--orphan", "lonely")
    lonely = repo.commit("unrelated", {"c.txt": "c\n"})
    with open_repository(repo.root) as opened:
        found = opened.merge_base(opened.resolve("main"), opened.resolve("feature"))
        assert found.sha == base and main != base and feature != base
        with pytest.raises(RevisionError, match="no common ancestor"):
            opened.merge_base(opened.resolve("main"), opened.resolve(lonely))


def test_uncommitted_lists_modified_staged_and_untracked_files(repo: GitRepo) -> None:
    repo.commit("one", {"manifests/a.yaml": "a\n", "manifests/b.yaml": "b\n", "other.txt": "o\n"})
    repo.write("manifests/a.yaml", "changed\n")
    repo.write("manifests/new.yaml", "new\n")
    repo.write("manifests/b.yaml", "staged\n")
    repo.repo.git.add("manifests/b.yaml")
    repo.write("other.txt", "elsewhere\n")
    with open_repository(repo.root) as opened:
        assert opened.uncommitted(["manifests"]) == ("manifests/a.yaml", "manifests/b.yaml", "manifests/new.yaml")
        assert opened.relative(repo.root / "manifests") == "manifests"
        assert opened.relative(repo.root) == ""
        assert opened.relative(repo.root.parent) is None


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RevisionError, match="not inside a git repository"):
        Repository.find(tmp_path)


def test_manifest_revision_still_marks_dirty_manifests(repo: GitRepo) -> None:
    sha = repo.commit("one", {"manifests/a.yaml": "a\n"})
    assert manifest_revision([repo.root / "manifests"]) == sha[:12]
    repo.write("manifests/a.yaml", "b\n")
    assert manifest_revision([repo.root / "manifests"]) == f"{sha[:12]}+dirty"


def test_locations_and_quoted_paths_map_back_to_the_repository(repo: GitRepo, tmp_path: Path) -> None:
    sha = repo.commit("one", {"manifests/jobs.yaml": "x\n", "jobs/a.py": "a\n"})
    out = tmp_path / "scratch"
    with open_repository(repo.root) as opened:
        tree = opened.materialize(opened.resolve("main"), ["manifests", "jobs"], out)
    fix = Relocator(tree)
    short = sha[:12]
    job = DiscoveredJob("a", "A", SourceKind.JOBS_ROOT, Location(str(out / "jobs" / "a.py"), 3, 1),
                        FieldValues(grouping="a", name="A"))  # fmt: skip
    problem = Diagnostic(Location(str(out / "jobs")), f"first at {out / 'manifests' / 'jobs.yaml'}:4:5",
                         Severity.WARNING)  # fmt: skip
    moved = relocate(Discovery((job,), (problem,)), fix)
    assert str(moved.jobs[0].location) == f"jobs/a.py@{short}:3:1"
    assert moved.jobs[0].source is SourceKind.JOBS_ROOT  # enums stay enums
    assert str(moved.problems[0]) == f"jobs@{short}: warning: first at manifests/jobs.yaml@{short}:4:5"
    assert moved.problems[0].severity is Severity.WARNING
    assert relocate(QueueType.CELERY, fix) is QueueType.CELERY
    assert fix("nothing to see") == "nothing to see"
