"""Queue preflight with real components: which queues the desired state routes to (pure), the pod
manifest Nautobot would use (files), real Celery workers on this machine's Redis and RabbitMQ, a real
kube-apiserver 1.20 (tests/k8s), `nbjobs preflight` and `plan --preflight` end to end on a SQLite
sandbox of the examples, and the loop recording readiness with its run and the nbjobs_queue_workers metric.

Every process a test starts (Celery workers) runs in its own session, writes its output to a file under
tmp_path, is stopped (SIGTERM, then SIGKILL to its process group) when the test ends however it ends,
and has its log's tail printed on failure. Each Redis test uses its own database (12 to 14, flushed
before and after); on RabbitMQ (the default vhost) queue names carry a per-test token and are deleted
afterwards. A test that runs over TEST_SECONDS is failed by an alarm.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
from builders import code, desired, entry, queue, queue_spec, record, snapshot
from common import EXAMPLES, time_limit
from k8s.apiserver import JOBS_NAMESPACE, RESTRICTED_USER, ApiServer
from k8s.fixture import kube_apiserver  # noqa: F401
from loop_support import Remote, build, jobs_root_without_legacy, settings_for
from sqlalchemy import URL

from reconciler.cli import main
from reconciler.diagnostics import Location
from reconciler.discovery.types import Discovery
from reconciler.loop.metrics import RunCollector
from reconciler.loop.tick import dispose_engines, engine_for, run_tick
from reconciler.manifest.types import RetireEntry
from reconciler.nautobot.connect import DatabaseTarget
from reconciler.nautobot.records import Snapshot
from reconciler.plan.operations import CreateQueue, JobRef, Plan, Provenance, SetField, Verdict
from reconciler.plan.planner import plan
from reconciler.plan.queues import queue_uses
from reconciler.preflight.celery import BrokerUnreachableError, workers_by_queue
from reconciler.preflight.check import run_preflight
from reconciler.preflight.kubernetes import (
    PREFLIGHT_RESULT_ID,
    Cluster,
    KubernetesSettings,
    find_manifest,
    job_problem,
    nautobot_job,
)
from reconciler.preflight.types import PreflightReport, QueueUse, Readiness
from reconciler.state.runs import recent_runs

BIN = Path(sys.executable).parent
CELERY = str(BIN / "celery")
REDIS = "redis://127.0.0.1:6379"
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"
UNREACHABLE = "redis://127.0.0.1:1/0"
HOST = socket.gethostname()
JOBS = str(EXAMPLES / "jobs")
MANIFESTS = str(EXAMPLES / "manifests")
JOB_QUEUES = EXAMPLES / "kubernetes" / "job-queues"
HEAVY_MANIFEST = JOB_QUEUES / "heavy" / "manifest.json"
TEST_SECONDS = 55
T = TypeVar("T")


def valid_job(image: str = "busybox:1.36") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "placeholder", "labels": {"app": "nautobot-job"}},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
                                                         "containers": [{"name": "job", "image": image}]}}},
    }  # fmt: skip


# --- Harness: a hard per-test time limit, worker processes, waiting ----------------------------------------------


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    with time_limit(TEST_SECONDS):
        yield


class Workers:
    """Celery workers started as a user would (`celery -b URL worker ...`), each in a session of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.started: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        root.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, broker: str, queues: list[str]) -> None:
        log = self.root / f"{name}.log"
        argv = [CELERY, "-b", broker, "worker", "-Q", ",".join(queues), "--pool", "solo", "-n", f"{name}@%h",
                "--without-mingle", "--without-gossip", "--loglevel", "INFO"]  # fmt: skip
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                     cwd=self.root, start_new_session=True)  # fmt: skip
        self.started.append((name, popen, log))

    def tails(self, lines: int = 30) -> str:
        parts = []
        for name, popen, log in self.started:
            text = log.read_text(errors="replace") if log.exists() else ""
            tail = "\n".join(text.splitlines()[-lines:])
            parts.append(f"\n--- worker {name} (pid {popen.pid}, exit {popen.poll()}) {log}:\n{tail}\n")
        return "".join(parts)

    def dead(self) -> list[str]:
        return [name for name, popen, _ in self.started if popen.poll() is not None]

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown), then SIGKILL, to each worker's own process group."""
        for _name, popen, _log in reversed(self.started):
            if popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
                try:
                    popen.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with suppress(ProcessLookupError):
                        os.killpg(popen.pid, signal.SIGKILL)
                    popen.wait(timeout=10)
            with suppress(ProcessLookupError, PermissionError):  # anything the leader left behind
                os.killpg(popen.pid, signal.SIGKILL)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    started = Workers(tmp_path / "workers")
    try:
        yield started
    finally:
        try:
            started.stop()
        finally:
            print(started.tails())  # pytest shows a test's captured output only when it fails


