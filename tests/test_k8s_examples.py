"""examples/kubernetes against a real kube-apiserver 1.20 (tests/k8s): both overlays render with `kubectl
kustomize` and every object they hold passes a server-side dry run; the base's RBAC, applied for real,
gives the nbjobs ServiceAccount exactly what preflight needs and nothing more; the per-queue pod manifest,
as Nautobot would submit it, is accepted in Nautobot's jobs namespace.

kubectl is 1.32 (with kustomize v5) against a 1.20 server: the verbs used here work, with a version-skew
warning on stderr. Every kubectl call's argv, input and output go to a numbered file under tmp_path,
whose tails are printed when a test fails.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from common import EXAMPLES
from k8s.apiserver import ApiServer
from k8s.fixture import kube_apiserver  # noqa: F401

from reconciler.preflight.check import run_preflight
from reconciler.preflight.kubernetes import PREFLIGHT_RESULT_ID, KubernetesSettings, nautobot_job
from reconciler.preflight.types import QueueUse, Readiness

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

KUBERNETES = EXAMPLES / "kubernetes"
HEAVY_MANIFEST = KUBERNETES / "job-queues" / "heavy" / "manifest.json"
NBJOBS_NAMESPACE = "nbjobs"  # where the examples put nbjobs' own objects
JOBS_NAMESPACE = "nautobot-jobs"  # Nautobot's KUBERNETES_JOB_POD_NAMESPACE in the examples
SERVICE_ACCOUNT = f"system:serviceaccount:{NBJOBS_NAMESPACE}:nbjobs"


class Kubectl:
    """kubectl as the admin of the test cluster; each call recorded in its own file under `logs`."""

    def __init__(self, kubeconfig: Path, logs: Path) -> None:
        self.kubeconfig = kubeconfig
        self.logs = logs
        self.calls: list[Path] = []
        logs.mkdir(parents=True, exist_ok=True)

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        argv = [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--request-timeout", "20s", *args]
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=40, check=False)
        log = self.logs / f"{len(self.calls):02d}-{args[0]}.log"
        log.write_text(f"$ {' '.join(argv)}\n--- stdin:\n{stdin or ''}\n--- exit {done.returncode}, stdout:\n"
                       f"{done.stdout}\n--- stderr:\n{done.stderr}\n")  # fmt: skip
        self.calls.append(log)
        return done

    def tails(self, lines: int = 25) -> str:
        return "".join(f"\n--- {log}:\n" + "\n".join(log.read_text().splitlines()[-lines:]) + "\n"
                       for log in self.calls)  # fmt: skip


@pytest.fixture
def kubectl(kube_apiserver: ApiServer, tmp_path: Path) -> Iterator[Kubectl]:  # noqa: F811
    """The examples' namespaces (created for real: a dry run does not create the namespace it targets)."""
    for namespace in (NBJOBS_NAMESPACE, JOBS_NAMESPACE):
        kube_apiserver.create_namespace(namespace)
    run = Kubectl(kube_apiserver.admin_kubeconfig, tmp_path / "kubectl")
    yield run
    print(run.tails())  # pytest shows a test's captured output only when it fails
    print(kube_apiserver.log_tails())


def render(kubectl: Kubectl, overlay: str) -> list[dict[str, Any]]:
    done = kubectl("kustomize", str(KUBERNETES / overlay))
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def names(objects: list[dict[str, Any]]) -> list[str]:
    """`kubectl -o name` spelling: kind.group/name (no group for the core API)."""
    found = []
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        kind = obj["kind"].lower() + (f".{group}" if group else "")
        found.append(f"{kind}/{obj['metadata']['name']}")
    return found


def dump(objects: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in objects)


def dry_run(kubectl: Kubectl, objects: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "--dry-run=server", "-o", "name", "-f", "-", stdin=dump(objects))


