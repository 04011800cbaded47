"""Crashes mid-apply (issue 15) on SQLite, PostgreSQL and MariaDB.

A large apply (faults_support.Workload: 1,000 jobs, a new queue, a retirement and the purge of 2,000
results in 4 batches) runs as `nbjobs apply` in a subprocess and is killed with SIGKILL: at each named
fault point (reconciler.faults: the lock taken, after each write statement, before the commit, after it,
inside and after each purge batch; on PostgreSQL and MariaDB at three of the write statements and inside
one purge batch), and at random times. After each kill:
- the database is exactly the before state, or exactly the after state, or the after state with a whole
  number of purge batches done (row by row against an uninterrupted run's; see faults_support.Canon);
- the lock is free: the next apply takes it with --lock-timeout 0 (the lock is the database's or the
  kernel's, released with the dead process: there is nothing stale to take over);
- that next apply completes the work: the database is then exactly the uninterrupted run's after state,
  and the history holds the changes once. It runs after every kill that left more than the before state
  and after a few that left it; after the other kills that left the exact before state (from which the
  uninterrupted run is known to finish) the lock is checked free.

`make test` runs three kill points on SQLite and PostgreSQL at 100 jobs; the whole matrix is slow.
"""

from __future__ import annotations

import io
import json
import random
import resource
import subprocess
import time
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pytest
from common import ENGINES, clear_settings_environment, time_limit
from faults_support import (
    LOCK_TABLE,
    RESULT_TABLES,
    Canon,
    Databases,
    Dump,
    Finished,
    Row,
    Workload,
    differences,
    dump,
    finish,
    nbjobs,
)
from sqlalchemy import MetaData

from reconciler.apply.lock import Holder, LockHeldError, locked_transaction
from reconciler.cli import main

BEFORE, AFTER, FINISHED = "before", "after", "finished before the kill"
# The workload's write statements (apply.write) at which the engines other than SQLite are killed: the
# first, one in the middle and the last (SQLite's matrix counts them, and fails when they change).
WRITES_SAMPLED = (1, 4, 8)


