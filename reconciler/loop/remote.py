"""The git side of the reconcile loop: the head of a branch on a manifests remote, a cache clone that
fetches only what is new, and the manifests at a revision, read from git's objects without a checkout.

Secrets never reach a command line, a git config file or a message. A password written in the URL is
taken out of it before git sees the URL; git gets credentials from a GIT_ASKPASS script that echoes
environment variables set for that one git process, and every message goes through `redact`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import git

from reconciler.diagnostics import InputError, NbjobsError, plural
from reconciler.gitrev import SHORT, Relocator, Repository, RevisionError, relocate
from reconciler.manifest.limits import ManifestLimits
from reconciler.manifest.load import load_manifests
from reconciler.manifest.types import DesiredState

# Private to review.revisions, but it is the rule `nbjobs diff` applies to decide that a path has no
# manifests at a revision; the loop must decide exactly the same way.
from reconciler.review.revisions import has_manifests

MASK = "***"
ASKPASS_NAME = "nbjobs-askpass"
_USERNAME_VAR = "NBJOBS_ASKPASS_USERNAME"
_PASSWORD_VAR = "NBJOBS_ASKPASS_PASSWORD"
_ASKPASS_SCRIPT = f"""\
#!/bin/sh
# GIT_ASKPASS for nbjobs: git runs it with its prompt as $1. The answers come from variables set only
# in the environment of the git process that asks, so no secret is ever written to disk.
case "$1" in
  Username*) [ -n "${_USERNAME_VAR}" ] || exit 1; printf '%s\\n' "${_USERNAME_VAR}" ;;
  *[Pp]assword*) [ -n "${_PASSWORD_VAR}" ] || exit 1; printf '%s\\n' "${_PASSWORD_VAR}" ;;
  *) exit 1 ;;
esac
"""
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256 object names
# The userinfo of a URL ends at its last `@` before the path, so a password is matched greedily.
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s:@]*):(?P<password>[^/?#\s]*)@")
_BAD_BRANCH = re.compile(r"^-|^/|/$|\.\.|@\{|//|\.lock$|\.$|[\x00-\x20\x7f~^:?*\[\\]")
# Failures that waiting will not fix: the loop should report them, not retry them as an outage.
_PERMANENT = (
    "authentication failed",
    "could not read username",
    "could not read password",
    "invalid username or password",
    "returned error: 401",
    "returned error: 403",
    "permission denied",
    "couldn't find remote ref",
    "unable to find remote helper",
    "not allowed",
)


class RemoteError(NbjobsError):
    """The remote or the cache cannot give what was asked. `transient` errors (an unreachable host or
    repository, a timeout) may succeed on the next round; the others need someone to change something."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(redact(message))
        self.transient = transient


@dataclass(frozen=True)
class RemoteSpec:
    """Where the manifests live: a git URL, a branch, and a path inside the repository."""

    url: str
    branch: str = "main"
    path: str = "manifests"
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        # Caught here rather than in git: a URL or branch starting with `-` would be read as an option.
        if not self.url or self.url.startswith("-") or any(c in self.url for c in "\0\n\r"):
            raise RemoteError(f"{redact(self.url, self)!r} is not a git URL", transient=False)
        if _BAD_BRANCH.search(self.branch) or not self.branch:
            raise RemoteError(f"{self.branch!r} is not a valid branch name", transient=False)
        if not self.timeout > 0:
            raise RemoteError(f"the git timeout must be positive, not {self.timeout}", transient=False)
        path = PurePosixPath(self.path)
        if path.is_absolute() or ".." in path.parts or "\\" in self.path:
            raise RemoteError(f"the manifest path {self.path!r} must be relative to the repository root",
                              transient=False)  # fmt: skip
        # Normalized so that `manifests/` and `./manifests` name the same tree as `manifests`.
        object.__setattr__(self, "path", "" if path.as_posix() == "." else path.as_posix())

    def __repr__(self) -> str:
        # The generated repr would show the password to any log line or traceback that prints a spec.
        secret = MASK if self.password is not None else None
        return (f"RemoteSpec(url={self.display_url!r}, branch={self.branch!r}, path={self.path!r}, "
                f"username={self.username!r}, password={secret!r}, timeout={self.timeout!r})")  # fmt: skip

    @property
    def display_url(self) -> str:
        return redact(self.url, self)


