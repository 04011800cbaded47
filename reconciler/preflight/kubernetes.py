"""Can a Kubernetes queue run its jobs? The checks Nautobot's own run would meet, in its order.

Nautobot (extras/utils.py:771-858) takes the pod manifest from `JOB_QUEUE_PATH/<queue>/manifest.json`
when that resolves inside JOB_QUEUE_PATH and exists, else `KUBERNETES_JOB_MANIFEST`; names the Job
`KUBERNETES_JOB_POD_NAME-<result id>`, sets the first container's command to `nautobot-server
runjob_with_job_result <id> --config=<SETTINGS_PATH> --data <kwargs>`, and creates it in
`KUBERNETES_JOB_POD_NAMESPACE` with the in-cluster service account (KUBERNETES_DEFAULT_SERVICE_ADDRESS,
KUBERNETES_TOKEN_PATH, KUBERNETES_SSL_CA_CERT_PATH). Preflight checks the manifest, the namespace, a
SelfSubjectAccessReview for `create jobs`, and a server-side dry run of exactly that Job.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from reconciler.preflight.types import Check

PREFLIGHT_RESULT_ID = UUID("00000000-0000-4000-8000-6e626a6f6273")  # stands for the JobResult's pk


@dataclass(frozen=True)
class KubernetesSettings:
    """Named after Nautobot's settings of the same meaning."""

    namespace: str = "default"  # KUBERNETES_JOB_POD_NAMESPACE
    job_manifest: Mapping[str, Any] | None = None  # KUBERNETES_JOB_MANIFEST
    job_manifest_origin: str = "KUBERNETES_JOB_MANIFEST"
    job_manifest_problem: str | None = None  # the global manifest could not be read (file, line, column)
    job_queue_path: Path = Path("/etc/nautobot/job-queues")  # JOB_QUEUE_PATH
    pod_name: str = "nautobot-job"  # KUBERNETES_JOB_POD_NAME
    settings_path: str = "/opt/nautobot/nautobot_config.py"  # Nautobot's SETTINGS_PATH, for --config=
    kubeconfig: Path | None = None
    service_address: str | None = None  # KUBERNETES_DEFAULT_SERVICE_ADDRESS
    token_path: Path | None = None  # KUBERNETES_TOKEN_PATH
    ca_cert_path: Path | None = None  # KUBERNETES_SSL_CA_CERT_PATH
    timeout: float = 5.0
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


@dataclass(frozen=True)
class Manifest:
    body: Mapping[str, Any] | None
    source: str  # the file, or the setting, it came from
    problem: str | None = None


