"""One typed configuration for the CLI and the reconcile loop (pydantic-settings).

Precedence, highest first: command-line flags, `NBJOBS_*` variables, Nautobot's own `NAUTOBOT_*`
variables, the settings file (`--config FILE`, else `NBJOBS_CONFIG`, else `./nbjobs.toml` when it
exists), the defaults. Every entry point builds this object once (`load_settings`) and hands it on;
`nbjobs config` prints each effective value with where it came from, secrets masked.

A fleet is a list of `[[targets]]`, each a Nautobot database with its code and its manifests; without
one, the top-level fields describe the single target `default`. A target inherits every top-level
value it does not set itself.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, fields
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from reconciler.diagnostics import NbjobsError, plural
from reconciler.fields import DEFAULT_QUEUE_NAME
from reconciler.manifest.limits import MAX_DEPTH_CEILING, ManifestLimits
from reconciler.nautobot.connect import nautobot_env_url
from reconciler.preflight.kubernetes import KubernetesSettings

DEFAULT_CONFIG_FILE = Path("nbjobs.toml")
LOOP_QUEUE = "nbjobs"  # the loop's own Celery queue, never one of Nautobot's
_LIMITS = ManifestLimits()  # the defaults of the manifest_max_* settings


class Policy(StrEnum):
    DETECT = "detect"  # record drift, change nothing
    HEAL = "heal"  # apply the plan (deletions and purges only with prune)


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> timedelta:
    """`1h`, `30m`, `1h30m`, `2d`, `45s`: the durations Argo CD's sync windows take."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration: expected e.g. 1h, 30m, 1h30m, 2d")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


class SyncWindow(BaseModel):
    """When the loop may apply, as Argo CD's sync windows: from each time `schedule` fires, for
    `duration`, in `timezone`. Deny wins over allow; with allow windows, applies happen only inside one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["allow", "deny"]
    schedule: str = Field(description="cron expression (5 fields), e.g. '0 22 * * *'")
    duration: timedelta = Field(description="how long the window stays open, e.g. 1h, 30m, 1h30m")
    timezone: str = "UTC"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a cron expression of 5 fields (minute hour day month weekday)")
        return value

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (e.g. UTC, Europe/Berlin)") from None
        return value


class TargetSettings(BaseModel):
    """One Nautobot the loop reconciles: its database, its job code and its manifests. Fields left
    unset inherit the top-level value."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    database_url: SecretStr | None = None
    jobs_root: Path | None = None
    git_root: Path | None = None
    apps: tuple[str, ...] | None = None
    default_queue: str | None = None
    repo: SecretStr | None = None
    branch: str | None = None
    path: str | None = None
    policy: Policy | None = None
    prune: bool | None = None
    suspend: bool | None = None
    user: str | None = None


@dataclass(frozen=True)
class Target:
    """A target with every inherited value filled in: what one tick of the loop works on."""

    name: str
    database_url: str | None
    jobs_root: Path | None
    git_root: Path | None
    apps: tuple[str, ...]
    default_queue: str
    repo: str | None
    branch: str
    path: str
    policy: Policy
    prune: bool
    suspend: bool
    user: str | None