class KillMatrix:
    """One engine: the before state (`golden`), an uninterrupted run's after state, and
    trials, each on a fresh copy of the before state, killed, checked, recovered and checked again."""

    def __init__(self, engine_name: str, workdir: Path, jobs: int, results: int, batch_size: int) -> None:
        self.engine_name = engine_name
        self.workload = Workload(workdir, jobs, results, batch_size)
        self.databases = Databases(engine_name, workdir)
        self.databases.create("golden")
        engine = self.databases.engine("golden")
        try:
            self.workload.build(engine)
            self.tables = MetaData()
            self.tables.reflect(engine)
            self.before = dump(engine, self.tables)
        finally:
            engine.dispose()
        self.canon = Canon(self.before)
        self._canon_after: dict[tuple[str, ...], Dump] = {}
        # The uninterrupted run, on the database every trial uses (the history records its name).
        self.databases.reset("golden", "trial")
        started = time.perf_counter()
        done = finish(nbjobs(self.workload.apply_argv(self.databases.url_text("trial"), "--quiet")))
        self.seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stderr
        self.after = self._dump("trial")
        assert not self.after["extras_jobresult"] and len(self.before["extras_jobresult"]) == results
        self.states: list[tuple[str, str]] = []  # (kill point, the state it left)
        self.recovered = 0  # kills after which the next apply ran (the others: the lock checked free)
        self.problems: list[str] = []

    def close(self) -> None:
        self.databases.close()

    def kill_at(self, point: str, *, recover: bool = False) -> Finished:
        """A trial killed at a named fault point (NAME or NAME:N); returns how the killed run ended. The next
        apply runs after every kill that left anything but the before state, and after this one if `recover`."""
        return self._trial(point, {"NBJOBS_FAULT_POINT": point}, None, recover)

    def kill_after(self, seconds: float, *, recover: bool = False) -> Finished:
        return self._trial(f"SIGKILL at {seconds:.2f} s", {}, seconds, recover)

    def _trial(self, label: str, environment: dict[str, str], seconds: float | None, recover: bool) -> Finished:
        self.databases.reset("golden", "trial")
        url = self.databases.url_text("trial")
        process = nbjobs(self.workload.apply_argv(url, "--quiet"), environment)
        if seconds is not None:
            try:
                process.wait(timeout=seconds)
            except subprocess.TimeoutExpired:
                process.kill()
        ended = finish(process)
        if not ended.killed and ended.returncode != 0:
            self.problems.append(f"{label}: the run failed instead of dying: {ended.stderr.strip()}")
        state = self._state(self._dump("trial"))
        if not ended.killed:  # it finished first: then it must have done everything
            if state != AFTER:
                self.problems.append(f"{label}: the run finished but left {state}")
            state = FINISHED
        self.states.append((label, state))
        if state.startswith("neither"):
            self.problems.append(f"{label}: {state}")
            return ended
        if ended.killed and (recover or state != BEFORE):
            self._recover(label, url, state)
            self.recovered += 1
        elif ended.killed:
            self._lock_is_free(label)
        return ended

    def _lock_is_free(self, label: str) -> None:
        """The kill left exactly the before state, from which the uninterrupted run finishes; what the dead
        apply can have left besides is its lock's holder record (or file): the lock must still be free."""
        engine = self.databases.engine("trial")
        try:
            with locked_transaction(engine, Holder.this_process(datetime.now(UTC), None, "kill test"), 0.0):
                pass
        except LockHeldError as exc:
            self.problems.append(f"{label}: the lock is not free after the kill: {exc}")
        finally:
            engine.dispose()

    def canon_after(self, leave_out: tuple[str, ...]) -> Dump:
        """The uninterrupted run's after state, made canonical once for each set of tables left out."""
        if leave_out not in self._canon_after:
            self._canon_after[leave_out] = self.canon(self.after, leave_out)
        return self._canon_after[leave_out]

    def _dump(self, name: str) -> Dump:
        engine = self.databases.engine(name)
        try:
            return dump(engine, self.tables)
        finally:
            engine.dispose()

    def _state(self, now: Dump) -> str:
        """before, after, `after the commit, K of N purge batches done`, or `neither: what differs`."""
        if _without(now, LOCK_TABLE) == _without(self.before, LOCK_TABLE):
            return BEFORE
        rest = (LOCK_TABLE, "nbjobs_apply", *RESULT_TABLES)
        off = differences(self.canon(now, rest), self.canon_after(rest))
        history = ("nbjobs_apply",)
        if _history(self.canon(_only(now, history))) != _history(self.canon(_only(self.after, history))):
            off.append(f"nbjobs_apply: {now['nbjobs_apply']}")
        kept = {row["id"]: row for row in self.before["extras_jobresult"]}
        left = {row["id"] for row in now["extras_jobresult"]}
        purged, size = len(kept) - len(left), self.workload.batch_size
        if not left <= set(kept) or (left and purged % size):
            off.append(f"{len(left)} results left, not a whole number of batches of {size} purged")
        elif [{**kept[i], "job_model_id": None} for i in sorted(left)] != [
            row for row in sorted(now["extras_jobresult"], key=lambda r: r["id"])
        ]:
            off.append("the results left are not the ones before, unlinked from the deleted job")
        for table in ("extras_joblogentry", "extras_jobconsoleentry"):
            if now[table] != [row for row in self.before[table] if row["job_result_id"] in left]:
                off.append(f"{table}: not exactly the entries of the results left")
        if sorted(row["result_id"] for row in now["nbjobs_retired_result"]) != sorted(left):
            off.append("nbjobs_retired_result: not exactly the results left to purge")
        if off:
            return "neither: " + "; ".join(off)
        if not left:
            return AFTER
        return f"after the commit, {purged // size} of {self.workload.purge_batches} purge batches done"

    def _recover(self, label: str, url: str, state: str) -> None:
        """The next apply, at once (--lock-timeout 0): it must take the lock and finish the work."""
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            code = main(self.workload.apply_argv(url, "--lock-timeout", "0", "--quiet"))
        if code != 0:
            self.problems.append(f"{label}: the next apply failed: {err.getvalue().strip()}")
            return
        final = self._dump("trial")
        rest = (LOCK_TABLE, "nbjobs_apply")
        off = differences(self.canon(final, rest), self.canon_after(rest))
        history = final["nbjobs_apply"]
        changes = [row for row in history if json.loads(row["counts"])["operations"]]
        if len(changes) != 1 or changes[0]["outcome"] != "applied":
            off.append(f"the history should hold the changes once: {history}")
        if len(history) != (1 if state == BEFORE else 2) or {r["outcome"] for r in history} - {"applied", "no-changes"}:
            off.append(f"history: {[(r['outcome'], r['message']) for r in history]}")
        if any(row["state"] != "released" for row in final.get(LOCK_TABLE, [])):
            off.append(f"lock record after the next apply: {final[LOCK_TABLE]}")
        lock_file = Path(f"{self.databases.url('trial').database}.nbjobs-lock.json")
        if self.engine_name == "sqlite" and lock_file.exists():
            off.append("the lock file is left after the next apply")
        if off:
            self.problems.append(f"{label} ({state}), after the next apply: " + "; ".join(off))

    def tally(self) -> str:
        counts = Counter(state.split(",")[0] if state.startswith("after the commit") else state for _, state in
                         self.states)  # fmt: skip
        kills = len(self.states) - counts[FINISHED]
        return f"{self.engine_name}: {kills} kills: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def _only(tables: Dump, names: tuple[str, ...]) -> Dump:
    return {k: v for k, v in tables.items() if k in names}


def _without(tables: Dump, name: str) -> Dump:
    return {k: v for k, v in tables.items() if k != name}