def find_manifest(queue: str, settings: KubernetesSettings) -> Manifest:
    """The pod manifest Nautobot would use for `queue`, and what is wrong with it."""
    base = settings.job_queue_path
    candidate = base / queue / "manifest.json"
    inside = os.path.realpath(candidate).startswith(os.path.realpath(base) + os.sep)
    if inside and candidate.is_file():
        try:
            body = json.loads(candidate.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            return Manifest(None, str(candidate), f"{candidate}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}")
        except (OSError, UnicodeDecodeError) as exc:
            return Manifest(None, str(candidate), f"{candidate} cannot be read: {exc}")
        return Manifest(body, str(candidate), job_problem(body))
    if settings.job_manifest_problem:
        return Manifest(None, settings.job_manifest_origin, settings.job_manifest_problem)
    if settings.job_manifest:
        return Manifest(settings.job_manifest, settings.job_manifest_origin, job_problem(settings.job_manifest))
    return Manifest(None, "", f"no pod manifest: neither {candidate} nor KUBERNETES_JOB_MANIFEST is set")


def job_problem(body: object) -> str | None:
    """What keeps `body` from being the batch/v1 Job Nautobot fills in, or None."""
    if not isinstance(body, Mapping):
        return "the manifest is not a JSON object"
    if body.get("apiVersion") != "batch/v1" or body.get("kind") != "Job":
        return f"the manifest is {body.get('apiVersion')!r} {body.get('kind')!r}, not a batch/v1 Job"
    if not isinstance(body.get("metadata", {}), Mapping):
        return "the manifest's metadata is not an object, where Nautobot sets the name"
    pod: object = body
    for key in ("spec", "template", "spec"):  # any level may be missing, null or not an object
        pod = pod.get(key) if isinstance(pod, Mapping) else None
    containers = pod.get("containers") if isinstance(pod, Mapping) else None
    if not isinstance(containers, list) or not containers or not isinstance(containers[0], Mapping):
        return "the manifest has no spec.template.spec.containers[0], where Nautobot sets the command"
    return None


def nautobot_job(body: Mapping[str, Any], settings: KubernetesSettings) -> dict[str, Any]:
    """The Job exactly as Nautobot would submit it for a run on this queue."""
    job = copy.deepcopy(dict(body))
    job.setdefault("metadata", {})
    job["metadata"]["name"] = f"{settings.pod_name}-{PREFLIGHT_RESULT_ID}"
    job["spec"]["template"]["spec"]["containers"][0]["command"] = [
        "nautobot-server", "runjob_with_job_result", str(PREFLIGHT_RESULT_ID),
        f"--config={settings.settings_path}", "--data", "{}",
    ]  # fmt: skip
    return job


def api_client(settings: KubernetesSettings) -> tuple[Any | None, str]:
    """A client for the cluster, and which one: a kubeconfig, Nautobot's service-account settings, or
    the in-cluster account; (None, why) when none is configured."""
    from kubernetes import client, config

    if settings.kubeconfig is not None:
        if not settings.kubeconfig.is_file():
            return None, f"kubeconfig {settings.kubeconfig} does not exist"
        api = config.new_client_from_config(config_file=str(settings.kubeconfig))  # type: ignore[no-untyped-call]
        return api, f"kubeconfig {settings.kubeconfig} ({api.configuration.host})"
    if settings.service_address and settings.token_path and settings.token_path.is_file():
        configuration = client.Configuration()
        configuration.host = settings.service_address
        if settings.ca_cert_path is not None:
            configuration.ssl_ca_cert = str(settings.ca_cert_path)
        token = settings.token_path.read_text(encoding="utf-8").strip()
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(configuration), f"{settings.service_address} (token {settings.token_path})"
    if settings.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        return client.ApiClient(configuration), f"in-cluster ({configuration.host})"
    return None, "no cluster configured (give --kubeconfig, or Nautobot's KUBERNETES_* service-account settings)"


@dataclass
class Cluster:
    """One connection to the API server for a whole preflight; the namespace is checked once."""

    settings: KubernetesSettings
    client: Any | None
    description: str
    _namespace: Check | None = None

    @classmethod
    def connect(cls, settings: KubernetesSettings) -> Cluster:
        try:
            found, description = api_client(settings)
        except Exception as exc:  # the client's config loaders raise their own ConfigException
            found, description = None, f"the cluster configuration cannot be read: {exc}"
        return cls(settings, found, description)

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def checks(self, queue: str) -> tuple[Check, ...]:
        manifest = find_manifest(queue, self.settings)
        found = manifest.problem or f"a batch/v1 Job from {manifest.source}"
        first = Check("manifest", manifest.problem is None, found)
        if manifest.body is None or manifest.problem is not None:
            return (first,)
        if self.client is None:
            return (first, Check("cluster", None, self.description))
        namespace = self.namespace()
        if not namespace.ok:
            return (first, namespace)
        rbac = self._call("rbac", self._may_create_jobs)
        if not rbac.ok:
            return (first, namespace, rbac)
        return (first, namespace, rbac, self._call("dry-run", lambda: self._dry_run(manifest.body or {})))

    def namespace(self) -> Check:
        if self._namespace is None:
            self._namespace = self._call("namespace", self._read_namespace)
        return self._namespace

    def _read_namespace(self) -> Check:
        from kubernetes import client

        name = self.settings.namespace
        try:
            client.CoreV1Api(self.client).read_namespace(name, _request_timeout=self.settings.timeout)
        except client.ApiException as exc:
            if exc.status == 404:
                return Check("namespace", False, f"namespace {name!r} does not exist")
            if exc.status == 403:
                return Check("namespace", False, f"namespace {name!r} is missing or not allowed (the identity may "
                                                 "not get namespaces, so the two look alike)")  # fmt: skip
            raise
        return Check("namespace", True, f"namespace {name!r} exists")

    def _may_create_jobs(self) -> Check:
        from kubernetes import client

        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(namespace=self.settings.namespace, verb="create",
                                                            group="batch", resource="jobs")))  # fmt: skip
        answer = client.AuthorizationV1Api(self.client).create_self_subject_access_review(
            review, _request_timeout=self.settings.timeout
        )
        allowed = bool(answer.status and answer.status.allowed)
        detail = "may create Jobs" if allowed else "may not create Jobs"
        return Check("rbac", allowed, f"this identity {detail} in {self.settings.namespace!r}")

    def _dry_run(self, body: Mapping[str, Any]) -> Check:
        from kubernetes import client

        job = nautobot_job(body, self.settings)
        client.BatchV1Api(self.client).create_namespaced_job(
            self.settings.namespace,
            job,  # type: ignore[arg-type]  # the client posts a plain dict as it is, as Nautobot does
            dry_run="All",
            _request_timeout=self.settings.timeout,
        )
        return Check("dry-run", True, "the API server accepts the Job Nautobot would submit (server-side dry run)")

    def _call(self, name: str, probe: Callable[[], Check]) -> Check:
        from kubernetes import client
        from urllib3.exceptions import HTTPError

        try:
            return probe()
        except client.ApiException as exc:
            return Check(name, False, f"the API server refused it ({exc.status}): {_reason(exc)}")
        except (HTTPError, OSError) as exc:
            return Check(name, None, f"the API server does not answer ({type(exc).__name__})")


def _reason(exc: Any) -> str:
    try:
        message = json.loads(exc.body or "{}").get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or exc.reason or "no reason given")