def redact(text: str, spec: RemoteSpec | None = None) -> str:
    """`text` with the password of every `scheme://user:password@` URL masked, and the spec's
    passwords (given, or written in its URL) masked wherever they appear."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    if spec is not None:
        for secret in sorted(_secrets(spec), key=len, reverse=True):
            text = text.replace(secret, MASK)
    return text


def head_revision(spec: RemoteSpec, cache_dir: Path) -> str:
    """The commit the branch points at on the remote. Asks for refs only: no objects are transferred."""
    ref = f"refs/heads/{spec.branch}"
    output = _git(spec, _directory(cache_dir), "ls-remote", "--", _git_url(spec), ref, action="list the branches of")
    for line in output.splitlines():
        sha, _, name = line.partition("\t")
        # ls-remote matches patterns against the tail of ref names: refs/heads/x/refs/heads/main matches too.
        if name == ref and _SHA.fullmatch(sha):
            return sha
    raise RemoteError(f"branch {spec.branch!r} does not exist on {spec.display_url}", transient=False)


def ensure_fetched(spec: RemoteSpec, cache_dir: Path, sha: str) -> Path:
    """The cache repository, holding commit `sha`: fetched from the branch only when it is not there yet.

    Every worker of a fleet shares the cache directory: creating a cache and fetching into it happen
    under an exclusive file lock per cache, and whoever gets it second finds the commit already there."""
    _check_sha(sha)
    with _cache_lock(spec, cache_dir):
        cache_repo = _cache_repository(spec, cache_dir)
        if _has_commit(spec, cache_repo, sha):
            return cache_repo
        refspec = f"+refs/heads/{spec.branch}:refs/heads/{spec.branch}"  # `+`: follow force-pushes
        _git(spec, cache_repo.parent, "fetch", "--quiet", "--no-tags", "--", _git_url(spec), refspec,
             action="fetch from", repo=cache_repo)  # fmt: skip
    if not _has_commit(spec, cache_repo, sha):
        raise RemoteError(f"commit {sha[:SHORT]} is not on branch {spec.branch!r} of {spec.display_url} "
                          "after fetching it (was the branch force-pushed?)", transient=False)  # fmt: skip
    return cache_repo


def read_manifests(
    spec: RemoteSpec, cache_repo: Path, sha: str, limits: ManifestLimits | None = None
) -> tuple[DesiredState, tuple[str, ...]]:
    """The desired state written under `spec.path` at commit `sha`, every location reading
    `path@<short sha>:line:col`, and notes for people. A path without manifests is an empty state."""
    _check_sha(sha)
    try:
        opened = git.Repo(cache_repo)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RemoteError(f"{cache_repo} is not a cache repository of nbjobs", transient=False) from None
    notes: list[str] = []
    label = f"{sha[:SHORT]} ({spec.branch} of {spec.display_url})"
    with Repository(opened) as repo, tempfile.TemporaryDirectory(prefix="nbjobs-remote-") as scratch:
        try:
            revision = repo.resolve(sha)
        except RevisionError:
            raise RemoteError(f"commit {sha[:SHORT]} is not in the cache {cache_repo}: fetch it first",
                              transient=False) from None  # fmt: skip
        tree = repo.materialize(revision, [spec.path], Path(scratch))
        fix = Relocator(tree)
        desired = DesiredState()
        if has_manifests(tree, spec.path):
            try:
                desired = relocate(load_manifests([tree.path(spec.path)], limits), fix)
            except InputError as exc:
                raise InputError(relocate(exc.diagnostics, fix)) from None
        else:
            notes.append(f"{spec.path or '.'} has no manifests at {label}: its desired state there is empty")
    if tree.skipped:
        notes.append(f"{plural(len(tree.skipped), 'symbolic link or submodule', 'symbolic links or submodules')} "
                     f"at {label} cannot be read: "
                     + ", ".join(tree.skipped))  # fmt: skip
    return desired, tuple(notes)


def _secrets(spec: RemoteSpec) -> set[str]:
    found = {spec.password} if spec.password else set()
    written = _url_password(spec.url)
    if written:
        found.add(written)  # as written, percent-encoded
    # Git and people may quote the password decoded or encoded, whichever form it was given in.
    return {form for secret in found for form in (secret, unquote(secret), quote(secret, safe=""))} - {""}


def _url_password(url: str) -> str | None:
    match = _URL_PASSWORD.search(url)
    return match["password"] if match and url.startswith(match["head"]) else None


def _git_url(spec: RemoteSpec) -> str:
    """The URL as git gets it: without a password, which goes through askpass instead of the command line."""
    if "://" not in spec.url and ":" not in spec.url.partition("/")[0]:
        # A local path (git reads `host:path` as scp-like): git runs in the cache directory, not here.
        return os.path.abspath(spec.url)
    parts = urlsplit(spec.url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return spec.url
    if parts.scheme.lower() in ("http", "https"):
        # The username goes through askpass too: with one in the URL, curl first offers it with an empty
        # password, a failed login that the server sees (and may count towards a lockout).
        return urlunsplit(parts._replace(netloc=host))
    if _url_password(spec.url) is None:
        return spec.url
    user = userinfo.partition(":")[0]  # ssh and others: the login name stays, it is no secret
    return urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))


def _credentials(spec: RemoteSpec) -> tuple[str | None, str | None]:
    """The username and password to answer git with: those given, else those written in the URL."""
    parts = urlsplit(spec.url) if "://" in spec.url else None
    username = spec.username
    if username is None and parts is not None and parts.username:
        username = unquote(parts.username)
    password = spec.password
    written = _url_password(spec.url)
    if password is None and written is not None:
        password = unquote(written)
    return username, password


def _cache_name(spec: RemoteSpec) -> str:
    # Named without the password, so that rotating it keeps the cache.
    return hashlib.sha256(f"{_git_url(spec)}\n{spec.branch}".encode()).hexdigest()[:24]


@contextmanager
def _cache_lock(spec: RemoteSpec, cache_dir: Path) -> Iterator[None]:
    """An exclusive lock on one cache repository, across processes (flock: freed when the holder dies)."""
    lock_path = _directory(cache_dir) / f"{_cache_name(spec)}.lock"
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_repository(spec: RemoteSpec, cache_dir: Path) -> Path:
    """The bare repository that caches `spec`'s branch, created when missing (call under _cache_lock)."""
    cache_dir = _directory(cache_dir)
    digest = _cache_name(spec)
    path = cache_dir / f"{digest}.git"
    if (path / "HEAD").is_file() and (path / "objects").is_dir():
        return path
    # Initialized aside and renamed into place: a crash mid-init must not leave a half repository that
    # every later round trips over.
    scratch = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=cache_dir))
    try:
        # No template: sample hooks and the like have no use in a cache, and a site's template could
        # bring hooks that run on every fetch.
        _git(spec, cache_dir, "init", "--bare", "--quiet", "--template=", f"--initial-branch={spec.branch}",
             str(scratch), action="create a cache for")  # fmt: skip
        (scratch / "description").write_text(f"nbjobs cache of {spec.branch} at {spec.display_url}\n")
        if path.exists():
            shutil.rmtree(path)  # a leftover without HEAD or objects: not a repository
        os.replace(scratch, path)
    except OSError as exc:
        if not (path / "HEAD").is_file():  # unless another process won the race to create it
            raise RemoteError(f"cannot create the cache repository {path}: {exc.strerror}", transient=False) from None
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
    return path