class Settings(BaseSettings):
    """Everything nbjobs can be told. Secrets are SecretStr: shown masked, read with get_secret_value()."""

    model_config = SettingsConfigDict(env_prefix="NBJOBS_", extra="forbid", frozen=True)

    # Where the code, the database and the manifests are (the single target, or every target's default).
    database_url: SecretStr | None = Field(None, description="SQLAlchemy URL of Nautobot's database")
    jobs_root: Path | None = Field(None, description="Nautobot's JOBS_ROOT")
    git_root: Path | None = Field(None, description="Nautobot's GIT_ROOT")
    apps: tuple[str, ...] = Field((), description="App packages providing jobs (names or paths)")
    default_queue: str = Field(DEFAULT_QUEUE_NAME, description="Nautobot's CELERY_TASK_DEFAULT_QUEUE")
    user: str | None = Field(None, description="Nautobot user recorded in the change log (--as)")
    repo: SecretStr | None = Field(None, description="git remote of the manifests (the loop)")
    branch: str = Field("main", description="branch of the manifests repository")
    path: str = Field("manifests", description="manifests directory inside the repository")

    # The loop.
    policy: Policy = Field(Policy.DETECT, description="detect: record drift; heal: apply the plan")
    prune: bool = Field(False, description="heal also deletes jobs and purges results (retirement steps 4-5)")
    suspend: bool = Field(False, description="stop acting, keep reporting")
    windows: tuple[SyncWindow, ...] = Field((), description="when applies are allowed (Argo CD's sync windows)")
    interval: float = Field(300.0, gt=0, description="seconds between ticks")
    jitter: float = Field(30.0, ge=0, description="up to this many seconds added to each interval, at random")
    broker_url: SecretStr | None = Field(None, description="the loop's own Celery broker (Redis or RabbitMQ)")
    nautobot_broker_url: SecretStr | None = Field(None, description="the broker Nautobot's workers use")
    metrics_port: int | None = Field(None, ge=0, le=65535, description="serve Prometheus metrics on this port")
    cache_dir: Path = Field(Path.home() / ".cache" / "nbjobs" / "loop", description="git cache clones")
    lock_ttl: float = Field(900.0, gt=0, description="seconds a tick's Redis lock lives if its worker dies")
    lock_timeout: float = Field(0.0, ge=0, description="seconds an apply waits for another apply's lock")
    mass_delete_min_managed: int = Field(20, ge=0, description="managed jobs from which the mass-delete guard "
                                         "also refuses deleting more than a quarter of them")  # fmt: skip
    git_username: str | None = Field(None, description="user for the manifests remote (given to git by askpass)")
    git_password: SecretStr | None = Field(None, description="password or token for the manifests remote")
    targets: tuple[TargetSettings, ...] = Field((), description="a fleet: one entry per Nautobot")

    # What the manifests may hold (reconciler/manifest/limits.py): far above real manifests; past one,
    # reading stops with one located error that names the setting.
    manifest_max_file_bytes: int = Field(_LIMITS.max_file_bytes, ge=1, description="bytes of one manifest file")
    manifest_max_total_bytes: int = Field(_LIMITS.max_total_bytes, ge=1,
                                          description="bytes of all the manifest files together")  # fmt: skip
    manifest_max_files: int = Field(_LIMITS.max_files, ge=1, description="manifest files read in one run")
    manifest_max_scalar_length: int = Field(_LIMITS.max_scalar_length, ge=1,
                                            description="characters of one YAML scalar (a value or a key)")  # fmt: skip
    manifest_max_depth: int = Field(_LIMITS.max_depth, ge=1, le=MAX_DEPTH_CEILING,
                                    description="levels of nested lists and mappings (a manifest uses 5)")  # fmt: skip
    manifest_max_values: int = Field(_LIMITS.max_values, ge=1, description="YAML values of all the manifests, "
                                     "an alias counted as the values it repeats (stops a billion laughs)")  # fmt: skip
    manifest_max_entries: int = Field(_LIMITS.max_entries, ge=1,
                                      description="queues, jobs and retire entries of all the manifests")  # fmt: skip

    # Preflight: what runs the queues (named after Nautobot's settings of the same meaning).
    preflight: bool = Field(False, description="the loop checks queue readiness on every run that plans")
    preflight_timeout: float = Field(3.0, gt=0, description="seconds to wait for workers and the API server")
    kubeconfig: Path | None = Field(None, description="kubeconfig for preflight (else Nautobot's service account)")
    kubernetes_job_pod_namespace: str = Field("default", description="KUBERNETES_JOB_POD_NAMESPACE")
    kubernetes_job_manifest: dict[str, Any] | None = Field(None, description="KUBERNETES_JOB_MANIFEST (JSON)")
    kubernetes_job_manifest_file: Path | None = Field(None, description="a file holding KUBERNETES_JOB_MANIFEST")
    kubernetes_job_pod_name: str = Field("nautobot-job", description="KUBERNETES_JOB_POD_NAME")
    job_queue_path: Path = Field(Path("/etc/nautobot/job-queues"), description="JOB_QUEUE_PATH")
    kubernetes_default_service_address: str = Field("https://kubernetes.default.svc",
                                                    description="KUBERNETES_DEFAULT_SERVICE_ADDRESS")  # fmt: skip
    kubernetes_token_path: Path = Field(Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
                                        description="KUBERNETES_TOKEN_PATH")  # fmt: skip
    kubernetes_ssl_ca_cert_path: Path = Field(Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
                                              description="KUBERNETES_SSL_CA_CERT_PATH")  # fmt: skip
    nautobot_config: str = Field(str(Path.home() / ".nautobot" / "nautobot_config.py"),
                                 description="NAUTOBOT_CONFIG: the --config= of the Job")  # fmt: skip

    # The audit (`nbjobs audit`, and the loop's runs with `audit = true`).
    audit: bool = Field(False, description="the loop audits on every run that plans and records the findings")
    audit_unused_days: int = Field(90, ge=1, description="days without a run after which an enabled job is idle")
    audit_module_threshold: int = Field(3, ge=2, description="jobs of one module with the same override from "
                                        "which the audit suggests setting it in the code")  # fmt: skip

    @field_validator("targets")
    @classmethod
    def _distinct_targets(cls, value: tuple[TargetSettings, ...]) -> tuple[TargetSettings, ...]:
        names = [target.name for target in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"target names must differ (each has its own beat entry, lock and history): "
                             f"{', '.join(repeated)} named more than once")  # fmt: skip
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return tuple(source for _, source in _sources(settings_cls, init_settings, _CONFIG_FILE.get()))

    def resolved_targets(self) -> tuple[Target, ...]:
        entries = self.targets or (TargetSettings(name="default"),)
        return tuple(self._resolve(entry) for entry in entries)

    def target(self, name: str | None = None) -> Target:
        targets = self.resolved_targets()
        if name is None:
            if len(targets) > 1:
                names = ", ".join(t.name for t in targets)
                raise NbjobsError(f"the configuration names {len(targets)} targets ({names}); choose one with --target")
            return targets[0]
        for found in targets:
            if found.name == name:
                return found
        raise NbjobsError(f"no target {name!r} in the configuration; known: {', '.join(t.name for t in targets)}")

    def _resolve(self, entry: TargetSettings) -> Target:
        def pick(own: Any, inherited: Any) -> Any:
            return inherited if own is None else own

        return Target(
            name=entry.name,
            database_url=_secret(pick(entry.database_url, self.database_url)),
            jobs_root=pick(entry.jobs_root, self.jobs_root),
            git_root=pick(entry.git_root, self.git_root),
            apps=pick(entry.apps, self.apps),
            default_queue=pick(entry.default_queue, self.default_queue),
            repo=_secret(pick(entry.repo, self.repo)),
            branch=pick(entry.branch, self.branch),
            path=pick(entry.path, self.path),
            policy=pick(entry.policy, self.policy),
            prune=pick(entry.prune, self.prune),
            suspend=pick(entry.suspend, self.suspend),
            user=pick(entry.user, self.user),
        )

    def manifest_limits(self) -> ManifestLimits:
        """The manifest_max_* settings, as the manifest loader takes them."""
        return ManifestLimits(**{item.name: getattr(self, f"manifest_{item.name}") for item in fields(ManifestLimits)})

    def kubernetes(self) -> KubernetesSettings:
        """The Kubernetes side of preflight, as Nautobot's settings of the same names describe it."""
        manifest, origin, problem = self.kubernetes_job_manifest, "KUBERNETES_JOB_MANIFEST", None
        if self.kubernetes_job_manifest_file is not None:
            # An unreadable file is the Kubernetes queues' manifest check failing, not preflight failing:
            # Celery queues are still checked, and the loop's tick still records its drift.
            path = origin = str(self.kubernetes_job_manifest_file)
            try:
                manifest = json.loads(self.kubernetes_job_manifest_file.read_text(encoding="utf-8"))
            except OSError as exc:
                manifest, problem = None, f"{path}: cannot be read: {exc.strerror}"
            except json.JSONDecodeError as exc:
                manifest, problem = None, f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}"
        return KubernetesSettings(
            namespace=self.kubernetes_job_pod_namespace, job_manifest=manifest, job_manifest_origin=origin,
            job_manifest_problem=problem,
            job_queue_path=self.job_queue_path, pod_name=self.kubernetes_job_pod_name,
            settings_path=self.nautobot_config, kubeconfig=self.kubeconfig,
            service_address=self.kubernetes_default_service_address, token_path=self.kubernetes_token_path,
            ca_cert_path=self.kubernetes_ssl_ca_cert_path, timeout=self.preflight_timeout,
        )  # fmt: skip

    @property
    def loop_broker(self) -> str | None:
        """The loop's own broker: NBJOBS_BROKER_URL, else Nautobot's (DESIGN: two brokers)."""
        return _secret(self.broker_url) or _secret(self.nautobot_broker_url)

    @property
    def inspected_broker(self) -> str | None:
        """The broker Nautobot's workers use: NAUTOBOT_CELERY_BROKER_URL, else the loop's."""
        return _secret(self.nautobot_broker_url) or _secret(self.broker_url)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class NautobotEnvSource(PydanticBaseSettingsSource):
    """Nautobot's own environment variables, for the fields that mean the same thing."""

    _PLAIN: Mapping[str, str] = {
        "jobs_root": "NAUTOBOT_JOBS_ROOT",
        "git_root": "NAUTOBOT_GIT_ROOT",
        "default_queue": "NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE",
        "nautobot_broker_url": "NAUTOBOT_CELERY_BROKER_URL",
        "kubernetes_job_pod_namespace": "NAUTOBOT_KUBERNETES_JOB_POD_NAMESPACE",
        "kubernetes_job_pod_name": "NAUTOBOT_KUBERNETES_JOB_POD_NAME",
        "job_queue_path": "NAUTOBOT_JOB_QUEUE_PATH",
        "kubernetes_default_service_address": "NAUTOBOT_KUBERNETES_DEFAULT_SERVICE_ADDRESS",
        "kubernetes_token_path": "NAUTOBOT_KUBERNETES_TOKEN_PATH",
        "kubernetes_ssl_ca_cert_path": "NAUTOBOT_KUBERNETES_SSL_CA_CERT_PATH",
        "nautobot_config": "NAUTOBOT_CONFIG",
    }

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            name: self._environ[var] for name, var in self._PLAIN.items() if self._environ.get(var)
        }
        url = nautobot_env_url(self._environ)
        if url is not None:
            values["database_url"] = url
        manifest = self._environ.get("NAUTOBOT_KUBERNETES_JOB_MANIFEST")
        if manifest:
            try:
                values["kubernetes_job_manifest"] = json.loads(manifest)
            except json.JSONDecodeError as exc:
                raise NbjobsError(f"NAUTOBOT_KUBERNETES_JOB_MANIFEST is not JSON: {exc}") from None
        return values