def wait_for(what: str, probe: Callable[[], T | None], workers: Workers, timeout: float = 25.0) -> T:
    """probe() until it returns something truthy; fails early, with the logs, when a worker died."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if workers.dead():
            pytest.fail(f"worker(s) {workers.dead()} exited while waiting for {what}{workers.tails()}")
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"{what}: not within {timeout:.0f} s (last: {last!r}){workers.tails()}")


def answering(broker: str, expected: dict[str, int]) -> Callable[[], dict[str, tuple[str, ...]] | None]:
    """A probe: the broker's answer once every queue in `expected` has that many workers."""

    def probe() -> dict[str, tuple[str, ...]] | None:
        found = workers_by_queue(broker, 1.0)
        return found if all(len(found.get(q, ())) == n for q, n in expected.items()) else None

    return probe


@contextmanager
def redis_db(number: int) -> Iterator[str]:
    client = redis.Redis.from_url(f"{REDIS}/{number}")
    client.flushdb()
    try:
        yield f"{REDIS}/{number}"
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def cluster(kube_apiserver: ApiServer) -> Iterator[ApiServer]:  # noqa: F811
    """The session's API server; its log tails are printed when the test fails."""
    yield kube_apiserver
    print(kube_apiserver.log_tails())


def k8s(server: ApiServer, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """An admin call that must succeed (201/200, or 409: it exists from an earlier test of the session)."""
    status, answer = server.request(method, path, body)
    assert status in (200, 201, 409), f"{method} {path}: HTTP {status}: {answer}"
    return answer if isinstance(answer, dict) else {}


def grant(server: ApiServer, namespace: str, name: str, rules: list[dict[str, Any]], user: str) -> None:
    """A Role with `rules` in `namespace`, bound to `user`."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name}, "rules": rules}
    k8s(server, "POST", f"{rbac}/namespaces/{namespace}/roles", role)
    k8s(server, "POST", f"{rbac}/namespaces/{namespace}/rolebindings",
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})  # fmt: skip


def heavy(settings: KubernetesSettings, name: str = "heavy") -> PreflightReport:
    return run_preflight([QueueUse(name, "kubernetes", ("audits.DeviceAudit",))], None, settings)


def checks_of(report: PreflightReport) -> dict[str, bool | None]:
    return {c.name: c.ok for c in report.queues[0].checks}


# --- queue_uses: which queues the desired state routes to, once the plan is applied (pure) ------------------------

AUDIT, BACKUP = "audits.DeviceAudit", "audits.ConfigBackup"


def _uses(manifest: Any, shot: Snapshot, discovery: Discovery) -> dict[str, QueueUse]:
    return {use.name: use for use in queue_uses(manifest, shot, plan(manifest, discovery, shot))}


def test_a_planned_default_queue_counts_on_the_new_queue_not_the_old_one() -> None:
    manifest = desired(entry(AUDIT, default_job_queue="heavy", job_queues=("heavy",)), entry(BACKUP, enabled=True),
                       queues=(queue_spec("heavy", "kubernetes"),))  # fmt: skip
    shot = snapshot(record(AUDIT), record(BACKUP))  # both on "default" in the database
    uses = _uses(manifest, shot, Discovery((code(AUDIT), code(BACKUP))))
    assert uses["heavy"] == QueueUse("heavy", "kubernetes", (AUDIT,), (AUDIT,))
    # AUDIT has left "default" (default and eligible); BACKUP, unchanged by the plan, still counts there.
    assert uses["default"] == QueueUse("default", "celery", (BACKUP,), (BACKUP,))
    assert uses["heavy"].jobs == (AUDIT,)


def test_eligible_queues_count_without_being_the_default() -> None:
    manifest = desired(entry(AUDIT, job_queues=("default", "bulk")), queues=(queue_spec("bulk"),))
    uses = _uses(manifest, snapshot(record(AUDIT), queues=("default", "bulk")), Discovery((code(AUDIT),)))
    assert uses["bulk"] == QueueUse("bulk", "celery", (), (AUDIT,))
    assert uses["default"] == QueueUse("default", "celery", (AUDIT,), (AUDIT,))


def test_declared_queues_count_with_no_job_yet() -> None:
    manifest = desired(entry(AUDIT, enabled=True), queues=(queue_spec("spare", "kubernetes"), queue_spec("idle")))
    uses = _uses(manifest, snapshot(record(AUDIT)), Discovery((code(AUDIT),)))
    assert list(uses) == ["default", "idle", "spare"]  # sorted by name
    assert uses["spare"] == QueueUse("spare", "kubernetes")
    assert uses["idle"] == QueueUse("idle", "celery")
    assert uses["spare"].jobs == ()


def test_retiring_unmanaged_and_uninstalled_jobs_do_not_count() -> None:
    old, other, gone = "legacy.OldImport", "other.Unmanaged", "audits.Removed"
    manifest = desired(entry(AUDIT, enabled=True), entry("legacy.*", enabled=False), entry(gone, enabled=True),
                       retire=(RetireEntry(old, Location("retire.yaml", 3, 5)),))  # fmt: skip
    shot = snapshot(record(AUDIT), record(old, default="old-q", eligible=("old-q",)),
                    record(other, default="other-q", eligible=("other-q",)),
                    record(gone, installed=False, default="gone-q", eligible=("gone-q",)),
                    queues=("default", "old-q", "other-q", "gone-q"))  # fmt: skip
    result = plan(manifest, Discovery((code(AUDIT), code(other))), shot)
    uses = {use.name: use for use in queue_uses(manifest, shot, result)}
    assert list(uses) == ["default"]
    assert uses["default"].jobs == (AUDIT,)


def test_queue_types_come_from_the_snapshot_the_manifests_and_the_plans_created_queues() -> None:
    shot = Snapshot(queues=(queue("default"), queue("gpu", "kubernetes"), queue("bulk")),
                    jobs=(record(AUDIT, default="gpu", eligible=("gpu", "bulk")),), database="test")  # fmt: skip
    # The manifests turn bulk into a Kubernetes queue (an UpdateQueue): their type wins over the row's.
    manifest = desired(entry(AUDIT, enabled=True), queues=(queue_spec("bulk", "kubernetes"),))
    result = plan(manifest, Discovery((code(AUDIT),)), shot)
    uses = {use.name: use for use in queue_uses(manifest, shot, result)}
    assert (uses["gpu"].queue_type, uses["bulk"].queue_type) == ("kubernetes", "kubernetes")
    # A queue only the plan knows (a CreateQueue op, the job moved onto it) has the op's type.
    job = shot.jobs[0]
    ref = JobRef(job.id, AUDIT, "DeviceAudit")
    moves = (CreateQueue("gpu2", "kubernetes", "", "job code"),
             SetField(ref, "default_job_queue", "gpu", "gpu2", False, True, Verdict.SET_OVERRIDE,
                      Provenance(None, "gpu", False)),
             SetField(ref, "job_queues", ("bulk", "gpu"), ("gpu2",), False, True, Verdict.SET_OVERRIDE,
                      Provenance(None, ("bulk", "gpu"), False)))  # fmt: skip
    moved = {use.name: use for use in queue_uses(desired(entry(AUDIT, enabled=True)), shot, Plan(moves))}
    assert moved == {"gpu2": QueueUse("gpu2", "kubernetes", (AUDIT,), (AUDIT,))}
    # Unknown everywhere: Nautobot's default queue type.
    assert queue_uses(desired(), Snapshot(), Plan(())) == ()


def test_queues_created_from_job_code_are_typed_by_the_create_op() -> None:
    db = record(AUDIT, overrides=frozenset({"job_queues", "default_job_queue"}), default="bulk", eligible=("bulk",))
    manifest = desired(entry(AUDIT, enabled=False))
    shot = snapshot(db, queues=("default", "bulk"))
    result = plan(manifest, Discovery((code(AUDIT, task_queues=("fast", "default")),)), shot)
    assert [(op.name, op.queue_type) for op in result.operations if isinstance(op, CreateQueue)] == [("fast", "celery")]
    uses = {use.name: use for use in queue_uses(manifest, shot, result)}
    assert uses["fast"] == QueueUse("fast", "celery", (AUDIT,), (AUDIT,))
    assert "bulk" not in uses  # released: the job is back on its code's queues


# --- find_manifest, job_problem, nautobot_job ---------------------------------------------------------------------


def _settings(tmp_path: Path, **more: Any) -> KubernetesSettings:
    values: dict[str, Any] = {"job_queue_path": tmp_path / "job-queues", "environ": {}, **more}
    return KubernetesSettings(**values)


def test_a_per_queue_manifest_overrides_the_global_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path, job_manifest=valid_job("global:1"))
    per_queue = tmp_path / "job-queues" / "heavy" / "manifest.json"
    per_queue.parent.mkdir(parents=True)
    per_queue.write_text(json.dumps(valid_job("per-queue:1")))
    found = find_manifest("heavy", settings)
    assert (found.source, found.problem) == (str(per_queue), None)
    assert found.body is not None and found.body["spec"]["template"]["spec"]["containers"][0]["image"] == "per-queue:1"
    other = find_manifest("light", settings)
    assert (other.source, other.problem) == ("KUBERNETES_JOB_MANIFEST", None)
    assert other.body == valid_job("global:1")


def test_a_queue_name_escaping_job_queue_path_is_not_read_there(tmp_path: Path) -> None:
    base = tmp_path / "job-queues"
    base.mkdir()
    outside = tmp_path / "x" / "manifest.json"  # what job-queues/../x/manifest.json resolves to
    outside.parent.mkdir()
    outside.write_text(json.dumps(valid_job("outside:1")))
    found = find_manifest("../x", _settings(tmp_path, job_manifest=valid_job("global:1")))
    assert found.source == "KUBERNETES_JOB_MANIFEST" and found.body == valid_job("global:1")
    # Without a global manifest there is none at all, rather than the file outside.
    assert find_manifest("../x", _settings(tmp_path)).body is None
    # A symlink inside that points outside is not followed either.
    (base / "link").symlink_to(outside.parent, target_is_directory=True)
    assert find_manifest("link", _settings(tmp_path)).body is None


def test_invalid_json_is_located_by_path_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "job-queues" / "heavy" / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text('{\n  "apiVersion": "batch/v1",\n  "kind": Job\n}\n')
    found = find_manifest("heavy", _settings(tmp_path, job_manifest=valid_job()))
    assert found.body is None and found.source == str(path)
    assert found.problem is not None and found.problem.startswith(f"{path}:3:11: not JSON: ")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], "not a JSON object"),
        ({"apiVersion": "v1", "kind": "Pod", "spec": {}}, "'v1' 'Pod', not a batch/v1 Job"),
        ({"apiVersion": "batch/v1beta1", "kind": "CronJob"}, "not a batch/v1 Job"),
        ({"apiVersion": "batch/v1", "kind": "Job"}, "no spec.template.spec.containers[0]"),
        ({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": []}}}},
         "no spec.template.spec.containers[0]"),
        ({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": None}}},
         "no spec.template.spec.containers[0]"),
        ({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": {"containers": ["x"]}}}},
         "no spec.template.spec.containers[0]"),
        ({**valid_job(), "metadata": None}, "metadata is not an object"),
    ],
    ids=["array", "pod", "cronjob", "no-spec", "no-containers", "null-pod-spec", "container-not-object",
         "null-metadata"],
)  # fmt: skip
def test_a_manifest_that_is_not_a_job_with_containers_is_a_problem(tmp_path: Path, body: object, expected: str) -> None:
    problem = job_problem(body)
    assert problem is not None and expected in problem
    path = tmp_path / "job-queues" / "q" / "manifest.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(body))
    found = find_manifest("q", _settings(tmp_path))
    assert found.problem == problem and found.source == str(path)
    assert job_problem(valid_job()) is None


def test_no_manifest_at_all_names_both_places(tmp_path: Path) -> None:
    found = find_manifest("heavy", _settings(tmp_path))
    assert found.body is None
    assert found.problem == (f"no pod manifest: neither {tmp_path / 'job-queues' / 'heavy' / 'manifest.json'} nor "
                             "KUBERNETES_JOB_MANIFEST is set")  # fmt: skip
    checks = Cluster.connect(_settings(tmp_path)).checks("heavy")
    assert [(c.name, c.ok) for c in checks] == [("manifest", False)]


def test_nautobot_job_names_the_job_and_sets_the_command_exactly() -> None:
    body = valid_job()
    body["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy:1", "command": ["x"]})
    settings = KubernetesSettings(pod_name="nb-job", settings_path="/opt/nautobot/nautobot_config.py", environ={})
    before = copy.deepcopy(body)
    job = nautobot_job(body, settings)
    assert job["metadata"]["name"] == f"nb-job-{PREFLIGHT_RESULT_ID}"
    assert job["metadata"]["labels"] == {"app": "nautobot-job"}
    containers = job["spec"]["template"]["spec"]["containers"]
    assert containers[0]["command"] == ["nautobot-server", "runjob_with_job_result", str(PREFLIGHT_RESULT_ID),
                                        "--config=/opt/nautobot/nautobot_config.py", "--data", "{}"]  # fmt: skip
    assert containers[1]["command"] == ["x"]  # only the first container is Nautobot's
    assert body == before  # the manifest itself is left as it is (Nautobot deep-copies it too)
    nameless = valid_job()
    del nameless["metadata"]
    assert nautobot_job(nameless, KubernetesSettings(environ={}))["metadata"] == {
        "name": f"nautobot-job-{PREFLIGHT_RESULT_ID}"
    }


# --- Celery: real workers on Redis and on RabbitMQ ----------------------------------------------------------------


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(broker URL, a token for queue names): Redis database 12, or RabbitMQ's default vhost."""
    token = uuid.uuid4().hex[:8]
    if request.param == "redis":
        with redis_db(12) as url:
            yield url, token
        return
    yield RABBITMQ, token
    from kombu import Connection

    with Connection(RABBITMQ, connect_timeout=5) as connection:  # the workers' queues are durable: remove them
        channel = connection.default_channel
        for name in ("q1", "q2"):
            with suppress(Exception):
                channel.queue_delete(f"{name}-{token}")


def test_workers_by_queue_and_readiness_on_a_real_broker(broker: tuple[str, str], workers: Workers) -> None:
    url, token = broker
    q1, q2, q3 = (f"{name}-{token}" for name in ("q1", "q2", "q3"))
    workers.start("w1", url, [q1, q2])
    workers.start("w2", url, [q2])
    found = wait_for("both workers answering inspect", answering(url, {q1: 1, q2: 2}), workers)
    assert found[q1] == (f"w1@{HOST}",)
    assert found[q2] == (f"w1@{HOST}", f"w2@{HOST}")
    assert q3 not in found

    uses = [QueueUse(q1, "celery", ("a.A",)), QueueUse(q2, "celery", (), ("a.A", "b.B")), QueueUse(q3, "celery")]
    report = run_preflight(uses, url, KubernetesSettings(environ={}), broker_display="the broker", timeout=1.0)
    by_name = {q.use.name: q for q in report.queues}
    assert [q.use.name for q in report.queues] == [q1, q2, q3]  # in the order of the uses
    assert (by_name[q1].readiness, by_name[q1].workers) == (Readiness.READY, (f"w1@{HOST}",))
    assert (by_name[q2].readiness, by_name[q2].workers) == (Readiness.READY, (f"w1@{HOST}", f"w2@{HOST}"))
    assert by_name[q2].summary == f"2 workers: w1@{HOST}, w2@{HOST}"
    assert by_name[q3].readiness is Readiness.NOT_READY and by_name[q3].workers == ()
    assert "CeleryWorkerNotRunningException" in by_name[q3].summary and q3 in by_name[q3].summary
    assert [q.use.name for q in report.not_ready] == [q3]
    assert report.workers() == {q1: 1, q2: 2, q3: 0}
    assert (report.broker, report.cluster) == ("the broker", None)


@pytest.mark.parametrize("url", [UNREACHABLE, "amqp://guest:guest@127.0.0.1:1//"], ids=["redis", "rabbitmq"])
def test_an_unreachable_broker_is_unknown_within_a_bounded_time(url: str) -> None:
    began = time.monotonic()
    with pytest.raises(BrokerUnreachableError, match="the broker does not answer"):
        workers_by_queue(url, 2.0)
    report = run_preflight([QueueUse("default", "celery"), QueueUse("bulk", "celery")], url,
                           KubernetesSettings(environ={}), timeout=2.0)  # fmt: skip
    elapsed = time.monotonic() - began
    assert elapsed < 15, f"{elapsed:.1f} s"
    assert [q.readiness for q in report.queues] == [Readiness.UNKNOWN, Readiness.UNKNOWN]
    assert all("does not answer" in q.summary and q.checks[0].ok is None for q in report.queues)
    assert len(report.not_ready) == 2  # unknown is not ready


def test_rabbitmq_refusing_the_login_is_unknown_not_a_crash() -> None:
    report = run_preflight([QueueUse("default", "celery")], "amqp://guest:wrong@127.0.0.1:5672//",
                           KubernetesSettings(environ={}), timeout=2.0)  # fmt: skip
    assert report.queues[0].readiness is Readiness.UNKNOWN
    assert "ACCESS_REFUSED" in report.queues[0].summary


def test_no_broker_configured_is_unknown() -> None:
    report = run_preflight([QueueUse("default", "celery")], None, KubernetesSettings(environ={}))
    assert report.queues[0].readiness is Readiness.UNKNOWN
    assert "no broker configured" in report.queues[0].summary


# --- Kubernetes: the real API server -------------------------------------------------------------------------------


def test_a_namespace_that_exists_is_ready_with_all_four_checks(cluster: ApiServer, tmp_path: Path) -> None:
    settings = _settings(tmp_path, kubeconfig=cluster.admin_kubeconfig, namespace=JOBS_NAMESPACE,
                         job_manifest=valid_job())  # fmt: skip
    report = heavy(settings)
    queue_ = report.queues[0]
    assert queue_.readiness is Readiness.READY, queue_
    assert checks_of(report) == {"manifest": True, "namespace": True, "rbac": True, "dry-run": True}
    assert queue_.summary == "manifest, namespace, RBAC and a dry-run create pass"
    assert report.cluster == f"kubeconfig {cluster.admin_kubeconfig} ({cluster.url})"
    # A dry run stores nothing.
    status, jobs = cluster.request("GET", f"/apis/batch/v1/namespaces/{JOBS_NAMESPACE}/jobs")
    assert status == 200 and isinstance(jobs, dict) and jobs["items"] == []


def test_a_namespace_that_does_not_exist_is_not_ready(cluster: ApiServer, tmp_path: Path) -> None:
    settings = _settings(tmp_path, kubeconfig=cluster.admin_kubeconfig, namespace="nbjobs-no-such-namespace",
                         job_manifest=valid_job())  # fmt: skip
    report = heavy(settings)
    assert report.queues[0].readiness is Readiness.NOT_READY
    assert report.queues[0].summary == "namespace 'nbjobs-no-such-namespace' does not exist"
    assert checks_of(report) == {"manifest": True, "namespace": False}


def test_rbac_denies_then_a_role_binding_allows(cluster: ApiServer, tmp_path: Path) -> None:
    namespace = f"pf-rbac-{uuid.uuid4().hex[:6]}"
    cluster.create_namespace(namespace)
    # The restricted identity may read its namespace (so the check gets as far as RBAC), nothing more.
    grant(cluster, namespace, "read-namespace", [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}],
          RESTRICTED_USER)  # fmt: skip
    settings = _settings(tmp_path, kubeconfig=cluster.restricted_kubeconfig, namespace=namespace,
                         job_manifest=valid_job())  # fmt: skip
    denied = heavy(settings)
    assert denied.queues[0].readiness is Readiness.NOT_READY
    assert checks_of(denied) == {"manifest": True, "namespace": True, "rbac": False}
    assert denied.queues[0].summary == f"this identity may not create Jobs in {namespace!r}"

    grant(cluster, namespace, "create-jobs", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create"]}],
          RESTRICTED_USER)  # fmt: skip
    allowed = heavy(settings)
    assert allowed.queues[0].readiness is Readiness.READY, allowed.queues[0]
    assert checks_of(allowed) == {"manifest": True, "namespace": True, "rbac": True, "dry-run": True}