def _directory(cache_dir: Path) -> Path:
    """`cache_dir`, created private (the caches hold the repository's content), as an absolute path:
    git runs there, and paths given to it must not be read relative to it."""
    cache_dir = cache_dir.absolute()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise RemoteError(f"cannot create the cache directory {cache_dir}: {exc.strerror}", transient=False) from None
    return cache_dir


def _askpass(cache_dir: Path) -> Path:
    """The askpass script in `cache_dir`, (re)written when missing, changed or not mode 0700."""
    script = cache_dir / ASKPASS_NAME
    try:
        current = script.read_text() if script.is_file() else None
        if current != _ASKPASS_SCRIPT or stat.S_IMODE(script.stat().st_mode) != 0o700:
            # Written aside and renamed, so that a concurrent git never runs a half-written script.
            fd, temporary = tempfile.mkstemp(prefix=f".{ASKPASS_NAME}-", dir=cache_dir)
            with os.fdopen(fd, "w") as handle:
                handle.write(_ASKPASS_SCRIPT)
            os.chmod(temporary, 0o700)
            os.replace(temporary, script)
    except OSError as exc:
        raise RemoteError(f"cannot write {script}: {exc.strerror}", transient=False) from None
    return script


def _run(spec: RemoteSpec, cache_dir: Path, *args: str, action: str, repo: Path | None = None) -> tuple[int, str, str]:
    """One git command, in the cache repository `repo` if given, killed after the spec's timeout: its
    status, stdout and stderr. Raises only when git cannot run or times out."""
    username, password = _credentials(spec)
    options = ["-c", "gc.autoDetach=false"]  # a detached `gc --auto` would outlive the command
    if password is not None:
        options += ["-c", "credential.helper="]  # no helper may store, or substitute, the password given
    environment = {
        "GIT_TERMINAL_PROMPT": "0",  # a daemon has nobody to answer a prompt: fail instead of waiting
        "GIT_ASKPASS": str(_askpass(cache_dir)),
        # Without a repository (ls-remote), git must not find one above the cache directory and read a
        # remote's name or a config from it.
        "GIT_CEILING_DIRECTORIES": str(cache_dir.parent),
        # Always set, so that values inherited from the parent's environment are never given to git.
        _USERNAME_VAR: username or "",
        _PASSWORD_VAR: password or "",
    }
    if repo is not None:
        options.append(f"--git-dir={repo}")  # explicit: cache_dir may lie inside some other repository
    runner = git.cmd.Git(cache_dir)
    command = [runner.GIT_PYTHON_GIT_EXECUTABLE, *options, *args]
    started = time.monotonic()
    try:
        status, stdout, stderr = runner.execute(command, with_extended_output=True, with_exceptions=False,
                                                kill_after_timeout=spec.timeout, env=environment)  # fmt: skip
    except git.GitCommandError as exc:  # GitCommandNotFound: no git executable at all
        raise RemoteError(redact(f"cannot {action} {spec.display_url}: git cannot run ({exc.status})", spec),
                          transient=False) from None  # fmt: skip
    timed_out = str(stderr).startswith("Timeout:") or (status < 0 and time.monotonic() - started >= spec.timeout)
    if timed_out:
        raise RemoteError(f"cannot {action} {spec.display_url}: git did not answer within {spec.timeout:g} s",
                          transient=True)  # fmt: skip
    return int(status), str(stdout), str(stderr)


