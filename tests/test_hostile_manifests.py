"""Hostile and broken manifests: every input ends in exit 0 or 1 with located messages, in bounded time.

- the corpus (tests/corpus/manifests/*.yaml, expectations in expected.toml), through the real CLI;
- the limits (reconciler/manifest/limits.py), on inputs made here rather than committed (huge, deep, many);
- the file system: symbolic links out of the tree and in loops, pipes, deep trees, odd file names;
- property tests (hypothesis): manifests generated from the pydantic models load, and mutated manifests
  load or fail with located errors, never an exception.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
import tomllib
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from common import ROOT, clear_settings_environment, time_limit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli import main
from reconciler.config import Settings, load_settings
from reconciler.diagnostics import InputError
from reconciler.manifest.limits import MAX_DEPTH_CEILING, ManifestLimitError, ManifestLimits
from reconciler.manifest.load import load_manifests
from reconciler.manifest.patterns import queue_name_problem
from reconciler.manifest.schema import IgnoreName, JobDecl, JobQueuesDecl, Manifest, QueueDecl, RetireDecl

CORPUS = ROOT / "tests" / "corpus" / "manifests"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
CASE_SECONDS = 10  # far above the few milliseconds each takes: a hang or a quadratic blow-up fails
HEAD = "apiVersion: nbjobs/v1\nkind: Jobs\n"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NBJOBS_* variable and no ./nbjobs.toml of the machine reaches these runs."""
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


def validate(*args: str | Path) -> tuple[int, str, str]:
    """`nbjobs validate --no-code ARGS` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", "--no-code", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str, *paths: Path) -> list[str]:
    """Exit 0 or 1, no traceback, no internal error, every problem line located in one of `paths`.
    Returns the problem lines."""
    assert code in (0, 1), err
    assert "Traceback" not in err and "Internal error" not in err, err
    problems = [line for line in err.splitlines() if not line.startswith("Error: ")]
    for line in problems:
        assert line.startswith(tuple(f"{path}" for path in paths)), f"not located: {line!r}"
    return problems


def first_error(err: str) -> str:
    return next(line for line in err.splitlines() if ": error: " in line)


# -- The corpus ------------------------------------------------------------------------------------------


def test_the_corpus_is_large_and_every_file_has_an_expectation() -> None:
    names = sorted(path.name for path in CORPUS.glob("*.yaml"))
    assert len(names) >= 150
    assert names == sorted(EXPECTED)
    assert {case["exit"] for case in EXPECTED.values()} == {0, 1}
    assert any(case.get("limit") for case in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file_gives_its_located_message(name: str) -> None:
    path, expected = CORPUS / name, EXPECTED[name]
    with time_limit(CASE_SECONDS):
        code, out, err = validate(path)
    problems = assert_clean(code, err, path)
    assert code == expected["exit"], err or out
    if code == 0:
        assert expected["says"] in out and not problems, out + err
    else:
        line = first_error(err)
        says = expected["says"].replace("{file}", str(path))
        assert line.startswith(f"{path}:{expected['at']}: error: {says}"), line


def test_the_whole_corpus_at_once_stops_at_the_first_limit() -> None:
    with time_limit(60):
        code, _, err = validate(CORPUS)
    assert_clean(code, err, CORPUS)
    first = next(name for name in sorted(EXPECTED) if EXPECTED[name].get("limit"))
    assert code == 1 and err.count(": error: ") == 1
    # The values of the files before count too: the numbers differ from the file's alone.
    assert first_error(err).startswith(f"{CORPUS / first}:") and "(manifest_max_" in err


def test_the_corpus_within_the_limits_at_once_reports_each_file_first_error(tmp_path: Path) -> None:
    for name, expected in EXPECTED.items():
        if not expected.get("limit"):
            (tmp_path / name).write_bytes((CORPUS / name).read_bytes())
    with time_limit(60):
        code, _, err = validate(tmp_path)
    assert_clean(code, err, tmp_path)
    assert code == 1
    for name in os.listdir(tmp_path):
        expected = EXPECTED[name]
        if expected["exit"] == 1:
            says = expected["says"].split("{file}")[0]  # a conflict's first place may be another file now
            assert f"{tmp_path / name}:{expected['at']}: error: {says}" in err, name


@pytest.mark.parametrize(
    "name", ["alias-billion-laughs.yaml", "bytes-random.yaml", "syntax-tab-indent.yaml", "bom-utf8.yaml"]
)
def test_corpus_files_through_a_real_process(name: str) -> None:
    path, expected = CORPUS / name, EXPECTED[name]
    found = _process(path)
    assert found.returncode == expected["exit"]
    assert "Traceback" not in found.stderr and "Internal error" not in found.stderr, found.stderr
    if expected["exit"] == 1:
        assert f"{path}:{expected['at']}: error: {expected['says']}" in found.stderr


def _process(*args: Path | str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("NBJOBS_", "NAUTOBOT_"))}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "--no-code", *map(str, args)],
        capture_output=True, text=True, timeout=120, env={**environment, **(env or {})}, cwd=ROOT,
    )  # fmt: skip


# -- The limits, past them and at them --------------------------------------------------------------------


def test_the_limits_are_the_settings_of_the_same_name() -> None:
    defaults = ManifestLimits()
    limit_settings = {name for name in Settings.model_fields if name.startswith("manifest_max_")}
    assert limit_settings == {f"manifest_{item.name}" for item in fields(ManifestLimits)}
    for item in fields(ManifestLimits):
        assert Settings.model_fields[f"manifest_{item.name}"].default == getattr(defaults, item.name)
    assert load_settings().settings.manifest_limits() == defaults


@contextlib.contextmanager
def measured(seconds: float, megabytes: float) -> Iterator[None]:
    """The block runs within `seconds` and allocates at most `megabytes` at its peak (tracemalloc)."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with time_limit(seconds * 5):  # the hard stop, should the block hang
            yield
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert took < seconds, f"took {took:.2f} s"
    assert peak < megabytes, f"peaked at {peak:.1f} MiB"


