"""Prometheus metrics of the loop, named like Argo CD's and Flux's, read from nbjobs' history at scrape time.

The numbers come from the nbjobs_run rows rather than from counters in one process: a pool of Celery
worker processes (or several machines) ticking a fleet then reports one consistent truth, and a
restarted worker does not reset what was counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from reconciler.config import Settings
from reconciler.loop.tick import engine_for
from reconciler.state.runs import RunRecord, RunTotals, last_runs, last_success, run_totals

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class RunCollector(Collector):
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def collect(self) -> Iterator[Any]:
        duration = HistogramMetricFamily("nbjobs_reconcile_duration_seconds", "Duration of the ticks that planned",
                                         labels=["target"])  # fmt: skip
        total = CounterMetricFamily("nbjobs_reconcile", "Ticks by outcome (idle: nothing changed)",
                                    labels=["target", "outcome"])  # fmt: skip
        drifted = GaugeMetricFamily("nbjobs_drifted_objects", "Fields out of sync at the last run", labels=["target"])
        pending = GaugeMetricFamily("nbjobs_pending_operations", "Deletions and purges awaiting prune",
                                    labels=["target"])  # fmt: skip
        success = GaugeMetricFamily("nbjobs_last_success_timestamp_seconds", "End of the last run without error",
                                    labels=["target"])  # fmt: skip
        info = GaugeMetricFamily("nbjobs_sync_info", "The last run's revision and state", labels=["target",
                                 "revision", "state"])  # fmt: skip
        workers = GaugeMetricFamily("nbjobs_queue_workers", "Celery workers consuming each routed queue at the last "
                                    "run with preflight", labels=["target", "queue"])  # fmt: skip
        scrape_errors = GaugeMetricFamily("nbjobs_scrape_errors", "Targets whose history could not be read",
                                          labels=["target"])  # fmt: skip
        findings = GaugeMetricFamily("nbjobs_audit_findings", "Audit findings by kind at the last run with "
                                     "audit = true", labels=["target", "kind"])  # fmt: skip
        for target in self._settings.resolved_targets():
            try:
                with engine_for(target).connect() as connection:
                    totals = [t for t in run_totals(connection, BUCKETS) if t.target == target.name]
                    last = last_runs(connection).get(target.name)
                    succeeded = last_success(connection, target.name)
            except SQLAlchemyError:
                scrape_errors.add_metric([target.name], 1)
                continue
            scrape_errors.add_metric([target.name], 0)
            _histogram(duration, target.name, totals)
            for row in totals:
                total.add_metric([target.name, row.state], row.runs)
            total.add_metric([target.name, "idle"], sum(row.idle_ticks for row in totals))
            if last is not None:
                drifted.add_metric([target.name], _unhealed(last))
                pending.add_metric([target.name], len(last.pending))
                info.add_metric([target.name, last.revision or "", last.state], 1)
                for queue in (last.preflight or {}).get("queues", []):
                    if queue["type"] == "celery" and queue["readiness"] != "unknown":
                        workers.add_metric([target.name, queue["queue"]], len(queue["workers"]))
                for kind, count in ((last.audit or {}).get("summary") or {}).get("by_kind", {}).items():
                    findings.add_metric([target.name, kind], count)
            if succeeded is not None:
                success.add_metric([target.name], succeeded.timestamp())
        yield from (duration, total, drifted, pending, success, info, workers, findings, scrape_errors)


def _histogram(family: HistogramMetricFamily, target: str, totals: list[RunTotals]) -> None:
    if not totals:
        return
    counts = [sum(row.buckets[i] for row in totals) for i in range(len(BUCKETS))]
    runs = sum(row.runs for row in totals)
    buckets = [(f"{bound:g}", count) for bound, count in zip(BUCKETS, counts, strict=True)] + [("+Inf", runs)]
    family.add_metric([target], buckets, sum(row.duration_sum for row in totals))


def _unhealed(run: RunRecord) -> int:
    return sum(1 for entry in run.drift if not entry.get("healed"))


def serve(settings: Settings, port: int) -> None:
    """Expose the metrics on `port` (all interfaces, as Prometheus exporters do)."""
    from prometheus_client import REGISTRY, start_http_server

    REGISTRY.register(RunCollector(settings))
    start_http_server(port)
