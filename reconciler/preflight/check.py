"""Run the preflight checks for the queues the desired state uses; one value back, nothing raised for
what is merely not ready (the renderers and --strict decide what it means)."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.diagnostics import plural
from reconciler.preflight.celery import BrokerUnreachableError, workers_by_queue
from reconciler.preflight.kubernetes import Cluster, KubernetesSettings
from reconciler.preflight.types import Check, PreflightReport, QueueReadiness, QueueUse, Readiness


def run_preflight(
    uses: Sequence[QueueUse],
    broker_url: str | None,
    kubernetes: KubernetesSettings,
    *,
    broker_display: str | None = None,
    timeout: float = 2.0,
) -> PreflightReport:
    celery_queues = [use for use in uses if use.queue_type != "kubernetes"]
    kubernetes_queues = [use for use in uses if use.queue_type == "kubernetes"]
    results: list[QueueReadiness] = []
    if celery_queues:
        results += _celery(celery_queues, broker_url, timeout)
    cluster_name = None
    if kubernetes_queues:
        cluster = Cluster.connect(kubernetes)
        cluster_name = cluster.description
        try:
            results += [_kubernetes(use, cluster) for use in kubernetes_queues]
        finally:
            cluster.close()
    order = {use.name: i for i, use in enumerate(uses)}
    return PreflightReport(tuple(sorted(results, key=lambda r: order[r.use.name])), broker_display, cluster_name)


def _celery(uses: Sequence[QueueUse], broker_url: str | None, timeout: float) -> list[QueueReadiness]:
    if not broker_url:
        why = "no broker configured (give --broker-url, or set NAUTOBOT_CELERY_BROKER_URL)"
        return [QueueReadiness(use, Readiness.UNKNOWN, why, (), (Check("workers", None, why),)) for use in uses]
    try:
        found = workers_by_queue(broker_url, timeout)
    except BrokerUnreachableError as exc:
        return [QueueReadiness(use, Readiness.UNKNOWN, str(exc), (), (Check("workers", None, str(exc)),))
                for use in uses]  # fmt: skip
    results = []
    for use in uses:
        workers = found.get(use.name, ())
        if workers:
            summary = f"{plural(len(workers), 'worker')}: {', '.join(workers)}"
            results.append(QueueReadiness(use, Readiness.READY, summary, workers, (Check("workers", True, summary),)))
        else:
            summary = f"no worker consumes {use.name!r}: Nautobot refuses every run (CeleryWorkerNotRunningException)"
            results.append(QueueReadiness(use, Readiness.NOT_READY, summary, (), (Check("workers", False, summary),)))
    return results


def _kubernetes(use: QueueUse, cluster: Cluster) -> QueueReadiness:
    checks = cluster.checks(use.name)
    failed = next((c for c in checks if c.ok is False), None)
    unknown = next((c for c in checks if c.ok is None), None)
    if failed is not None:
        return QueueReadiness(use, Readiness.NOT_READY, failed.detail, (), checks)
    if unknown is not None:
        return QueueReadiness(use, Readiness.NOT_READY, unknown.detail, (), checks)
    return QueueReadiness(use, Readiness.READY, "manifest, namespace, RBAC and a dry-run create pass", (), checks)
