"""The reconcile loop's deployment examples stay true to the code: the settings file validates (its fleet
too, uncommented), the dashboard and the alert rules query only metrics and labels the collector
emits, and the systemd unit runs a real `nbjobs` command and passes `systemd-analyze verify`."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any
from uuid import uuid4

import pytest
import yaml
from common import EXAMPLES, ROOT, clear_settings_environment
from sqlalchemy import URL

from reconciler.cli import build_parser
from reconciler.cli import loop as loop_cli
from reconciler.config import Policy, Settings, TargetSettings, load_settings
from reconciler.discovery.sources import discover
from reconciler.loop.metrics import RunCollector
from reconciler.loop.tick import dispose_engines
from reconciler.nautobot.connect import DatabaseTarget, create_db_engine
from reconciler.preflight.types import PreflightReport, QueueReadiness, QueueUse, Readiness
from reconciler.render.preflight import preflight_document
from reconciler.sandbox import build_sandbox
from reconciler.state.runs import RunRecord, record_run

UNIT = EXAMPLES / "systemd" / "nbjobs-loop.service"
SETTINGS = EXAMPLES / "systemd" / "nbjobs.toml"
DASHBOARD = EXAMPLES / "grafana" / "nbjobs-loop-dashboard.json"
ALERTS = EXAMPLES / "prometheus" / "nbjobs-alerts.yaml"
METRICS_SOURCE = ROOT / "reconciler" / "loop" / "metrics.py"

METRIC = re.compile(r"\bnbjobs_[a-z_]+\b")
SELECTOR = re.compile(r"\b(nbjobs_[a-z_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
ALERT_LABEL = re.compile(r"\$labels\.(\w+)")
# A commented-out TOML line of the fleet example, as opposed to a line of prose.
COMMENTED_TOML = re.compile(r"^# (\[\[targets\]\]|[a-z_]+ = .*)$")
COMMENTED_SETTING = re.compile(r"^# ([a-z_]+ = .*)$")


def _clear_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_settings_environment(monkeypatch)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No NBJOBS_*/NAUTOBOT_* variable and no ./nbjobs.toml: only the example file speaks."""
    _clear_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)


# --- The settings file ---------------------------------------------------------------------------


def test_settings_example_loads_and_validates(clean_env: None) -> None:
    loaded = load_settings(given_file=SETTINGS)
    settings = loaded.settings
    assert loaded.file == SETTINGS
    assert settings.policy is Policy.DETECT and settings.prune is False and settings.suspend is False
    assert settings.interval == 300 and settings.jitter == 30 and settings.metrics_port == 9108
    assert settings.cache_dir == Path("/var/cache/nbjobs/loop")
    assert [(w.kind, w.schedule, w.duration, w.timezone) for w in settings.windows] == [
        ("allow", "0 22 * * 1-5", timedelta(hours=2), "Europe/Berlin"),
        ("deny", "0 0 20 12 *", timedelta(days=14), "Europe/Berlin"),
    ]
    assert [t.name for t in settings.resolved_targets()] == ["default"]
    # Everything but the secrets comes from the file; the secrets come from the unit's environment file.
    from_file = {name for name, origin in loaded.origins.items() if origin.startswith("file ")}
    assert {"jobs_root", "repo", "policy", "windows", "interval", "cache_dir", "metrics_port"} <= from_file
    assert not from_file & {"database_url", "broker_url", "nautobot_broker_url", "git_password"}
    repo = settings.repo.get_secret_value() if settings.repo else ""
    assert "@" not in repo, "the repository URL must not carry credentials"


def test_settings_example_lists_every_setting_with_a_comment() -> None:
    lines = SETTINGS.read_text(encoding="utf-8").splitlines()
    for name in Settings.model_fields:
        key = re.compile(rf"^(?:# )?(?:\[\[{name}\]\]|{name} = )")
        found = [i for i, line in enumerate(lines) if key.match(line)]
        assert found, f"{SETTINGS.name} does not mention the setting {name!r}"
        above = lines[found[0] - 1]
        assert above.startswith("#") and not key.match(above), f"{name!r} has no comment above it"