def test_a_30_mb_scalar_is_refused_by_its_size_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "jobs.yaml"
    with big.open("w") as stream:
        stream.write(HEAD + "jobs:\n  - match: a.B\n    description: ")
        stream.write("x" * 30 * 2**20 + "\n")
    with measured(seconds=2, megabytes=5):
        code, _, err = validate(big)
    assert_clean(code, err, big)
    assert first_error(err) == (
        f"{big}:1:1: error: file is {big.stat().st_size:,} bytes, over the limit of 1,048,576 bytes per file "
        "(manifest_max_file_bytes; raise it with NBJOBS_MANIFEST_MAX_FILE_BYTES or in nbjobs.toml)"
    )


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
def test_a_file_whose_size_stat_does_not_know_is_read_only_up_to_the_limit() -> None:
    # /proc files say 0 bytes; reading stops at the limit whatever they hold.
    with pytest.raises(ManifestLimitError) as raised:
        load_manifests([Path("/proc/self/status")], ManifestLimits(max_file_bytes=100))
    assert "file is over the limit as read, over the limit of 100 bytes per file" in str(raised.value)


@pytest.mark.parametrize(("levels", "kind"), [(5_000, "flow"), (5_000, "block"), (100_000, "flow")])
def test_a_document_nested_thousands_deep_stops_at_the_depth_limit(tmp_path: Path, levels: int, kind: str) -> None:
    deep = tmp_path / "deep.yaml"
    if kind == "flow":
        deep.write_text(HEAD + "jobs: " + "[" * levels + "]" * levels + "\n")
        at = "3:71"  # the 65th `[`, which the scanner stops at before PyYAML composes anything
    else:
        deep.write_text(HEAD + "jobs:\n" + "- " * levels + "x\n")
        at = "4:127"
    with measured(seconds=2, megabytes=20):
        code, _, err = validate(deep)
    assert_clean(code, err, deep)
    assert first_error(err).startswith(
        f"{deep}:{at}: error: lists and mappings nested deeper here, over the limit of 64 levels "
        "(manifest_max_depth; raise it with NBJOBS_MANIFEST_MAX_DEPTH"
    )


def _nested_why(levels: int) -> str:
    """A manifest whose deepest list is `levels` deep (root mapping 1, jobs 2, entry 3, why 4...)."""
    inner = levels - 3
    return HEAD + "jobs:\n  - match: a.B\n    why: " + "[" * inner + "]" * inner + "\n"