def test_without_get_on_namespaces_a_missing_namespace_is_missing_or_not_allowed(
    cluster: ApiServer, tmp_path: Path
) -> None:
    for namespace in ("nbjobs-no-such-namespace", JOBS_NAMESPACE):  # missing, and present: they look alike
        settings = _settings(tmp_path, kubeconfig=cluster.restricted_kubeconfig, namespace=namespace,
                             job_manifest=valid_job())  # fmt: skip
        report = heavy(settings)
        assert report.queues[0].readiness is Readiness.NOT_READY
        assert f"namespace {namespace!r} is missing or not allowed" in report.queues[0].summary
        assert checks_of(report) == {"manifest": True, "namespace": False}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda pod: pod["containers"][0].pop("image"), "spec.template.spec.containers[0].image: Required value"),
        (lambda pod: pod.update(restartPolicy="Always"), "spec.template.spec.restartPolicy"),
    ],
    ids=["no-image", "restart-always"],
)
def test_a_job_the_server_rejects_fails_at_the_dry_run_with_its_message(
    cluster: ApiServer, tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str
) -> None:
    body = valid_job()
    change(body["spec"]["template"]["spec"])
    assert job_problem(body) is None  # only the server's validation finds it
    settings = _settings(tmp_path, kubeconfig=cluster.admin_kubeconfig, namespace=JOBS_NAMESPACE, job_manifest=body)
    report = heavy(settings)
    assert report.queues[0].readiness is Readiness.NOT_READY
    assert checks_of(report) == {"manifest": True, "namespace": True, "rbac": True, "dry-run": False}
    summary = report.queues[0].summary
    assert summary.startswith("the API server refused it (422): ")
    assert f'Job.batch "nautobot-job-{PREFLIGHT_RESULT_ID}" is invalid' in summary and message in summary