def test_every_commented_out_setting_validates_when_uncommented(clean_env: None, tmp_path: Path) -> None:
    lines = SETTINGS.read_text(encoding="utf-8").splitlines()
    head = lines[: next(i for i, line in enumerate(lines) if line.startswith("# --- A fleet"))]
    uncommented = [m[1] if (m := COMMENTED_SETTING.match(line)) else line for line in head]
    names = {line.split(" = ", 1)[0] for line, was in zip(uncommented, head, strict=True) if line != was}
    assert {"database_url", "git_root", "broker_url", "git_password"} <= names
    path = tmp_path / "all.toml"
    path.write_text("\n".join(uncommented) + "\n", encoding="utf-8")
    loaded = load_settings(given_file=path)
    assert {name for name, origin in loaded.origins.items() if origin.startswith("file ")} >= names


def test_fleet_example_validates_when_uncommented(clean_env: None, tmp_path: Path) -> None:
    text = SETTINGS.read_text(encoding="utf-8")
    head, marker, fleet = text.partition("# --- A fleet")
    assert marker, "the fleet example is missing"
    uncommented = [m[1] for line in fleet.splitlines() if (m := COMMENTED_TOML.match(line))]
    assert uncommented.count("[[targets]]") == 2
    path = tmp_path / "fleet.toml"
    path.write_text(head + "\n".join(uncommented) + "\n", encoding="utf-8")
    settings = load_settings(given_file=path).settings
    prod, lab = settings.resolved_targets()
    assert (prod.name, prod.policy, prod.prune, prod.path) == ("prod", Policy.HEAL, True, "manifests/prod")
    assert (lab.name, lab.branch, lab.default_queue, lab.apps) == ("lab", "lab", "lab", ("nautobot_golden_config",))
    assert settings.repo is not None and lab.repo == settings.repo.get_secret_value()  # inherited
    for target in (prod, lab):
        assert target.database_url and "@" in target.database_url
        assert ":" not in target.database_url.split("://", 1)[1].split("@", 1)[0], "a password in the file"
    # Every field a target can set is shown in the example.
    shown = {line.split(" = ", 1)[0] for line in uncommented if " = " in line}
    assert shown == set(TargetSettings.model_fields)


# --- The metrics the dashboard and the alerts query --------------------------------------------


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """Sample name -> label names, from a real RunCollector scrape of a sandbox with one recorded run (with
    drift, a pending retirement and a preflight report, so that every family has a sample)."""
    database = tmp_path_factory.mktemp("metrics") / "nbjobs.db"
    engine = create_db_engine(DatabaseTarget(URL.create("sqlite", database=str(database)), "metrics test"))
    try:
        build_sandbox(engine, discover(jobs_root=EXAMPLES / "jobs"))
        now = datetime.now(UTC)
        run = RunRecord(
            id=uuid4(), target="default", started_at=now - timedelta(seconds=2), finished_at=now,
            duration_seconds=1.5, host="test", revision="a" * 40, policy="detect", prune=False, state="drifted",
            observed="drifted", action="none", message="1 drifted field",
            drift=[{"job": "audits.DeviceAudit", "field": "grouping", "desired": "x", "actual": "y"}],
            pending=[{"job": "legacy.OldImport", "step": 4, "reason": "prune", "location": "retire.yaml:1:1"}],
            preflight=preflight_document(PreflightReport((
                QueueReadiness(QueueUse("default", "celery", ("audits.DeviceAudit",)), Readiness.READY, "1 worker",
                               ("celery@worker-1",)),
                QueueReadiness(QueueUse("heavy", "celery", (), ("audits.DeviceAudit",)), Readiness.NOT_READY,
                               "no worker"),
            ))),
            audit={"summary": {"findings": 1, "by_kind": {"idle-job": 1, "redundant-override": 0}}},
        )  # fmt: skip
        with engine.begin() as connection:
            record_run(connection, run)
    finally:
        engine.dispose()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _clear_environment(monkeypatch)
        values: dict[str, Any] = {"database_url": URL.create("sqlite", database=str(database)).render_as_string()}
        settings = Settings(**values)
    samples: dict[str, set[str]] = {}
    try:
        for family in RunCollector(settings).collect():
            for sample in family.samples:
                samples.setdefault(sample.name, set()).update(sample.labels)
    finally:
        dispose_engines()
    yield samples