def _history(tables: Dump) -> list[Row]:
    """The history rows, without the purge's count (noted after the last batch, in a transaction of its own)."""
    rows = []
    for row in tables["nbjobs_apply"]:
        counts = json.loads(row["counts"])
        counts.pop("results_purged", None)
        rows.append({**row, "counts": counts})
    return rows


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that ended (the database servers' is not counted)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings_environment(monkeypatch)
    monkeypatch.delenv("NBJOBS_FAULT_POINT", raising=False)


def _named_points(matrix: KillMatrix, *, every_hit: bool) -> int:
    """Kill at every named fault point. With `every_hit`, `apply.write` at each of its hits, found by going
    on until a run passes the last one (that run, not killed, must leave the after state), and
    `purge.before-commit` in each batch; else at WRITES_SAMPLED and in the second batch. Returns the
    write statements counted (0 when sampled)."""
    matrix.kill_at("apply.locked", recover=True)
    writes = 0
    if every_hit:
        while matrix.kill_at(f"apply.write:{writes + 1}").killed:
            writes += 1
            assert writes < 50, "apply.write fires more often than there are write statements"
    else:
        for hit in WRITES_SAMPLED:
            assert matrix.kill_at(f"apply.write:{hit}").killed, f"fewer than {hit} write statements"
    matrix.kill_at("apply.before-commit", recover=True)
    matrix.kill_at("apply.committed")
    for batch in range(1, matrix.workload.purge_batches + 1):
        if every_hit or batch == 2:
            matrix.kill_at(f"purge.before-commit:{batch}")
        matrix.kill_at(f"purge.batch:{batch}")
    return writes


@pytest.mark.database
@pytest.mark.parametrize("engine_name", [e for e in ("sqlite", "postgresql") if e in ENGINES])
def test_killed_at_named_points_the_database_is_before_or_after_and_the_next_run_finishes(
    engine_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean(monkeypatch)
    with time_limit(60):
        matrix = KillMatrix(engine_name, tmp_path, jobs=100, results=200, batch_size=50)
        try:
            expected = []
            for point, state in (("apply.write:2", BEFORE), ("apply.before-commit", BEFORE),
                                 ("purge.batch:2", "after the commit, 2 of 4 purge batches done")):  # fmt: skip
                assert matrix.kill_at(point, recover=True).killed, point
                expected.append((point, state))
            assert matrix.states == expected and not matrix.problems, matrix.problems
        finally:
            matrix.close()


@pytest.mark.slow
@pytest.mark.database
@pytest.mark.parametrize("engine_name", ENGINES)
def test_the_kill_matrix_at_1000_jobs(engine_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every named point, and random times over the run (from 40% in, past nbjobs' start-up and most of
    its planning). SQLite is killed at each hit of each point; PostgreSQL and MariaDB, whose runs take
    longer, at each point but at three of the write statements and in one purge batch's transaction (the
    same code runs at every hit; what differs by engine is the transaction under it). The next apply
    runs after each kill that left more than the before state, and after three that left it (at
    apply.locked, apply.before-commit and the first random time)."""
    _clean(monkeypatch)
    every_hit = engine_name == "sqlite"
    random_kills = 4 if every_hit else 2
    with time_limit(900):
        matrix = KillMatrix(engine_name, tmp_path, jobs=1000, results=2000, batch_size=500)
        try:
            started, cpu = time.perf_counter(), _cpu_seconds()
            writes = _named_points(matrix, every_hit=every_hit)
            if every_hit:
                assert matrix.states[writes + 1] == (f"apply.write:{writes + 1}", FINISHED)
                assert writes == WRITES_SAMPLED[-1], f"{writes} write statements: WRITES_SAMPLED needs updating"
            named = sum(state != FINISHED for _, state in matrix.states)
            rng = random.Random(f"kill-matrix-{engine_name}")
            for n, seconds in enumerate(sorted(rng.uniform(0.4, 0.95) * matrix.seconds for _ in range(random_kills))):
                matrix.kill_after(seconds, recover=n == 0)
            counted = f"{writes} write statements" if every_hit else f"writes {', '.join(map(str, WRITES_SAMPLED))}"
            print(f"\n{matrix.tally()}; {named} named ({counted}), {random_kills} random; the next apply ran after "
                  f"{matrix.recovered}; an uninterrupted apply takes {matrix.seconds:.1f} s; the matrix took "
                  f"{time.perf_counter() - started:.0f} s, {_cpu_seconds() - cpu:.0f} s of CPU in this process and its "
                  "children")  # fmt: skip
            for point, state in matrix.states:
                print(f"  {point}: {state}")
            assert not matrix.problems, "\n".join(matrix.problems)
            states = dict(matrix.states)
            assert states["apply.locked"] == states["apply.before-commit"] == states["apply.write:1"] == BEFORE
            assert states["apply.committed"] == "after the commit, 0 of 4 purge batches done"
            assert states["purge.before-commit:2"] == "after the commit, 1 of 4 purge batches done"
            assert states["purge.batch:3"] == "after the commit, 3 of 4 purge batches done"
            assert states["purge.batch:4"] == AFTER
        finally:
            matrix.close()