_CONFIG_FILE: ContextVar[Path | None] = ContextVar("nbjobs_config_file", default=None)


def _sources(
    settings_cls: type[BaseSettings], init: PydanticBaseSettingsSource, config_file: Path | None
) -> list[tuple[str, PydanticBaseSettingsSource]]:
    """The sources in precedence order, each with the name `nbjobs config` shows as its origin."""
    import os

    sources: list[tuple[str, PydanticBaseSettingsSource]] = [
        ("flag", init),
        ("env NBJOBS_*", EnvSettingsSource(settings_cls)),
        ("env NAUTOBOT_*", NautobotEnvSource(settings_cls, os.environ)),
    ]
    if config_file is not None:
        sources.append((f"file {config_file}", TomlConfigSettingsSource(settings_cls, toml_file=config_file)))
    return sources


def config_file(given: Path | None, environ: Mapping[str, str]) -> Path | None:
    """--config FILE, else NBJOBS_CONFIG, else ./nbjobs.toml if it exists; a named file must exist."""
    named = given or (Path(environ["NBJOBS_CONFIG"]) if environ.get("NBJOBS_CONFIG") else None)
    if named is not None:
        if not named.is_file():
            origin = "--config" if given else "NBJOBS_CONFIG"
            raise NbjobsError(f"{origin} {named}: no such file")
        return named
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    origins: Mapping[str, str]  # field name -> where its value came from ("default" when nowhere)
    file: Path | None


