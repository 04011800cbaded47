"""Smoke test of the real kube-apiserver fixture (tests/k8s): version, admin writes, RBAC for the
restricted identity, NotFound for a missing namespace. Uses kubectl (1.32 against a 1.20 server:
basic verbs work, with a version-skew warning)."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from k8s.apiserver import JOBS_NAMESPACE, RESTRICTED_USER, ApiServer
from k8s.fixture import kube_apiserver  # noqa: F401

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed")

JOB = textwrap.dedent(
    """\
    apiVersion: batch/v1
    kind: Job
    metadata:
      name: smoke
    spec:
      backoffLimit: 0
      template:
        spec:
          restartPolicy: Never
          containers:
            - name: main
              image: busybox:1.36
              command: ["true"]
    """
)


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    return subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), "--request-timeout", "20s", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_server_reports_version_1_20(kube_apiserver: ApiServer) -> None:  # noqa: F811
    status, version = kube_apiserver.request("GET", "/version")
    assert status == 200, version
    assert isinstance(version, dict)
    assert version["major"] == "1"
    assert version["minor"] == "20"
    assert version["gitVersion"].startswith("v1.20.")
    result = kubectl(kube_apiserver.admin_kubeconfig, "version", "-o", "json")
    assert result.returncode == 0, result.stderr
    assert '"gitVersion": "v1.20.' in result.stdout


def test_admin_creates_a_namespace_and_dry_runs_a_job(kube_apiserver: ApiServer) -> None:  # noqa: F811
    admin = kube_apiserver.admin_kubeconfig
    created = kubectl(admin, "create", "namespace", "nbjobs-smoke")
    assert created.returncode == 0, created.stderr
    listed = kubectl(admin, "get", "ns", "-o", "name")
    assert listed.returncode == 0, listed.stderr
    assert {"namespace/nbjobs-smoke", f"namespace/{JOBS_NAMESPACE}"} <= set(listed.stdout.split())
    sa = kubectl(admin, "get", "serviceaccount", "default", "-n", JOBS_NAMESPACE, "-o", "name")
    assert sa.returncode == 0, sa.stderr

    dry = kubectl(admin, "create", "-f", "-", "--dry-run=server", "-n", JOBS_NAMESPACE, "-o", "name", stdin=JOB)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.strip() == "job.batch/smoke"
    # A dry run stores nothing.
    jobs = kubectl(admin, "get", "jobs", "-n", JOBS_NAMESPACE, "-o", "name")
    assert jobs.returncode == 0, jobs.stderr
    assert jobs.stdout.strip() == ""


def test_restricted_identity_needs_a_role_binding(kube_apiserver: ApiServer) -> None:  # noqa: F811
    restricted, admin = kube_apiserver.restricted_kubeconfig, kube_apiserver.admin_kubeconfig
    denied = kubectl(restricted, "auth", "can-i", "create", "jobs", "-n", JOBS_NAMESPACE)
    assert denied.returncode == 1, denied.stderr
    assert denied.stdout.strip() == "no"
    # The same question asked by the admin on the user's behalf (impersonation).
    as_user = kubectl(admin, "auth", "can-i", "create", "jobs", "-n", JOBS_NAMESPACE, "--as", RESTRICTED_USER)
    assert as_user.stdout.strip() == "no", as_user.stderr
    refused = kubectl(restricted, "create", "-f", "-", "--dry-run=server", "-n", JOBS_NAMESPACE, stdin=JOB)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr

    for args in (
        ("create", "role", "job-creator", "--verb=create", "--resource=jobs.batch", "-n", JOBS_NAMESPACE),
        ("create", "rolebinding", "job-creator", "--role=job-creator", f"--user={RESTRICTED_USER}",
         "-n", JOBS_NAMESPACE),
    ):  # fmt: skip
        made = kubectl(admin, *args)
        assert made.returncode == 0, made.stderr
    try:
        allowed = kubectl(restricted, "auth", "can-i", "create", "jobs", "-n", JOBS_NAMESPACE)
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.strip() == "yes"
        elsewhere = kubectl(restricted, "auth", "can-i", "create", "jobs", "-n", "default")
        assert elsewhere.stdout.strip() == "no"
        dry = kubectl(restricted, "create", "-f", "-", "--dry-run=server", "-n", JOBS_NAMESPACE, stdin=JOB)
        assert dry.returncode == 0, dry.stderr
    finally:
        kubectl(admin, "delete", "rolebinding,role", "job-creator", "-n", JOBS_NAMESPACE)


def test_missing_namespace_is_not_found(kube_apiserver: ApiServer) -> None:  # noqa: F811
    admin = kube_apiserver.admin_kubeconfig
    got = kubectl(admin, "get", "namespace", "nbjobs-no-such-namespace")
    assert got.returncode != 0
    assert "NotFound" in got.stderr
    dry = kubectl(admin, "create", "-f", "-", "--dry-run=server", "-n", "nbjobs-no-such-namespace", stdin=JOB)
    assert dry.returncode != 0
    assert "NotFound" in dry.stderr
    assert 'namespaces "nbjobs-no-such-namespace" not found' in dry.stderr