def _git(spec: RemoteSpec, cache_dir: Path, *args: str, action: str, repo: Path | None = None) -> str:
    """The output of a git command that must succeed; a failure is a one-sentence RemoteError."""
    status, stdout, stderr = _run(spec, cache_dir, *args, action=action, repo=repo)
    if status == 0:
        return stdout
    reason = _first_line(stderr) or f"git exited with status {status}"
    permanent = any(marker in reason.lower() for marker in _PERMANENT)
    raise RemoteError(redact(f"cannot {action} {spec.display_url}: {reason}", spec), transient=not permanent)


def _first_line(stderr: str) -> str:
    """The sentence that says what went wrong: git's first `fatal:`, else its first `error:`, else its
    first line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for prefix in ("fatal:", "error:"):  # fatal first: the errors before it are steps on the way
        for line in lines:
            if line.startswith(prefix):
                return line[len(prefix) :].strip()
    return next((line for line in lines if not line.startswith(("hint:", "warning:"))), "")


def _has_commit(spec: RemoteSpec, cache_repo: Path, sha: str) -> bool:
    status, _, _ = _run(spec, cache_repo.parent, "cat-file", "-e", f"{sha}^{{commit}}", action="read the cache of",
                        repo=cache_repo)  # fmt: skip
    return status == 0


def _check_sha(sha: str) -> None:
    if not _SHA.fullmatch(sha):
        raise RemoteError(f"{sha!r} is not a full commit id", transient=False)