def load_settings(flags: Mapping[str, Any] | None = None, given_file: Path | None = None) -> Loaded:
    """The settings from every source; flags are the command line's values (None means not given)."""
    import os

    given = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_file(given_file, os.environ)
    if path is not None:
        _check_toml(path)
    token = _CONFIG_FILE.set(path)
    try:
        settings = Settings(**given)
        origins = _origins(given, path)
    except ValidationError as exc:
        raise NbjobsError(_explain(exc, path, given)) from None
    except SettingsError as exc:  # an NBJOBS_* list or table that is not JSON
        raise NbjobsError(_unparsable(exc)) from None
    finally:
        _CONFIG_FILE.reset(token)
    return Loaded(settings, origins, path)


def _origins(given: Mapping[str, Any], path: Path | None) -> dict[str, str]:
    found = _found(given, path)
    return {name: found.get(name, "default") for name in Settings.model_fields}


def _found(given: Mapping[str, Any], path: Path | None) -> dict[str, str]:
    """Every key some source gives (unknown keys too), with the source it is taken from."""
    init = InitSettingsSource(Settings, dict(given))
    found: dict[str, str] = {}
    for origin, source in _sources(Settings, init, path):
        for name in source():
            found.setdefault(name, origin)
    return found


def _check_toml(path: Path) -> None:
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise NbjobsError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NbjobsError(f"{path}: cannot be read: {exc}") from None