def test_a_per_queue_manifest_overrides_the_global_one_on_the_server(cluster: ApiServer, tmp_path: Path) -> None:
    broken = valid_job()
    del broken["spec"]["template"]["spec"]["containers"][0]["image"]
    settings = _settings(tmp_path, kubeconfig=cluster.admin_kubeconfig, namespace=JOBS_NAMESPACE,
                         job_manifest=broken, job_queue_path=JOB_QUEUES)  # fmt: skip
    report = run_preflight([QueueUse("heavy", "kubernetes"), QueueUse("light", "kubernetes")], None, settings)
    ready, global_ = report.queues
    assert ready.readiness is Readiness.READY, ready
    assert ready.checks[0].detail == f"a batch/v1 Job from {HEAVY_MANIFEST}"
    assert global_.readiness is Readiness.NOT_READY and "containers[0].image: Required value" in global_.summary
    assert global_.checks[0].detail == "a batch/v1 Job from KUBERNETES_JOB_MANIFEST"


def test_nautobots_service_account_settings_reach_the_server(cluster: ApiServer, tmp_path: Path) -> None:
    """KUBERNETES_DEFAULT_SERVICE_ADDRESS + KUBERNETES_TOKEN_PATH + KUBERNETES_SSL_CA_CERT_PATH, as in a pod."""
    token = tmp_path / "token"
    token.write_text(cluster.restricted_token + "\n")
    settings = _settings(tmp_path, service_address=cluster.url, token_path=token, ca_cert_path=cluster.ca_file,
                         namespace=JOBS_NAMESPACE, job_manifest=valid_job())  # fmt: skip
    report = heavy(settings)
    assert report.cluster == f"{cluster.url} (token {token})"
    # It authenticated (a 403 for this user, not a 401), and cannot tell a denial from a missing namespace.
    assert "is missing or not allowed" in report.queues[0].summary
    admin_token = tmp_path / "admin-token"
    admin_token.write_text(cluster.admin_token)
    settings_admin = _settings(tmp_path, service_address=cluster.url, token_path=admin_token,
                               ca_cert_path=cluster.ca_file, namespace=JOBS_NAMESPACE,
                               job_manifest=valid_job())  # fmt: skip
    assert heavy(settings_admin).queues[0].readiness is Readiness.READY


