"""The reconcile loop's git side against real remotes: a bare repository pushed to from a work clone, a
smart-HTTP server that wants a password, a port that refuses, a server that never answers. Heads,
fetches only when needed, manifests read at a revision, secrets that never leak, and no process, file
descriptor or memory left behind."""

from __future__ import annotations

import base64
import gc
import gzip
import os
import re
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from reconciler.diagnostics import InputError, Location
from reconciler.loop.remote import (
    ASKPASS_NAME,
    RemoteError,
    RemoteSpec,
    ensure_fetched,
    head_revision,
    read_manifests,
    redact,
)
from reconciler.manifest.types import DesiredState

_GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]

JOBS_V1 = """\
apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: true
    time_limit: 3600
"""
JOBS_V2 = """\
apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: false
    why: broken on 4.x
  - match: vendor_x.*
    enabled: false
"""
QUEUES = """\
apiVersion: nbjobs/v1
kind: Jobs
queues:
  - name: heavy
    type: kubernetes
    description: long audits
"""
BROKEN = """\
apiVersion: nbjobs/v1
kind: Jobs
jobs:
  - match: audits.DeviceAudit
    enabled: true
    time_limit: 1:30
"""


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run([*_GIT, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return result.stdout.strip()


class Remote:
    """A bare repository, and a work clone that commits to it and pushes."""

    def __init__(self, root: Path) -> None:
        self.bare = root / "remote.git"
        self.work = root / "work"
        _git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare))
        _git("clone", "--quiet", str(self.bare), str(self.work))
        _git("checkout", "--quiet", "-b", "main", cwd=self.work)

    def push(self, files: dict[str, str | None], branch: str = "main", force: bool = False) -> str:
        """Commit `files` (None removes one) on top of the work clone's HEAD and push it to `branch`."""
        for relative, text in files.items():
            path = self.work / relative
            if text is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
        _git("add", "-A", cwd=self.work)
        _git("commit", "--quiet", "--allow-empty", "-m", f"change {sorted(files)}", cwd=self.work)
        _git("push", "--quiet", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{branch}", cwd=self.work)
        return _git("rev-parse", "HEAD", cwd=self.work)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return Remote(tmp_path)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def spec(remote: Remote) -> RemoteSpec:
    return RemoteSpec(str(remote.bare), timeout=10)


def _children() -> list[str]:
    """Child processes this module could have left behind: git's (and ssh's, curl's under it). Servers
    that other fixtures of the session own (the test API server's etcd) are theirs to stop."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            command = child.cmdline()
        except psutil.Error:  # gone between the listing and the question
            continue
        if command and Path(command[0]).name.startswith(("git", "ssh", "curl")):
            found.append(" ".join(command))
    return found


def _has_commit(repository: Path, sha: str) -> bool:
    result = subprocess.run(["git", f"--git-dir={repository}", "cat-file", "-e", f"{sha}^{{commit}}"], check=False)
    return result.returncode == 0


# --- heads ------------------------------------------------------------------------------------------


def test_head_revision_returns_the_pushed_sha_and_follows_a_new_push(
    remote: Remote, spec: RemoteSpec, cache: Path
) -> None:
    first = remote.push({"manifests/jobs.yaml": JOBS_V1})
    assert head_revision(spec, cache) == first
    second = remote.push({"manifests/jobs.yaml": JOBS_V2})
    assert second != first
    assert head_revision(spec, cache) == second
    assert re.fullmatch(r"[0-9a-f]{40}", second)


def test_head_revision_reads_only_the_branch_asked_for(remote: Remote, cache: Path) -> None:
    on_main = remote.push({"manifests/jobs.yaml": JOBS_V1})
    # ls-remote matches ref names by their tail: this branch matches `refs/heads/main` too.
    decoy = remote.push({"manifests/jobs.yaml": JOBS_V2}, branch="team/refs/heads/main")
    assert decoy != on_main
    assert head_revision(RemoteSpec(str(remote.bare)), cache) == on_main
    assert head_revision(RemoteSpec(str(remote.bare), branch="team/refs/heads/main"), cache) == decoy


def test_an_unknown_branch_is_a_permanent_error(remote: Remote, cache: Path) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    with pytest.raises(RemoteError) as caught:
        head_revision(RemoteSpec(str(remote.bare), branch="release"), cache)
    assert not caught.value.transient
    assert str(caught.value) == f"branch 'release' does not exist on {remote.bare}"


@pytest.mark.parametrize("url", ["{tmp}/no/such/remote.git", "http://127.0.0.1:9/x.git"], ids=["path", "refused"])
def test_an_unreachable_remote_is_a_transient_error_within_the_timeout(url: str, tmp_path: Path, cache: Path) -> None:
    spec = RemoteSpec(url.format(tmp=tmp_path), timeout=10)
    attempts: dict[str, Callable[[], object]] = {
        "list the branches of": lambda: head_revision(spec, cache),
        "fetch from": lambda: ensure_fetched(spec, cache, "a" * 40),
    }
    for action, attempt in attempts.items():
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            attempt()
        assert time.monotonic() - started < spec.timeout
        assert caught.value.transient
        message = str(caught.value)
        assert message.startswith(f"cannot {action} {spec.url}: ")
        assert "\n" not in message and "Traceback" not in message and "stderr:" not in message
        assert "does not appear to be a git repository" in message or "Failed to connect" in message
    assert _children() == []


def test_a_remote_that_never_answers_is_killed_after_the_timeout(cache: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)  # the kernel completes the handshake; nobody ever reads the request
        spec = RemoteSpec(f"http://127.0.0.1:{server.getsockname()[1]}/x.git", timeout=1)
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            head_revision(spec, cache)
        elapsed = time.monotonic() - started
    assert caught.value.transient
    assert str(caught.value) == f"cannot list the branches of {spec.url}: git did not answer within 1 s"
    assert 1 <= elapsed < 5
    assert _children() == []  # git and its git-remote-http helper were both killed


# --- the cache ----------------------------------------------------------------------------------------


def test_ensure_fetched_makes_the_sha_readable_and_fetches_only_when_needed(
    remote: Remote, spec: RemoteSpec, cache: Path, tmp_path: Path
) -> None:
    sha = remote.push({"manifests/jobs.yaml": JOBS_V1})
    repository = ensure_fetched(spec, cache, sha)
    assert repository.parent == cache and repository.name.endswith(".git")
    assert _git("rev-parse", "--is-bare-repository", cwd=repository) == "true"
    assert _has_commit(repository, sha)
    assert _git("--git-dir", str(repository), "rev-parse", "refs/heads/main") == sha
    newer = remote.push({"manifests/jobs.yaml": JOBS_V2})

    remote.bare.rename(tmp_path / "gone.git")  # from here on, any fetch would fail
    assert ensure_fetched(spec, cache, sha) == repository  # so this one did not fetch
    with pytest.raises(RemoteError) as caught:
        ensure_fetched(spec, cache, newer)  # while this one must, and cannot
    assert caught.value.transient

    (tmp_path / "gone.git").rename(remote.bare)
    assert ensure_fetched(spec, cache, newer) == repository
    assert _has_commit(repository, newer)


def test_one_cache_repository_per_url_and_branch(remote: Remote, spec: RemoteSpec, cache: Path) -> None:
    sha = remote.push({"manifests/jobs.yaml": JOBS_V1})
    other = remote.push({"manifests/jobs.yaml": JOBS_V2}, branch="staging")
    main = ensure_fetched(spec, cache, sha)
    staging = ensure_fetched(RemoteSpec(str(remote.bare), branch="staging"), cache, other)
    assert main != staging
    assert ensure_fetched(RemoteSpec(str(remote.bare), path="elsewhere", timeout=3), cache, sha) == main
    repositories = sorted(p.name for p in cache.iterdir() if p.suffix != ".lock")  # each cache has its lock file
    assert repositories == sorted([ASKPASS_NAME, main.name, staging.name])


def test_a_commit_missing_after_the_fetch_is_a_permanent_error(remote: Remote, spec: RemoteSpec, cache: Path) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    with pytest.raises(RemoteError) as caught:
        ensure_fetched(spec, cache, "0123456789" * 4)
    assert not caught.value.transient
    assert "commit 012345678901 is not on branch 'main'" in str(caught.value)


def test_a_force_pushed_branch_is_followed(remote: Remote, spec: RemoteSpec, cache: Path) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    dropped = remote.push({"manifests/jobs.yaml": JOBS_V2})
    ensure_fetched(spec, cache, dropped)
    _git("reset", "--quiet", "--hard", "HEAD~1", cwd=remote.work)
    rewritten = remote.push({"manifests/queues.yaml": QUEUES}, force=True)
    repository = ensure_fetched(spec, cache, head_revision(spec, cache))
    assert _git("--git-dir", str(repository), "rev-parse", "refs/heads/main") == rewritten


def test_relative_cache_and_remote_paths_are_read_from_the_working_directory(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = remote.push({"manifests/jobs.yaml": JOBS_V1})
    monkeypatch.chdir(tmp_path)
    spec = RemoteSpec("remote.git")
    assert head_revision(spec, Path("cache")) == sha
    repository = ensure_fetched(spec, Path("cache"), sha)
    assert repository.is_absolute() and repository.parent == tmp_path / "cache"
    assert read_manifests(spec, repository, sha)[0].jobs[0].match == "audits.DeviceAudit"


# --- manifests at a revision ------------------------------------------------------------------------


def test_read_manifests_reads_each_revision_without_a_checkout(remote: Remote, spec: RemoteSpec, cache: Path) -> None:
    old = remote.push({"manifests/jobs.yaml": JOBS_V1, "README.md": "# manifests\n"})
    new = remote.push({"manifests/jobs.yaml": JOBS_V2, "manifests/queues.yaml": QUEUES})
    repository = ensure_fetched(spec, cache, new)

    before, notes = read_manifests(spec, repository, old)
    assert notes == ()
    at = f"manifests/jobs.yaml@{old[:12]}"
    assert before.files == (at,)
    (entry,) = before.jobs
    assert (entry.match, entry.location) == ("audits.DeviceAudit", Location(at, 4, 12))
    assert {name: (pin.value, str(pin.location)) for name, pin in entry.pins.items()} == {
        "enabled": (True, f"{at}:5:14"),
        "time_limit": (3600, f"{at}:6:17"),
    }
    assert before.queues == ()

    after, notes = read_manifests(spec, repository, new)
    assert notes == ()
    at = f"manifests/jobs.yaml@{new[:12]}"
    assert after.files == (at, f"manifests/queues.yaml@{new[:12]}")
    assert [(e.match, e.pins["enabled"].value, str(e.location)) for e in after.jobs] == [
        ("audits.DeviceAudit", False, f"{at}:4:12"),
        ("vendor_x.*", False, f"{at}:7:12"),
    ]
    assert after.jobs[0].why == "broken on 4.x"
    assert [(q.name, str(q.location)) for q in after.queues] == [("heavy", f"manifests/queues.yaml@{new[:12]}:4:11")]
    assert _git("rev-parse", "--is-bare-repository", cwd=repository) == "true"
    assert not (repository / "manifests").exists() and not (repository / "README.md").exists()


def test_a_broken_manifest_raises_input_error_located_at_the_revision(
    remote: Remote, spec: RemoteSpec, cache: Path
) -> None:
    sha = remote.push({"manifests/jobs.yaml": BROKEN})
    repository = ensure_fetched(spec, cache, sha)
    with pytest.raises(InputError) as caught:
        read_manifests(spec, repository, sha)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.location == Location(f"manifests/jobs.yaml@{sha[:12]}", 6, 17)
    assert "`1:30` is a YAML 1.1 base-60 number" in diagnostic.message
    assert str(caught.value).startswith(f"manifests/jobs.yaml@{sha[:12]}:6:17: error: ")
    assert "nbjobs-remote-" not in str(caught.value)  # no scratch directory shows through


def test_a_path_without_manifests_is_an_empty_desired_state_with_a_note(
    remote: Remote, spec: RemoteSpec, cache: Path
) -> None:
    without = remote.push({"README.md": "# nothing yet\n", "manifests/notes.txt": "soon\n"})
    with_them = remote.push({"manifests/jobs.yaml": JOBS_V1})
    repository = ensure_fetched(spec, cache, with_them)

    desired, notes = read_manifests(spec, repository, without)
    assert desired == DesiredState()
    assert notes == (f"manifests has no manifests at {without[:12]} (main of {remote.bare}): "
                     "its desired state there is empty",)  # fmt: skip

    desired, notes = read_manifests(RemoteSpec(str(remote.bare), path="deploy/"), repository, with_them)
    assert desired == DesiredState()
    assert notes[0].startswith(f"deploy has no manifests at {with_them[:12]}")

    whole, notes = read_manifests(RemoteSpec(str(remote.bare), path=""), repository, with_them)
    assert notes == () and whole.files == (f"manifests/jobs.yaml@{with_them[:12]}",)


def test_a_commit_missing_from_the_cache_is_a_permanent_error(remote: Remote, spec: RemoteSpec, cache: Path) -> None:
    sha = remote.push({"manifests/jobs.yaml": JOBS_V1})
    repository = ensure_fetched(spec, cache, sha)
    with pytest.raises(RemoteError) as caught:
        read_manifests(spec, repository, "f" * 40)
    assert not caught.value.transient
    assert "commit ffffffffffff is not in the cache" in str(caught.value)


# --- secrets ----------------------------------------------------------------------------------------


def test_a_password_in_the_url_never_leaks(cache: Path) -> None:
    spec = RemoteSpec("http://user:s3cret@127.0.0.1:9/x.git", timeout=10)
    assert spec.display_url == "http://user:***@127.0.0.1:9/x.git"
    assert "s3cret" not in repr(spec) and "s3cret" not in str(spec)
    for attempt in (lambda: head_revision(spec, cache), lambda: ensure_fetched(spec, cache, "a" * 40)):
        with pytest.raises(RemoteError) as caught:
            attempt()
        assert caught.value.transient
        assert "s3cret" not in str(caught.value) and "s3cret" not in repr(caught.value)
        assert "http://user:***@127.0.0.1:9/x.git" in str(caught.value)
    _assert_nowhere_on_disk(cache, "s3cret")


def test_redact_masks_url_passwords_and_the_spec_password() -> None:
    assert redact("see https://alice:p%40ss@git.example/x.git and ssh://git:hunter2@h:22/y") == (
        "see https://alice:***@git.example/x.git and ssh://git:***@h:22/y"
    )
    assert redact("https://alice:p@ss@git.example/x.git") == "https://alice:***@git.example/x.git"
    assert redact("https://alice@git.example/x.git, git@github.com:o/r.git") == (
        "https://alice@git.example/x.git, git@github.com:o/r.git"
    )
    spec = RemoteSpec("https://alice:p%40ss@git.example/x.git")
    assert redact("the password is p@ss, or p%40ss", spec) == "the password is ***, or ***"
    given = RemoteSpec("https://git.example/x.git", username="alice", password="tok/en")
    assert redact("echo tok/en tok%2Fen", given) == "echo *** ***"
    assert given.display_url == "https://git.example/x.git"
    assert "tok/en" not in repr(given)


def test_the_askpass_script_answers_git_prompts_from_its_environment(remote: Remote, cache: Path) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    head_revision(RemoteSpec(str(remote.bare)), cache)
    script = cache / ASKPASS_NAME
    assert stat.S_IMODE(script.stat().st_mode) == 0o700
    environment = {"PATH": os.environ["PATH"], "NBJOBS_ASKPASS_USERNAME": "alice", "NBJOBS_ASKPASS_PASSWORD": "s3cret"}

    def ask(prompt: str, env: dict[str, str]) -> tuple[int, str]:
        result = subprocess.run([str(script), prompt], env=env, capture_output=True, text=True, check=False)
        return result.returncode, result.stdout

    assert ask("Username for 'https://git.example': ", environment) == (0, "alice\n")
    assert ask("Password for 'https://alice@git.example': ", environment) == (0, "s3cret\n")
    assert ask("alice@git.example's password: ", environment) == (0, "s3cret\n")
    assert ask("Are you sure you want to continue connecting (yes/no)? ", environment) == (1, "")
    assert ask("Password for 'https://alice@git.example': ", {"PATH": os.environ["PATH"]}) == (1, "")
    assert "s3cret" not in script.read_text()


class _SmartHTTP(ThreadingHTTPServer):
    """Git's smart HTTP protocol over `git upload-pack`, behind Basic authentication. It records the
    paths asked for, the wrong credentials offered and the command lines of the test's child processes
    (git's) while they wait for it."""

    def __init__(self, repository: Path, username: str, password: str) -> None:
        super().__init__(("127.0.0.1", 0), _SmartHTTPHandler)
        self.repository = repository
        self.expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.paths: list[str] = []
        self.refused: list[str] = []
        self.command_lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/x.git"


class _SmartHTTPHandler(BaseHTTPRequestHandler):
    server: _SmartHTTP

    def log_message(self, format: str, *args: Any) -> None:
        pass  # an access log would only clutter the test output

    def do_GET(self) -> None:
        if not self._authorized():
            return
        url = urlsplit(self.path)
        if url.path != "/x.git/info/refs" or url.query != "service=git-upload-pack":
            self.send_error(404)
            return
        refs = self._upload_pack("--advertise-refs")
        banner = b"# service=git-upload-pack\n"
        self._reply("application/x-git-upload-pack-advertisement", b"%04x%s0000%s" % (len(banner) + 4, banner, refs))

    def do_POST(self) -> None:
        if not self._authorized():
            return
        if urlsplit(self.path).path != "/x.git/git-upload-pack":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self._reply("application/x-git-upload-pack-result", self._upload_pack(istream=body))

    def _authorized(self) -> bool:
        self.server.paths.append(self.path)
        self.server.command_lines += _children()
        given = self.headers.get("Authorization")
        if given == self.server.expected:
            return True
        if given:
            self.server.refused.append(given)
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="nbjobs"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _upload_pack(self, *options: str, istream: bytes = b"") -> bytes:
        command = ["git", "upload-pack", "--stateless-rpc", *options, str(self.server.repository)]
        return subprocess.run(command, input=istream, capture_output=True, check=True).stdout

    def _reply(self, content_type: str, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def http_remote(remote: Remote) -> Iterator[_SmartHTTP]:
    server = _SmartHTTP(remote.bare, "alice", "s3cret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _assert_nowhere_on_disk(directory: Path, secret: str) -> None:
    for path in directory.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("given", ["in the URL", "as fields"])
def test_credentials_reach_the_server_through_askpass_only(
    given: str, remote: Remote, http_remote: _SmartHTTP, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = remote.push({"manifests/jobs.yaml": JOBS_V1})
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")  # would keep any password it is given
    monkeypatch.setenv("HOME", str(home))
    for variable in ("GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(variable, raising=False)
    url = http_remote.url
    if given == "in the URL":
        spec = RemoteSpec(url.replace("http://", "http://alice:s3cret@"), timeout=10)
    else:
        spec = RemoteSpec(url, username="alice", password="s3cret", timeout=10)
    assert head_revision(spec, cache) == sha
    repository = ensure_fetched(spec, cache, sha)
    assert read_manifests(spec, repository, sha)[0].jobs[0].match == "audits.DeviceAudit"

    assert http_remote.refused == []
    assert any(path.endswith("git-upload-pack") for path in http_remote.paths)  # a real fetch happened
    assert all("s3cret" not in path and "alice" not in path for path in http_remote.paths)
    assert any("git" in line and "127.0.0.1" in line for line in http_remote.command_lines)
    assert all("s3cret" not in line for line in http_remote.command_lines)  # not on any command line
    _assert_nowhere_on_disk(cache, "s3cret")  # nor in a config, nor in the askpass script
    assert not (home / ".git-credentials").exists()  # the user's credential helper was not asked to keep it


def test_wrong_or_missing_credentials_are_a_permanent_error_without_a_prompt(
    remote: Remote, http_remote: _SmartHTTP, cache: Path
) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    wrong = RemoteSpec(http_remote.url.replace("http://", "http://alice:not-s3cret@"), timeout=10)
    with pytest.raises(RemoteError) as caught:
        head_revision(wrong, cache)
    assert not caught.value.transient
    assert str(caught.value) == (
        f"cannot list the branches of {wrong.display_url}: Authentication failed for '{http_remote.url}/'"
    )
    assert "not-s3cret" not in repr(caught.value)
    assert http_remote.refused  # the wrong password was offered, so askpass answered

    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        head_revision(RemoteSpec(http_remote.url, timeout=10), cache)
    assert time.monotonic() - started < 5  # failed at once instead of waiting at a prompt
    assert not caught.value.transient
    assert "could not read Username" in str(caught.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"url": "--upload-pack=touch /tmp/x"}, "is not a git URL"),
        ({"url": "x", "branch": "-f"}, "is not a valid branch name"),
        ({"url": "x", "branch": "a..b"}, "is not a valid branch name"),
        ({"url": "x", "path": "../etc"}, "must be relative to the repository root"),
        ({"url": "x", "path": "/etc"}, "must be relative to the repository root"),
        ({"url": "x", "timeout": 0}, "must be positive"),
    ],
)
def test_a_spec_git_would_misread_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(RemoteError, match=re.escape(message)) as caught:
        RemoteSpec(**fields)
    assert not caught.value.transient


def test_spec_paths_are_normalized() -> None:
    assert RemoteSpec("x", path="./manifests/").path == "manifests"
    assert RemoteSpec("x", path=".").path == ""


# --- hygiene ----------------------------------------------------------------------------------------


def test_a_hundred_rounds_leave_no_process_descriptor_or_memory_behind(
    remote: Remote, spec: RemoteSpec, cache: Path
) -> None:
    remote.push({"manifests/jobs.yaml": JOBS_V1})
    me = psutil.Process()

    def round_trip() -> DesiredState:
        sha = head_revision(spec, cache)
        desired, _ = read_manifests(spec, ensure_fetched(spec, cache, sha), sha)
        return desired

    round_trip()  # imports, caches and the cache repository itself are not growth
    gc.collect()
    fds, rss = me.num_fds(), me.memory_info().rss
    for index in range(100):
        if index % 25 == 0:  # new commits now and then, so that rounds fetch too
            remote.push({"manifests/jobs.yaml": JOBS_V1 if index % 50 else JOBS_V2})
        assert round_trip().jobs
    # Before any collection: a git.Repo left open keeps its `git cat-file` processes until the cyclic
    # garbage collector happens to free it.
    assert _children() == []
    assert me.num_fds() <= fds + 2
    gc.collect()
    assert me.memory_info().rss - rss < 30 * 1024 * 1024