def _explain(exc: ValidationError, path: Path | None, given: Mapping[str, Any]) -> str:
    lines = []
    text = path.read_text(encoding="utf-8").splitlines() if path else []
    found = _found(given, path)
    for error in exc.errors():
        loc = error["loc"]
        where = ".".join(str(part) for part in loc)
        origin = found.get(str(loc[0])) if loc else None
        if origin is not None and origin.startswith("file ") and path is not None:
            location = _toml_line(text, loc, path)  # the value the file holds, not one a flag or variable overrode
        elif origin == "env NBJOBS_*":
            location = f"NBJOBS_{str(loc[0]).upper()}"
        else:
            location = origin
        prefix = f"{location}: " if location else ""
        lines.append(f"  {prefix}{where or 'settings'}: {_message(error)}")
    return f"invalid configuration ({plural(len(lines), 'problem')}):\n" + "\n".join(lines)


def _message(error: Any) -> str:
    """pydantic's message, with what was expected for an unknown key."""
    loc = error["loc"]
    if error["type"] != "extra_forbidden" or not loc or not isinstance(loc[-1], str):
        return str(error["msg"]).removeprefix("Value error, ")
    entries: dict[str, type[BaseModel]] = {"targets": TargetSettings, "windows": SyncWindow}
    model = entries.get(str(loc[0]), Settings) if len(loc) == 3 and isinstance(loc[1], int) else Settings
    known = list(model.model_fields)
    close = difflib.get_close_matches(loc[-1], known, n=1)
    if close:
        return f"unknown setting; did you mean {close[0]!r}?"
    return f"unknown setting (expected one of: {', '.join(known)})"