def test_no_cluster_configured_is_not_ready_with_the_reason(tmp_path: Path) -> None:
    report = heavy(_settings(tmp_path, job_manifest=valid_job()))
    queue_ = report.queues[0]
    assert queue_.readiness is Readiness.NOT_READY
    assert queue_.summary.startswith("no cluster configured (give --kubeconfig")
    assert [(c.name, c.ok) for c in queue_.checks] == [("manifest", True), ("cluster", None)]
    assert report.cluster == queue_.summary
    missing = heavy(_settings(tmp_path, job_manifest=valid_job(), kubeconfig=tmp_path / "nope.kubeconfig"))
    assert missing.queues[0].summary == f"kubeconfig {tmp_path / 'nope.kubeconfig'} does not exist"
    # In a pod (KUBERNETES_SERVICE_HOST set) without the service account's files mounted.
    pod_environ = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    in_pod = KubernetesSettings(job_queue_path=tmp_path, job_manifest=valid_job(), environ=pod_environ)
    summary = heavy(in_pod).queues[0].summary
    assert summary.startswith("the cluster configuration cannot be read"), summary


def test_an_api_server_that_does_not_answer_is_not_ready(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "x", "user": "u"}}],
    }))  # fmt: skip
    began = time.monotonic()
    report = heavy(_settings(tmp_path, kubeconfig=kubeconfig, job_manifest=valid_job(), timeout=2.0))
    assert time.monotonic() - began < 15
    assert report.queues[0].readiness is Readiness.NOT_READY
    assert report.queues[0].summary.startswith("the API server does not answer")
    assert checks_of(report) == {"manifest": True, "namespace": None}