def test_the_scrape_covers_every_metric_family_of_the_collector(emitted: dict[str, set[str]]) -> None:
    declared = set(re.findall(r'MetricFamily\(\s*"(nbjobs_\w+)"', METRICS_SOURCE.read_text(encoding="utf-8")))
    assert len(declared) >= 7
    for family in declared:
        assert any(name == family or name.startswith(family + "_") for name in emitted), family
    assert emitted["nbjobs_scrape_errors"] == {"target"}, "the test database could not be read"
    assert {"nbjobs_reconcile_total", "nbjobs_reconcile_duration_seconds_bucket"} <= set(emitted)


def _dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _dashboard_queries() -> list[tuple[str, str]]:
    """(expression, legend) of every panel target and of the template variables."""
    data = _dashboard()
    queries = [(t["expr"], t.get("legendFormat", "")) for p in data["panels"] for t in p.get("targets", [])]
    for variable in data["templating"]["list"]:
        query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
        queries += [(query, ""), (variable["definition"], "")]
    return queries


def _alert_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def _check_expression(expression: str, emitted: dict[str, set[str]], shown: set[str]) -> None:
    """Every metric is emitted; every label matched, grouped on, or shown (legend, annotation) is one of
    the metrics of the expression has (`le` for the histogram's buckets)."""
    names = set(METRIC.findall(expression))
    assert names, f"no nbjobs metric in {expression!r}"
    unknown = names - set(emitted)
    assert not unknown, f"{expression!r} uses {sorted(unknown)}, which the collector does not emit"
    labels = set().union(*(emitted[name] for name in names))
    for metric, matchers in SELECTOR.findall(expression):
        for label in MATCHER.findall(re.sub(r'"[^"]*"', '""', matchers)):
            assert label in emitted[metric], f"{metric} has no label {label!r} ({expression!r})"
    grouped = {label.strip() for group in GROUPING.findall(expression) for label in group.split(",") if label.strip()}
    assert grouped <= labels, f"{expression!r} groups on unknown labels {sorted(grouped - labels)}"
    assert shown <= labels, f"{sorted(shown - labels)} are not labels of {expression!r}"
    for metric, label in re.findall(r"label_values\(\s*(nbjobs_\w+)\s*,\s*(\w+)\s*\)", expression):
        assert label in emitted[metric]


def test_dashboard_queries_only_emitted_metrics_and_labels(emitted: dict[str, set[str]]) -> None:
    queries = _dashboard_queries()
    for expression, legend in queries:
        _check_expression(expression, emitted, set(LEGEND_LABEL.findall(legend)))
    used = {name for expression, _ in queries for name in METRIC.findall(expression)}
    assert used >= {
        "nbjobs_sync_info", "nbjobs_drifted_objects", "nbjobs_pending_operations",
        "nbjobs_last_success_timestamp_seconds", "nbjobs_reconcile_total", "nbjobs_reconcile_duration_seconds_bucket",
    }  # fmt: skip