def _unparsable(exc: SettingsError) -> str:
    named = re.search(r'field "(?P<field>\w+)"', str(exc))
    variable = f"NBJOBS_{named['field'].upper()}" if named else "an NBJOBS_* variable"
    example = """NBJOBS_APPS='["my_app"]'"""
    return f"invalid configuration: {variable} is not JSON (lists and tables in NBJOBS_* variables are, e.g. {example})"


_TABLE = re.compile(r"^\s*\[(?P<array>\[)?\s*(?P<name>[A-Za-z0-9_.-]+)\s*\]")


def _toml_line(text: list[str], loc: tuple[int | str, ...], path: Path) -> str | None:
    """file:line:col of the key an error is about, when the file holds it (tomllib keeps no positions):
    a top-level key before the first table, or a key of the n-th `[[windows]]` or `[[targets]]`."""
    top = loc[0] if loc else None
    if not isinstance(top, str):
        return None
    tables = [(number, match) for number, line in enumerate(text) if (match := _TABLE.match(line))]
    if len(loc) >= 2 and isinstance(loc[1], int):
        entries = [number for number, match in tables if match["array"] and match["name"] == top]
        if loc[1] < len(entries):
            start = entries[loc[1]]
            end = next((number for number, _ in tables if number > start), len(text))
            key = next((part for part in loc[2:] if isinstance(part, str)), None)
            found = _key_line(text, key, start + 1, end, path) if key else None
            return found or f"{path}:{start + 1}:{text[start].index(top) + 1}"  # the entry, when the key is absent
    return _key_line(text, top, 0, tables[0][0] if tables else len(text), path)


def _key_line(text: list[str], key: str, start: int, end: int, path: Path) -> str | None:
    pattern = re.compile(rf"^\s*([\"']?){re.escape(key)}\1\s*=")
    for number in range(start, end):
        if pattern.match(text[number]):
            return f"{path}:{number + 1}:{text[number].index(key) + 1}"
    return None


# The userinfo of a URL ends at its last `@` before the path, so a password is matched greedily (as
# loop/remote.py does): a password holding a raw `@` is masked whole.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#\s:@]*:)(?P<password>[^/?#\s]*)(?=@)")
# A token given as the user of an HTTP(S) URL (https://TOKEN@github.com/...), which git accepts.
_URL_TOKEN = re.compile(r"(?P<head>\bhttps?://)(?P<token>[^/?#\s:@]+)(?=@)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A URL with its password, or the token an HTTP(S) URL gives as its user, replaced by ***."""
    masked = _URL_PASSWORD.sub(lambda m: m.group("head") + "***", url)
    return _URL_TOKEN.sub(lambda m: m.group("head") + "***", masked)


def describe(loaded: Loaded) -> list[tuple[str, str, str]]:
    """(name, value as shown, origin) for every setting: secrets masked, URLs with their password masked."""
    rows = []
    for name in Settings.model_fields:
        value = getattr(loaded.settings, name)
        rows.append((name, _shown(value), loaded.origins[name]))
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, dict):  # a pod manifest: its env may hold passwords
        return f"<a JSON object of {plural(len(value), 'key')}: {', '.join(sorted(map(str, value)))}>"
    if isinstance(value, SecretStr):
        secret = value.get_secret_value()
        return mask_url(secret) if "://" in secret else "***"
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, BaseModel):
        fields = ", ".join(f"{k}={_shown(getattr(value, k))}" for k in type(value).model_fields
                           if getattr(value, k) is not None)  # fmt: skip
        return "{" + fields + "}"
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        parts = [
            (seconds // 86400, "d"),
            (seconds % 86400 // 3600, "h"),
            (seconds % 3600 // 60, "m"),
            (seconds % 60, "s"),
        ]
        return "".join(f"{n}{unit}" for n, unit in parts if n) or "0s"
    return "-" if value is None else str(value)