# --- The CLI end to end on a SQLite sandbox of the examples --------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code_ = main(list(argv))
    out, err = capsys.readouterr()
    return code_, out, err


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    for name in list(os.environ):
        if name.startswith(("NBJOBS_", "NAUTOBOT_", "KUBERNETES_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    code_, out, err = run(capsys, "sandbox", "--jobs-root", JOBS)
    assert code_ == 0, out + err
    return tmp_path


def test_cli_preflight_text_json_markdown_and_strict(
    sandbox: Path, cluster: ApiServer, workers: Workers, capsys: pytest.CaptureFixture[str]
) -> None:
    with redis_db(13) as url:
        workers.start("default-worker", url, ["default"])
        wait_for("the worker answering inspect", answering(url, {"default": 1}), workers)
        flags = ["--jobs-root", JOBS, "--broker-url", url, "--job-queue-path", str(JOB_QUEUES),
                 "--kubeconfig", str(cluster.admin_kubeconfig), "--k8s-namespace", JOBS_NAMESPACE,
                 "--preflight-timeout", "1", MANIFESTS]  # fmt: skip

        code_, out, err = run(capsys, "preflight", *flags)
        assert code_ == 0, out + err
        lines = out.splitlines()
        assert lines[0] == "Queue readiness:"
        assert re.search(r"^  NOT READY bulk \(celery\): no worker consumes 'bulk': .*CeleryWorkerNotRunningException",
                         out, re.M), out  # fmt: skip
        assert f"  ready     default (celery): 1 worker: default-worker@{HOST}" in lines, out
        assert "  ready     heavy (kubernetes): manifest, namespace, RBAC and a dry-run create pass" in lines, out
        assert "            jobs: audits.DeviceAudit, vendor_x.sync.SyncInventory" in lines
        assert lines[-1] == "  2 of 3 queues ready."
        assert err == "warning: 1 queue not ready\n"

        code_, out, err = run(capsys, "preflight", "--strict", *flags)
        assert (code_, err) == (1, "error: 1 queue not ready\n")

        code_, out, _ = run(capsys, "preflight", "--format", "json", *flags)
        assert code_ == 0
        document = json.loads(out)
        assert document["broker"] == url and document["cluster"].startswith("kubeconfig ")
        queues = {q["queue"]: q for q in document["queues"]}
        assert {name: (q["type"], q["readiness"]) for name, q in queues.items()} == {
            "bulk": ("celery", "not-ready"),
            "default": ("celery", "ready"),
            "heavy": ("kubernetes", "ready"),
        }
        assert queues["default"]["workers"] == [f"default-worker@{HOST}"]
        assert queues["heavy"]["default_for"] == ["audits.DeviceAudit"]
        assert queues["heavy"]["eligible_for"] == ["audits.DeviceAudit", "vendor_x.sync.SyncInventory"]
        assert [c["check"] for c in queues["heavy"]["checks"]] == ["manifest", "namespace", "rbac", "dry-run"]
        assert queues["heavy"]["checks"][0]["detail"] == f"a batch/v1 Job from {HEAVY_MANIFEST}"

        code_, out, _ = run(capsys, "preflight", "--format", "markdown", *flags)
        assert code_ == 0
        assert "<!-- nbjobs:preflight -->" in out and "### nbjobs preflight" in out
        assert "Queue readiness" in out and "| queue | type | readiness | detail | jobs |" in out
        assert re.search(r"^\| `bulk` \| celery \| NOT READY \|", out, re.M), out
        assert re.search(r"^\| `heavy` \| kubernetes \| ready \|", out, re.M), out

        code_, out, err = run(capsys, "plan", "--preflight", "--format", "json", *flags)
        assert code_ == 0, err
        planned = json.loads(out)
        assert planned["format_version"] == 1 and planned["operations"]
        assert {q["queue"]: q["readiness"] for q in planned["preflight"]["queues"]} == {
            "bulk": "not-ready", "default": "ready", "heavy": "ready"}  # fmt: skip

        code_, out, err = run(capsys, "plan", "--preflight", "--format", "markdown", *flags)
        assert code_ == 0, err
        assert "Queue readiness" in out and re.search(r"^\| `default` \| celery \| ready \|", out, re.M), out

        code_, out, err = run(capsys, "plan", "--preflight", "--strict", *flags)
        assert code_ == 1 and "Error: 1 queue not ready (--strict)." in err
        assert "Queue readiness:" in out and "NOT READY bulk (celery)" in out


def test_cli_without_a_cluster_warns_and_strict_fails(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    only_heavy = sandbox / "manifests"
    only_heavy.mkdir()
    (only_heavy / "queues.yaml").write_text(
        "apiVersion: nbjobs/v1\nkind: Jobs\nallow_no_managed_jobs: true\n"
        "queues:\n  - name: heavy\n    type: kubernetes\n"
    )
    flags = ["--jobs-root", JOBS, "--job-queue-path", str(JOB_QUEUES), str(only_heavy)]
    code_, out, err = run(capsys, "preflight", *flags)
    assert code_ == 0, out + err
    assert "NOT READY heavy (kubernetes): no cluster configured (give --kubeconfig" in out
    assert "jobs: none yet" in out
    assert err == "warning: 1 queue not ready\n"
    code_, out, err = run(capsys, "preflight", "--strict", *flags)
    assert (code_, err) == (1, "error: 1 queue not ready\n")


# --- The loop: readiness recorded with the run, and the nbjobs_queue_workers metric --------------------------------


def test_the_loop_records_readiness_and_the_collector_emits_queue_workers(
    tmp_path: Path, cluster: ApiServer, workers: Workers
) -> None:
    target = DatabaseTarget(URL.create("sqlite", database=str(tmp_path / "loop.db")), "test sqlite")
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    build(target, jobs_root)
    try:
        with redis_db(14) as url:
            workers.start("default-worker", url, ["default"])
            wait_for("the worker answering inspect", answering(url, {"default": 1}), workers)
            settings = settings_for(target, remote, jobs_root, tmp_path / "cache", preflight=True,
                                    nautobot_broker_url=url, kubeconfig=cluster.admin_kubeconfig,
                                    kubernetes_job_pod_namespace=JOBS_NAMESPACE, job_queue_path=JOB_QUEUES,
                                    preflight_timeout=1.0)  # fmt: skip
            outcome = run_tick(settings, settings.target())
            assert outcome.action == "none" and outcome.state == "drifted", outcome

            with engine_for(settings.target()).connect() as connection:
                run_ = recent_runs(connection, "default")[0]
            assert run_.preflight is not None
            assert run_.preflight["broker"] == url
            readiness = {q["queue"]: (q["type"], q["readiness"], q["workers"]) for q in run_.preflight["queues"]}
            assert readiness == {
                "bulk": ("celery", "not-ready", []),
                "default": ("celery", "ready", [f"default-worker@{HOST}"]),
                "heavy": ("kubernetes", "ready", []),
            }

            families = {family.name: family for family in RunCollector(settings).collect()}
            samples = {(s.labels["target"], s.labels["queue"]): s.value
                       for s in families["nbjobs_queue_workers"].samples}  # fmt: skip
            assert samples == {("default", "bulk"): 0, ("default", "default"): 1}  # Kubernetes queues have none
    finally:
        dispose_engines()


def test_the_loop_records_an_unreachable_broker_as_unknown_and_emits_no_worker_count(tmp_path: Path) -> None:
    target = DatabaseTarget(URL.create("sqlite", database=str(tmp_path / "loop.db")), "test sqlite")
    remote = Remote(tmp_path / "git")
    remote.push_examples()
    jobs_root = jobs_root_without_legacy(tmp_path)
    build(target, jobs_root)
    try:
        # A per-queue pod manifest that is JSON but no Job: a finding, never a failure of the tick.
        broken = tmp_path / "job-queues" / "heavy" / "manifest.json"
        broken.parent.mkdir(parents=True)
        broken.write_text('{"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {"spec": null}}}')
        settings = settings_for(target, remote, jobs_root, tmp_path / "cache", preflight=True,
                                nautobot_broker_url=UNREACHABLE, preflight_timeout=1.0,
                                job_queue_path=tmp_path / "job-queues")  # fmt: skip
        outcome = run_tick(settings, settings.target())
        assert outcome.state == "drifted", outcome  # preflight never fails the tick
        with engine_for(settings.target()).connect() as connection:
            run_ = recent_runs(connection, "default")[0]
        assert run_.preflight is not None
        assert {q["queue"]: q["readiness"] for q in run_.preflight["queues"]} == {
            "bulk": "unknown", "default": "unknown", "heavy": "not-ready"}  # fmt: skip
        heavy_ = next(q for q in run_.preflight["queues"] if q["queue"] == "heavy")
        assert "no spec.template.spec.containers[0]" in heavy_["summary"]
        assert all("does not answer" in q["summary"] for q in run_.preflight["queues"] if q["type"] == "celery")
        families = {family.name: family for family in RunCollector(settings).collect()}
        assert families["nbjobs_queue_workers"].samples == []
    finally:
        dispose_engines()


def test_an_unreadable_global_manifest_file_fails_the_manifest_check_not_preflight(tmp_path: Path) -> None:
    """A broken --k8s-manifest file is the Kubernetes queues' manifest problem, located; the Celery
    queues are still checked and the loop's tick still records its drift."""
    from reconciler.config import Settings

    missing = Settings(kubernetes_job_manifest_file=tmp_path / "nope.json", job_queue_path=tmp_path).kubernetes()
    found = find_manifest("heavy", missing)
    assert (
        found.body is None and found.problem == f"{tmp_path / 'nope.json'}: cannot be read: No such file or directory"
    )
    broken = tmp_path / "broken.json"
    broken.write_text('{"apiVersion": "batch/v1",\n  "kind": }\n')
    located = find_manifest(
        "heavy", Settings(kubernetes_job_manifest_file=broken, job_queue_path=tmp_path).kubernetes()
    )
    assert located.problem is not None and located.problem.startswith(f"{broken}:2:11: not JSON: ")