def test_alert_rules_query_only_emitted_metrics_and_labels(emitted: dict[str, set[str]]) -> None:
    rules = _alert_rules()
    assert {r["alert"] for r in rules} >= {"NbjobsDrifted", "NbjobsNoRecentSuccess", "NbjobsSyncError"}
    for rule in rules:
        shown = {label for text in rule["annotations"].values() for label in ALERT_LABEL.findall(text)}
        if "absent(" in rule["expr"]:
            shown = set()  # absent() returns the selector's labels only
        _check_expression(rule["expr"], emitted, shown)
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_alert_rules_agree_with_the_settings() -> None:
    rules = {r["alert"]: r for r in _alert_rules()}
    assert rules["NbjobsDrifted"]["for"] == "30m" and "nbjobs_drifted_objects > 0" in rules["NbjobsDrifted"]["expr"]
    assert 'state="error"' in rules["NbjobsSyncError"]["expr"]
    # "Three intervals": 3 x (interval + jitter) with the default settings.
    fields = Settings.model_fields
    three = int(3 * (fields["interval"].default + fields["jitter"].default))
    assert f"> {three}" in rules["NbjobsNoRecentSuccess"]["expr"]
    assert f"[{three}s]" in rules["NbjobsNoRecentSuccess"]["expr"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_alert_rules_pass_promtool() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_is_an_importable_grafana_dashboard() -> None:
    data = _dashboard()
    assert data["schemaVersion"] == 39 and data["uid"] and data["title"]
    assert [(i["name"], i["type"], i["pluginId"]) for i in data["__inputs"]] == [
        ("DS_PROMETHEUS", "datasource", "prometheus")
    ]
    (variable,) = [v for v in data["templating"]["list"] if v["name"] == "target"]
    assert variable["type"] == "query" and variable["definition"] == "label_values(nbjobs_sync_info, target)"
    assert variable["query"]["query"] == variable["definition"]
    assert variable["datasource"]["uid"] == "${DS_PROMETHEUS}"
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            # Every selector follows the target variable.
            for _metric, matchers in SELECTOR.findall(target["expr"]):
                assert 'target=~"$target"' in matchers, target["expr"]
    _assert_no_overlap([p["gridPos"] for p in data["panels"]])


def _assert_no_overlap(boxes: list[dict[str, int]]) -> None:
    cells: set[tuple[int, int]] = set()
    for box in boxes:
        mine = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not cells & mine, f"panel at {box} overlaps another"
        cells |= mine


# --- The systemd unit ----------------------------------------------------------------------------


def _unit() -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values (a key may repeat, as systemd allows)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{line!r} outside a section"
        key, equals, value = line.partition("=")
        assert equals, f"{line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_is_hardened_and_runs_as_its_own_user() -> None:
    unit = _unit()
    service = {key: values[-1] for key, values in unit["Service"].items()}
    assert service["User"] == "nbjobs" and service["Group"] == "nbjobs"
    expected = {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                "Restart": "on-failure", "EnvironmentFile": "-/etc/nbjobs/env"}  # fmt: skip
    assert {key: service.get(key) for key in expected} == expected
    assert service["CapabilityBoundingSet"] == "" and service["ExecStart"]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["Unit"]["After"][0]


def test_systemd_unit_can_write_the_settings_cache_dir(clean_env: None) -> None:
    writable = [PurePosixPath(p.lstrip("-")) for v in _unit()["Service"]["ReadWritePaths"] for p in v.split()]
    cache_dir = PurePosixPath(load_settings(given_file=SETTINGS).settings.cache_dir)
    assert any(cache_dir == p or p in cache_dir.parents for p in writable), (cache_dir, writable)


def test_systemd_unit_runs_a_real_nbjobs_command() -> None:
    argv = shlex.split(_unit()["Service"]["ExecStart"][-1])
    assert PurePosixPath(argv[0]).name == "nbjobs"
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit:  # argparse printed why
        pytest.fail(f"`{' '.join(argv[1:])}` is not a valid nbjobs command line")
    assert args.handler is loop_cli._loop
    assert args.config == Path("/etc/nbjobs/nbjobs.toml")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this venv's nbjobs instead of /opt's.
    nbjobs = Path(sys.executable).parent / "nbjobs"
    if not nbjobs.is_file():
        pytest.skip(f"no nbjobs executable beside {sys.executable}")
    program = shlex.split(_unit()["Service"]["ExecStart"][-1])[0]
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text(encoding="utf-8").replace(program, str(nbjobs)), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False)
    about_unit = [line for line in (done.stdout + done.stderr).splitlines() if UNIT.name in line]
    assert done.returncode == 0 and not about_unit, done.stdout + done.stderr