@pytest.mark.parametrize("levels", [64, MAX_DEPTH_CEILING])
def test_at_the_depth_limit_the_manifest_is_validated_as_usual(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, levels: int
) -> None:
    monkeypatch.setenv("NBJOBS_MANIFEST_MAX_DEPTH", str(levels))
    manifest = tmp_path / "deep.yaml"
    manifest.write_text(_nested_why(levels))
    code, _, err = validate(manifest)
    assert_clean(code, err, manifest)
    assert first_error(err) == f"{manifest}:5:10: error: expected a string, got a list"
    manifest.write_text(_nested_why(levels + 1))
    assert "over the limit of" in first_error(validate(manifest)[2])


def test_the_depth_setting_cannot_pass_what_python_can_compose(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBJOBS_MANIFEST_MAX_DEPTH", str(MAX_DEPTH_CEILING + 1))
    code, _, err = validate("x.yaml")
    assert code == 1 and "manifest_max_depth" in err and "less than or equal to 256" in err, err
    with pytest.raises(ValueError, match="at most 256"):
        ManifestLimits(max_depth=MAX_DEPTH_CEILING + 1)


def test_a_billion_laughs_fails_at_the_alias_that_goes_over_while_composing() -> None:
    bomb = CORPUS / "alias-billion-laughs.yaml"
    with measured(seconds=1, megabytes=20):
        code, _, err = validate(bomb)
    assert code == 1
    assert first_error(err).startswith(f"{bomb}:8:28: error: this alias repeats 66,430 values: the manifests hold "
                                       "274,034 values by here, aliases expanded, over the limit of 250,000 values")


def test_a_long_scalar_is_refused_where_it_starts(tmp_path: Path) -> None:
    manifest = tmp_path / "long.yaml"
    manifest.write_text(HEAD + "jobs:\n  - match: a.B\n    description: '" + "x" * 70_000 + "'\n")
    code, _, err = validate(manifest)
    assert_clean(code, err, manifest)
    assert first_error(err) == (
        f"{manifest}:5:18: error: a scalar of 70,000 characters, over the limit of 65,536 characters per scalar "
        "(manifest_max_scalar_length; raise it with NBJOBS_MANIFEST_MAX_SCALAR_LENGTH or in nbjobs.toml)"
    )


def _many_files(directory: Path, count: int) -> None:
    directory.mkdir()
    for index in range(count):
        (directory / f"f{index:05d}.yaml").write_text(HEAD)


@pytest.mark.parametrize("count", [1_001, pytest.param(10_000, marks=pytest.mark.slow)])
def test_a_directory_of_thousands_of_files_stops_at_file_1_001(tmp_path: Path, count: int) -> None:
    many = tmp_path / "manifests"
    _many_files(many, count)
    with measured(seconds=10, megabytes=20):  # a quarter of a second on an idle machine; parsing them all takes minutes
        code, _, err = validate(many)
    assert_clean(code, err, many)
    assert first_error(err) == (
        f"{many / 'f01000.yaml'}:1:1: error: this is manifest file 1,001, over the limit of 1,000 files "
        "(manifest_max_files; raise it with NBJOBS_MANIFEST_MAX_FILES or in nbjobs.toml)"
    )


def test_files_are_counted_across_every_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBJOBS_MANIFEST_MAX_FILES", "3")
    _many_files(tmp_path / "a", 2)
    _many_files(tmp_path / "b", 2)
    code, _, err = validate(tmp_path / "a", tmp_path / "a" / "f00000.yaml", tmp_path / "b")  # one named twice
    assert code == 1
    assert first_error(err).startswith(f"{tmp_path / 'b' / 'f00001.yaml'}:1:1: error: this is manifest file 4,")


# Each limit set low through its NBJOBS_* variable, and an input just past it: the setting reaches the
# loader, and the message names it.
_JOB = HEAD + "jobs:\n  - match: a.B\n    why: {why}\n"
_JOB_A, _JOB_B = _JOB.format(why="a"), _JOB.format(why="b").replace("a.B", "c.D")
LIMIT_CASES: dict[str, tuple[str, list[str], str, str]] = {
    # setting: (value, file texts, location of the error in the last file, what it says)
    "max_file_bytes": ("60", [_JOB.format(why="x" * 20)], "1:1", f"file is {len(_JOB.format(why='x' * 20))} bytes"),
    "max_total_bytes": ("100", [_JOB_A, _JOB_B], "1:1",
                        f"the manifests come to {len(_JOB_A) + len(_JOB_B)} bytes with this file"),
    "max_files": ("1", [_JOB_A, _JOB_B], "1:1", "this is manifest file 2"),
    "max_scalar_length": ("10", [_JOB.format(why="x" * 11)], "5:10", "a scalar of 11 characters"),
    "max_depth": ("4", [_JOB.format(why="[[x]]")], "5:11", "lists and mappings nested deeper here"),
    "max_values": ("16", [HEAD + "x: &x [a, b, c]\ny: [*x, *x]\n"], "4:9",  # 5 + 5 + 2 + 4, then 4 more
                   "this alias repeats 4 values: the manifests hold 20 values by here, aliases expanded"),
    "max_entries": ("2", [HEAD + "queues:\n  - {name: q, type: celery}\njobs:\n  - match: a.B\n  - match: c.D\n"],
                    "7:5", "this is entry 3 of the manifests (queues, jobs and retire together)"),
}  # fmt: skip


def test_every_limit_has_a_case() -> None:
    assert set(LIMIT_CASES) == {item.name for item in fields(ManifestLimits)}


@pytest.mark.parametrize("name", sorted(LIMIT_CASES))
def test_each_limit_setting_reaches_the_loader_and_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    value, texts, at, says = LIMIT_CASES[name]
    setting = f"NBJOBS_MANIFEST_{name.upper()}"
    files = []
    for index, text in enumerate(texts):
        files.append(tmp_path / f"m{index}.yaml")
        files[-1].write_text(text)
    assert "over the limit" not in validate(*files)[2]  # the defaults let them through
    monkeypatch.setenv(setting, value)
    code, _, err = validate(*files)
    assert_clean(code, err, *files)
    assert code == 1
    line = first_error(err)
    assert line.startswith(f"{files[-1]}:{at}: error: {says}, over the limit of {int(value):,} "), line
    assert line.endswith(f"(manifest_{name}; raise it with {setting} or in nbjobs.toml)"), line
    assert err.count(": error: ") == 1  # one error: reading stopped there


def test_a_limit_in_the_settings_file_is_named_when_wrong(tmp_path: Path) -> None:
    (tmp_path / "nbjobs.toml").write_text("manifest_max_entries = 0\n")
    code, _, err = validate("x.yaml")
    assert code == 1 and "nbjobs.toml:1:1: manifest_max_entries: Input should be greater than or equal to 1" in err


@pytest.mark.slow
def test_20_001_entries_stop_at_the_entry_limit(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(HEAD + "jobs:\n" + "".join(f"  - match: m.J{index}\n" for index in range(20_001)))
    with time_limit(60):
        _, _, err = validate(manifest)
    assert first_error(err).startswith(f"{manifest}:20004:5: error: this is entry 20,001 of the manifests")


@pytest.mark.slow
def test_the_worst_single_file_within_the_limits_loads_in_seconds(tmp_path: Path) -> None:
    """A 1 MiB manifest of 10,000 realistic entries: the largest file the defaults let through."""
    lines = [HEAD.strip(), "jobs:"]
    size, index = len(HEAD), 0
    while size < 2**20 - 200:
        entry = [f"  - match: vendor_{index % 50}.module_{index % 7}.Job{index}", "    enabled: true",
                 "    time_limit: 3600", f"    why: ticket NET-{index}"]  # fmt: skip
        lines += entry
        size += sum(len(line) + 1 for line in entry)
        index += 1
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text("\n".join(lines) + "\n")
    with time_limit(60):  # about 7 s on an idle core; tracemalloc would make it four times slower
        desired = load_manifests([manifest])
    assert len(desired.jobs) == index


# -- The file system ---------------------------------------------------------------------------------------


def _manifest(path: Path, why: str = "ok") -> Path:
    """A manifest at `path` whose one job is named after the path (so that two never conflict)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    job = "m" + str(abs(hash(str(path))))
    path.write_text(_JOB.format(why=why).replace("a.B", f"{job}.Job"))
    return path


def _only_error(directory: Path) -> str:
    code, _, err = validate(directory)
    assert_clean(code, err, directory)
    assert code == 1
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    return lines[0]


def test_a_symbolic_link_out_of_the_tree_is_not_read(tmp_path: Path) -> None:
    secret = _manifest(tmp_path / "elsewhere" / "secret.yaml")
    tree = tmp_path / "manifests"
    _manifest(tree / "jobs.yaml")
    (tree / "shared.yaml").symlink_to(secret)
    assert _only_error(tree) == (
        f"{tree / 'shared.yaml'}: error: a symbolic link to {secret}, outside {tree}: a manifest directory is read "
        "only inside itself; name that file on the command line to read it"
    )
    (tree / "shared.yaml").unlink()
    (tree / "passwd.yaml").symlink_to("/etc/passwd")
    assert "a symbolic link to /etc/passwd, outside" in _only_error(tree)
    (tree / "passwd.yaml").unlink()
    assert validate(tree, secret)[0] == 0  # named on the command line, it is read


def test_symbolic_link_loops_and_dangling_links_are_errors(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    _manifest(tree / "jobs.yaml")
    (tree / "a.yaml").symlink_to(tree / "b.yaml")
    (tree / "b.yaml").symlink_to(tree / "a.yaml")
    (tree / "gone.yaml").symlink_to(tree / "nowhere.yaml")
    (tree / "notes").symlink_to(tree / "nowhere")  # not a manifest's name: none of ours
    code, _, err = validate(tree)
    assert_clean(code, err, tree)
    assert f"{tree / 'a.yaml'}: error: a loop of symbolic links: it leads to no file" in err
    assert f"{tree / 'b.yaml'}: error: a loop of symbolic links" in err
    assert f"{tree / 'gone.yaml'}: error: a symbolic link to {tree / 'nowhere.yaml'}, which does not exist" in err
    assert err.count(": error: ") == 3
    code, _, err = validate(tree / "a.yaml")
    assert f"{tree / 'a.yaml'}: error: a loop of symbolic links" in err


def test_a_directory_that_links_to_itself_is_not_followed(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    _manifest(tree / "jobs.yaml")
    (tree / "loop").symlink_to(tree)
    with time_limit(CASE_SECONDS):
        line = _only_error(tree)
    assert line.startswith(f"{tree / 'loop'}: error: a symbolic link to the directory {tree}: links to directories")


def test_a_link_inside_the_tree_is_read_once(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    _manifest(tree / "jobs.yaml")
    (tree / "same.yaml").symlink_to("jobs.yaml")
    code, out, err = validate(tree)
    assert code == 0 and "1 manifest file, 1 job entry" in out, err


def test_a_pipe_named_as_a_manifest_is_not_opened(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    _manifest(tree / "jobs.yaml")
    os.mkfifo(tree / "pipe.yaml")  # opening it would wait for a writer for ever
    with time_limit(CASE_SECONDS):
        line = _only_error(tree)
        assert line == f"{tree / 'pipe.yaml'}: error: not a regular file (a pipe, socket or device?): not read"
        code, _, err = validate(tree / "pipe.yaml")
    assert f"{tree / 'pipe.yaml'}: error: not a regular file or a directory" in err and code == 1


def test_a_tree_deeper_than_python_s_stack_is_walked(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    deep = tree
    for _ in range(1_200):  # pathlib's rglob recursed, and stopped with RecursionError here (so does mkdir -p)
        deep = deep / "d"
        deep.mkdir(parents=deep == tree / "d")
    _manifest(deep / "jobs.yaml", why="1")
    try:
        code, _, err = validate(tree)
        assert_clean(code, err, tree)
        expected = "expected a string, got the number 1; put it in quotes to make it a string"
        assert first_error(err) == f"{deep / 'jobs.yaml'}:5:10: error: {expected}"
    finally:  # pytest's own clean-up recurses too
        (deep / "jobs.yaml").unlink()
        while deep != tree:
            deep.rmdir()
            deep = deep.parent


def test_a_directory_named_like_a_manifest_is_walked_and_order_is_sorted(tmp_path: Path) -> None:
    tree = tmp_path / "manifests"
    _manifest(tree / "b.yaml" / "inner.yaml")
    _manifest(tree / "a.yml")
    _manifest(tree / "b.yaml0" / "x.yaml")
    _manifest(tree / ".hidden" / "x.yaml", why="1")
    desired = load_manifests([tree])
    assert desired.files == tuple(str(tree / name) for name in ("a.yml", "b.yaml/inner.yaml", "b.yaml0/x.yaml"))
    assert desired.files == tuple(sorted(desired.files, key=lambda name: Path(name).parts))


@pytest.mark.parametrize("name", [b"caf\xe9.yaml", b"esc\x1b[2J.yaml", b"new\nline.yaml"])
def test_odd_file_names_are_shown_without_a_traceback(tmp_path: Path, name: bytes) -> None:
    tree = tmp_path / "manifests"
    tree.mkdir()
    path = os.path.join(os.fsencode(tree), name)
    with open(path, "w") as stream:
        stream.write(_JOB.format(why="1"))
    code, _, err = validate(tree)
    assert code == 1 and "Traceback" not in err and "Internal error" not in err
    assert ":5:10: error: expected a string, got the number 1" in err
    assert "\x1b" not in err


# -- Property tests -----------------------------------------------------------------------------------------

_IDENTIFIER = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_CLASS = st.from_regex(r"[A-Z][A-Za-z0-9_]{0,8}", fullmatch=True)
_CLASS_PATH = st.builds(lambda module, cls: f"{module}.{cls}", _IDENTIFIER, _CLASS)
_GLOB = st.builds(lambda module, tail: f"{module}.{tail}", _IDENTIFIER, st.sampled_from(["*", "*.Sync?", "[!P]*"]))
# NEL, LS and PS are line breaks to PyYAML (YAML 1.1), which its dumper writes unescaped inside quotes,
# where its reader folds them into a space: they cannot round-trip through PyYAML, so they are left out.
_BREAKS = "\x85\u2028\u2029"
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters=_BREAKS), max_size=40)
_QUEUE = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters=_BREAKS),
                 min_size=1, max_size=20).filter(lambda name: queue_name_problem(name) is None)  # fmt: skip
_SECONDS = st.one_of(st.integers(0, 10**9), st.floats(0, 1e12, allow_nan=False, allow_infinity=False))
_BOOL = st.booleans()

# A strategy for each field of each model, by field name: a field added to a model must be added here.
_QUEUE_FIELDS = {"name": _QUEUE, "type": st.sampled_from(["celery", "kubernetes"]),
                 "description": _TEXT.filter(lambda text: len(text) <= 255)}  # fmt: skip
_JOB_QUEUES_FIELDS = {"default": _QUEUE, "eligible": st.lists(_QUEUE, min_size=1, max_size=3, unique=True)}
_JOB_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "match": st.one_of(_CLASS_PATH, _GLOB),
    "enabled": _BOOL, "grouping": _TEXT, "name": _TEXT.filter(lambda text: 1 <= len(text) <= 100),
    "description": _TEXT, "console_log_default": _BOOL, "dryrun_default": _BOOL, "hidden": _BOOL,
    "soft_time_limit": _SECONDS, "time_limit": _SECONDS, "has_sensitive_variables": _BOOL, "is_singleton": _BOOL,
    "queues": st.fixed_dictionaries({}, optional=_JOB_QUEUES_FIELDS).filter(bool),
    "ignore": st.just([]),  # drawn below, from the names the entry does not set
    "why": _TEXT,
}  # fmt: skip
_RETIRE_FIELDS = {"match": _CLASS_PATH, "schedules": st.sampled_from(["block", "disable"]), "purge_results": _BOOL,
                  "force": _BOOL, "why": _TEXT}  # fmt: skip
_MANIFEST_FIELDS = {"apiVersion", "kind", "queues", "jobs", "retire", "allow_no_managed_jobs"}


def test_the_strategies_cover_every_field_of_the_models() -> None:
    def names(model: type[Any]) -> set[str]:
        return {info.alias or name for name, info in model.model_fields.items()}

    assert names(Manifest) == _MANIFEST_FIELDS
    assert names(QueueDecl) == set(_QUEUE_FIELDS)
    assert names(JobDecl) == set(_JOB_FIELDS)
    assert names(JobQueuesDecl) == set(_JOB_QUEUES_FIELDS)
    assert names(RetireDecl) == set(_RETIRE_FIELDS)


@st.composite
def _job(draw: st.DrawFn, match: str) -> dict[str, Any]:
    optional = {name: strategy for name, strategy in _JOB_FIELDS.items() if name not in ("match", "ignore")}
    entry: dict[str, Any] = {"match": match, **draw(st.fixed_dictionaries({}, optional=optional))}
    free = [name for name in get_args(IgnoreName) if name not in entry]
    if len(free) > 0 and draw(st.booleans()):
        entry["ignore"] = draw(st.lists(st.sampled_from(free), unique=True, max_size=3))
    return entry


@st.composite
def valid_manifests(draw: st.DrawFn) -> dict[str, Any]:
    """A manifest the models accept, with no conflict: every match, queue name and retired job distinct."""
    matches = draw(st.lists(st.one_of(_CLASS_PATH, _GLOB), unique=True, max_size=6))
    retired = draw(st.lists(_CLASS_PATH.filter(lambda path: path not in matches), unique=True, max_size=3))
    queues = draw(st.lists(st.fixed_dictionaries({"name": _QUEUE, "type": _QUEUE_FIELDS["type"]},
                                                 optional={"description": _QUEUE_FIELDS["description"]}),
                           unique_by=lambda queue: queue["name"], max_size=3))  # fmt: skip
    document: dict[str, Any] = {"apiVersion": "nbjobs/v1", "kind": "Jobs"}
    if len(queues) > 0 or draw(st.booleans()):
        document["queues"] = queues
    if len(matches) > 0 or draw(st.booleans()):
        document["jobs"] = [draw(_job(match)) for match in matches]
    if retired:
        optional = {k: v for k, v in _RETIRE_FIELDS.items() if k != "match"}
        document["retire"] = [{"match": path, **draw(st.fixed_dictionaries({}, optional=optional))} for path in retired]
    if draw(st.booleans()):
        document["allow_no_managed_jobs"] = draw(_BOOL)
    return document


class _QuotingDumper(yaml.SafeDumper):
    """PyYAML writes YAML 1.1: a string such as `1e100` goes out plain, which YAML 1.2 (nbjobs) reads as a
    number. Every string is written in double quotes."""


_QuotingDumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"')
)


def _dump(document: dict[str, Any]) -> str:
    text: str = yaml.dump(document, Dumper=_QuotingDumper, sort_keys=False, allow_unicode=True, width=10**6)
    return text


# The autouse fixture clears the environment once per test, which is what every example needs.
_CHECKS = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
FAST = settings(max_examples=200, deadline=None, suppress_health_check=_CHECKS)
THOROUGH = settings(max_examples=3_000, deadline=None, suppress_health_check=_CHECKS)


def _check_valid(tmp_path: Path, document: dict[str, Any]) -> None:
    manifest = tmp_path / "generated.yaml"
    manifest.write_text(_dump(document), encoding="utf-8")
    desired = load_manifests([manifest])
    jobs = document.get("jobs", [])
    assert [job.match for job in desired.jobs] == [job["match"] for job in jobs]
    for entry, job in zip(desired.jobs, jobs, strict=True):
        for name, value in job.items():
            if name in ("match", "ignore", "why", "queues"):
                continue
            assert entry.pins[name].value == value, name
        assert entry.ignore == frozenset(job.get("ignore", ()))
        assert entry.why == job.get("why")
    assert [(queue.name, queue.description) for queue in desired.queues] == [
        (queue["name"], queue.get("description", "")) for queue in document.get("queues", [])
    ]
    assert [retired.match for retired in desired.retire] == [entry["match"] for entry in document.get("retire", [])]


@FAST
@given(document=valid_manifests())
def test_manifests_generated_from_the_models_load(tmp_path_factory: pytest.TempPathFactory, document: Any) -> None:
    _check_valid(tmp_path_factory.mktemp("valid"), document)


@pytest.mark.slow
@THOROUGH
@given(document=valid_manifests())
def test_many_manifests_generated_from_the_models_load(
    tmp_path_factory: pytest.TempPathFactory, document: Any
) -> None:
    _check_valid(tmp_path_factory.mktemp("valid"), document)


# Mutations of valid manifests: what an editor, a merge or a careless paste does to a file.
_SEEDS = [
    (CORPUS / "bom-utf8.yaml").read_bytes()[3:].decode(),
    (ROOT / "tests" / "manifests" / "good" / "main.yaml").read_text(encoding="utf-8"),
    *(path.read_text(encoding="utf-8") for path in sorted((ROOT / "examples" / "manifests").glob("*.yaml"))),
]
_YAML_CHARACTERS = [*":-[]{}#&*!|>'\"%@`,?~ \t\n\r", "\ufeff", "\u2028", "\x85", "\x00", "é", "a", "1", "."]
_VALUES = ["123", "true", "yes", "[a, b]", "{a: 1}", "null", "~", "''", '""', "1:30", "0755", ".inf", "&a x",
           "*a", "!!str x", "!custom x", "|", ">-", "- x", "[", "{", "'", '"', "? x", "<<: *a", "1e999",
           "9" * 500]  # fmt: skip


def _delete(draw: st.DrawFn, text: str) -> str:
    start = draw(st.integers(0, len(text)))
    return text[:start] + text[start + draw(st.integers(1, 12)) :]


def _insert(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(st.text(st.sampled_from(_YAML_CHARACTERS), min_size=1, max_size=6)) + text[at:]


def _replace(draw: st.DrawFn, text: str) -> str:
    at = draw(st.integers(0, max(len(text) - 1, 0)))
    replacement: str = draw(st.sampled_from(_YAML_CHARACTERS))
    return text[:at] + replacement + text[at + 1 :]


def _lines_op(change: Callable[[st.DrawFn, list[str], int], None]) -> Callable[[st.DrawFn, str], str]:
    def mutate(draw: st.DrawFn, text: str) -> str:
        lines = text.split("\n")
        change(draw, lines, draw(st.integers(0, len(lines) - 1)))
        return "\n".join(lines)

    return mutate


def _swap_value(draw: st.DrawFn, lines: list[str], index: int) -> None:
    head, colon, _ = lines[index].partition(": ")
    if colon:
        lines[index] = f"{head}: {draw(st.sampled_from(_VALUES))}"


def _duplicate(draw: st.DrawFn, lines: list[str], index: int) -> None:
    lines.insert(index + draw(st.integers(0, 3)), lines[index])


def _reindent(draw: st.DrawFn, lines: list[str], index: int) -> None:
    shift = draw(st.sampled_from(["", " ", "  ", "\t", "   "]))
    lines[index] = shift + lines[index] if draw(st.booleans()) else lines[index][len(shift) :]


_MUTATIONS = [_delete, _insert, _replace, _lines_op(_swap_value), _lines_op(_duplicate), _lines_op(_reindent)]


@st.composite
def mutated_manifests(draw: st.DrawFn) -> bytes:
    text = draw(st.one_of(st.sampled_from(_SEEDS), valid_manifests().map(_dump)))
    for _ in range(draw(st.integers(1, 4))):
        text = draw(st.sampled_from(_MUTATIONS))(draw, text)
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:  # now and then, bytes that are not UTF-8
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
    return data


def _check_outcome(tmp_path: Path, data: bytes) -> None:
    """Loading gives a state or an InputError whose every diagnostic is located in the file."""
    manifest = tmp_path / "mutated.yaml"
    manifest.write_bytes(data)
    try:
        load_manifests([manifest])
    except InputError as exc:
        assert exc.diagnostics
        for diagnostic in exc.diagnostics:
            location = diagnostic.location
            assert location.file == str(manifest) and location.line >= 1 and location.column >= 1, diagnostic
            assert diagnostic.message


@FAST
@given(data=mutated_manifests())
def test_mutated_manifests_load_or_fail_with_located_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    with time_limit(CASE_SECONDS):
        _check_outcome(tmp_path_factory.mktemp("mutated"), data)


@settings(max_examples=40, deadline=None, suppress_health_check=_CHECKS)
@given(data=mutated_manifests())
def test_mutated_manifests_through_the_cli(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    manifest = tmp_path_factory.mktemp("cli") / "mutated.yaml"
    manifest.write_bytes(data)
    with time_limit(CASE_SECONDS):
        code, _, err = validate(manifest)
    assert_clean(code, err, manifest)


@pytest.mark.slow
@THOROUGH
@given(data=mutated_manifests())
def test_many_mutated_manifests_load_or_fail_with_located_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    with time_limit(CASE_SECONDS):
        _check_outcome(tmp_path_factory.mktemp("mutated"), data)


def test_an_escape_naming_no_unicode_character_is_a_located_yaml_error(tmp_path: Path) -> None:
    """Found by the mutation test: PyYAML calls chr() on "\\U10001000" unchecked (a ValueError, not a YAML
    error), which used to end in an internal error."""
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text('apiVersion: nbjobs/v1\nkind: Jobs\njobs:\n  - match: "a.A"\n    grouping: "\\U10001000"\n')
    code, _, err = validate(manifest)
    assert code == 1 and "Internal error" not in err
    assert f"{manifest}:5:" in err and "found an escape that names no Unicode character" in err