def test_the_loop_overlay_passes_a_server_side_dry_run(kubectl: Kubectl) -> None:
    objects = render(kubectl, "loop")
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "Role", "RoleBinding", "Secret",
                     "ServiceAccount"]  # fmt: skip
    deployment = next(obj for obj in objects if obj["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "nbjobs:0.1.0"  # kustomize's images:
    done = dry_run(kubectl, objects)
    assert done.returncode == 0, done.stderr + kubectl.tails()
    assert sorted(done.stdout.split()) == sorted(names(objects)), done.stdout
    # Nothing was created by the dry run.
    listed = kubectl("get", "deployments", "-n", NBJOBS_NAMESPACE, "-o", "name")
    assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout + listed.stderr


def test_the_cronjob_overlay_passes_a_server_side_dry_run_as_batch_v1beta1(kubectl: Kubectl) -> None:
    objects = render(kubectl, "cronjob")
    cronjob = next(obj for obj in objects if obj["kind"] == "CronJob")
    assert cronjob["apiVersion"] == "batch/v1"  # as the example is written: current clusters serve batch/v1
    # Kubernetes 1.20 serves CronJob only as batch/v1beta1 (batch/v1 came with 1.21): the example as written
    # is refused there for its version alone...
    refused = dry_run(kubectl, [cronjob])
    assert refused.returncode != 0
    assert 'no matches for kind "CronJob" in version "batch/v1"' in refused.stderr, refused.stderr
    # ...so it is dry-run with only its apiVersion rewritten, everything else exactly as rendered.
    served = copy.deepcopy(cronjob) | {"apiVersion": "batch/v1beta1"}
    assert {k: v for k, v in served.items() if k != "apiVersion"} == {k: v for k, v in cronjob.items()
                                                                      if k != "apiVersion"}  # fmt: skip
    rewritten = [served if obj is cronjob else obj for obj in objects]
    done = dry_run(kubectl, rewritten)
    assert done.returncode == 0, done.stderr + kubectl.tails()
    assert sorted(done.stdout.split()) == sorted(names(rewritten)), done.stdout
    assert "cronjob.batch/nbjobs-reconcile" in done.stdout.split()


@pytest.fixture
def base_rbac(kubectl: Kubectl) -> list[dict[str, Any]]:
    """The base's ServiceAccount and RBAC, applied for real (the ConfigMap and Secret are not needed)."""
    objects = [obj for obj in render(kubectl, "base") if obj["kind"] not in ("ConfigMap", "Secret")]
    assert sorted(obj["kind"] for obj in objects) == ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                                                      "ServiceAccount"]  # fmt: skip
    done = kubectl("apply", "-f", "-", stdin=dump(objects))
    assert done.returncode == 0, done.stderr
    return objects


def can_i(kubectl: Kubectl, *question: str) -> str:
    done = kubectl("auth", "can-i", *question, "--as", SERVICE_ACCOUNT)
    answer = done.stdout.strip()
    assert answer in ("yes", "no"), done.stdout + done.stderr
    assert done.returncode == (0 if answer == "yes" else 1), done.stderr
    return answer


def test_the_base_rbac_grants_what_preflight_needs_and_no_more(kubectl: Kubectl, base_rbac: object) -> None:
    # What preflight needs: the dry-run create of Jobs in Nautobot's jobs namespace, and get on namespaces.
    assert can_i(kubectl, "create", "jobs.batch", "-n", JOBS_NAMESPACE) == "yes"
    assert can_i(kubectl, "get", "namespaces") == "yes"
    assert can_i(kubectl, "get", f"namespace/{JOBS_NAMESPACE}") == "yes"
    # Least privilege: not in its own namespace, no other verb on Jobs, nothing else in the jobs namespace.
    assert can_i(kubectl, "create", "jobs.batch", "-n", NBJOBS_NAMESPACE) == "no"
    assert can_i(kubectl, "create", "jobs.batch", "-n", "default") == "no"
    for verb in ("delete", "get", "list", "update", "patch"):
        assert can_i(kubectl, verb, "jobs.batch", "-n", JOBS_NAMESPACE) == "no", verb
    assert can_i(kubectl, "create", "pods", "-n", JOBS_NAMESPACE) == "no"
    assert can_i(kubectl, "get", "secrets", "-n", NBJOBS_NAMESPACE) == "no"
    assert can_i(kubectl, "list", "namespaces") == "no"
    assert can_i(kubectl, "delete", f"namespace/{JOBS_NAMESPACE}") == "no"


def test_the_heavy_manifest_as_nautobot_submits_it_is_accepted(kubectl: Kubectl, base_rbac: object) -> None:
    body = json.loads(HEAVY_MANIFEST.read_text())
    job = nautobot_job(body, KubernetesSettings(namespace=JOBS_NAMESPACE, environ={}))
    # As the nbjobs ServiceAccount, which may only create Jobs there: what preflight's dry run does.
    done = kubectl("create", "--dry-run=server", "-n", JOBS_NAMESPACE, "-o", "json", "--as", SERVICE_ACCOUNT,
                   "-f", "-", stdin=json.dumps(job))  # fmt: skip
    assert done.returncode == 0, done.stderr
    accepted = json.loads(done.stdout)
    assert accepted["metadata"]["name"] == f"nautobot-job-{PREFLIGHT_RESULT_ID}"
    assert accepted["metadata"]["namespace"] == JOBS_NAMESPACE
    container = accepted["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == body["spec"]["template"]["spec"]["containers"][0]["image"]
    assert container["command"] == ["nautobot-server", "runjob_with_job_result", str(PREFLIGHT_RESULT_ID),
                                    "--config=/opt/nautobot/nautobot_config.py", "--data", "{}"]  # fmt: skip
    # The server filled in its defaults (a real validation ran), and stored nothing.
    assert accepted["spec"]["template"]["metadata"]["labels"]["job-name"] == accepted["metadata"]["name"]
    listed = kubectl("get", "jobs", "-n", JOBS_NAMESPACE, "-o", "name")
    assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout


def test_preflight_as_the_example_service_account_is_ready(
    kubectl: Kubectl,
    base_rbac: object,
    kube_apiserver: ApiServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Nautobot's own way in (KUBERNETES_DEFAULT_SERVICE_ADDRESS, _TOKEN_PATH, _SSL_CA_CERT_PATH), with a token
    of the example ServiceAccount: every check passes with nothing but the base's RBAC."""
    status, answer = kube_apiserver.request(
        "POST", f"/api/v1/namespaces/{NBJOBS_NAMESPACE}/serviceaccounts/nbjobs/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
    )  # fmt: skip
    assert status == 201 and isinstance(answer, dict), answer
    token = tmp_path / "token"
    token.write_text(answer["status"]["token"])
    settings = KubernetesSettings(namespace=JOBS_NAMESPACE, job_queue_path=KUBERNETES / "job-queues",
                                  service_address=kube_apiserver.url, token_path=token,
                                  ca_cert_path=kube_apiserver.ca_file, environ={})  # fmt: skip
    report = run_preflight([QueueUse("heavy", "kubernetes")], None, settings)
    heavy = report.queues[0]
    assert heavy.readiness is Readiness.READY, heavy
    assert [(c.name, c.ok) for c in heavy.checks] == [("manifest", True), ("namespace", True), ("rbac", True),
                                                      ("dry-run", True)]  # fmt: skip
    # The same identity in a namespace the base grants nothing in: RBAC says no, before any dry run.
    elsewhere = run_preflight([QueueUse("heavy", "kubernetes")], None, replace(settings, namespace=NBJOBS_NAMESPACE))
    assert elsewhere.queues[0].readiness is Readiness.NOT_READY
    assert [(c.name, c.ok) for c in elsewhere.queues[0].checks][-1] == ("rbac", False)
