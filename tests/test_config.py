"""The one settings object: precedence and origins, the settings file and its located errors, masked
secrets (in `describe` and in `nbjobs config`), the fleet and the two brokers. Pure: no database."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from common import clear_settings_environment

from reconciler.cli import common, main
from reconciler.config import Loaded, Policy, describe, load_settings, mask_url
from reconciler.diagnostics import NbjobsError

SOURCES = ("flag", "env NBJOBS_*", "env NAUTOBOT_*", "file nbjobs.toml", "default")


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No NBJOBS_* or NAUTOBOT_* variable of the machine or of the test run leaks in; the cwd is empty."""
    clear_settings_environment(monkeypatch)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(text: str, name: str = "nbjobs.toml") -> Path:
    path = Path(name)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(*args: object, **kwargs: object) -> str:
    with pytest.raises(NbjobsError) as caught:
        load_settings(*args, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def shown(loaded: Loaded) -> dict[str, tuple[str, str]]:
    return {name: (value, origin) for name, value, origin in describe(loaded)}


# Precedence. Each field named after Nautobot's own variable, with a value at each level.
NAUTOBOT_DB = {"NAUTOBOT_DB_ENGINE": "django.db.backends.postgresql", "NAUTOBOT_DB_HOST": "db.example",
               "NAUTOBOT_DB_PORT": "5433", "NAUTOBOT_DB_USER": "nautobot", "NAUTOBOT_DB_NAME": "nautobot"}  # fmt: skip
# field: (the flag's value, NBJOBS_<FIELD>'s value, the NAUTOBOT_* variables, the file's line)
LEVELS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "jobs_root": ("/flag/jobs", "/nbjobs/jobs", {"NAUTOBOT_JOBS_ROOT": "/nautobot/jobs"}, 'jobs_root = "/file/jobs"'),
    "database_url": ("sqlite:////flag.db", "sqlite:////nbjobs.db", NAUTOBOT_DB, 'database_url = "sqlite:////file.db"'),
    "default_queue": ("flagq", "nbjobsq", {"NAUTOBOT_CELERY_TASK_DEFAULT_QUEUE": "nautobotq"},
                      'default_queue = "fileq"'),
    "nautobot_broker_url": ("redis://flag:6379/0", "redis://nbjobs:6379/0",
                            {"NAUTOBOT_CELERY_BROKER_URL": "redis://nautobot:6379/0"},
                            'nautobot_broker_url = "redis://file:6379/0"'),
}  # fmt: skip
NAUTOBOT_VALUES = {"jobs_root": "/nautobot/jobs", "database_url": "postgresql+psycopg://nautobot@db.example:5433/nautobot",
                   "default_queue": "nautobotq", "nautobot_broker_url": "redis://nautobot:6379/0"}  # fmt: skip
FILE_VALUES = {"jobs_root": "/file/jobs", "database_url": "sqlite:////file.db", "default_queue": "fileq",
               "nautobot_broker_url": "redis://file:6379/0"}  # fmt: skip
DEFAULTS = {"jobs_root": "-", "database_url": "-", "default_queue": "default", "nautobot_broker_url": "-"}


def _set_level(monkeypatch: pytest.MonkeyPatch, field: str, *, nbjobs: bool, nautobot: bool, file: bool) -> None:
    _flag, nbjobs_value, nautobot_vars, file_line = LEVELS[field]
    if nbjobs:
        monkeypatch.setenv(f"NBJOBS_{field.upper()}", nbjobs_value)
    if nautobot:
        for name, value in nautobot_vars.items():
            monkeypatch.setenv(name, value)
    if file:
        write(file_line + "\n")


@pytest.mark.parametrize("field", list(LEVELS))
def test_a_flag_beats_nbjobs_env(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    _set_level(monkeypatch, field, nbjobs=True, nautobot=False, file=False)
    loaded = load_settings({field: LEVELS[field][0]})
    assert shown(loaded)[field] == (LEVELS[field][0], "flag")


@pytest.mark.parametrize("field", list(LEVELS))
def test_nbjobs_env_beats_nautobot_env(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    _set_level(monkeypatch, field, nbjobs=True, nautobot=True, file=False)
    loaded = load_settings()
    assert shown(loaded)[field] == (LEVELS[field][1], "env NBJOBS_*")


@pytest.mark.parametrize("field", list(LEVELS))
def test_nautobot_env_beats_the_file(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    _set_level(monkeypatch, field, nbjobs=False, nautobot=True, file=True)
    loaded = load_settings()
    assert shown(loaded)[field] == (NAUTOBOT_VALUES[field], "env NAUTOBOT_*")


@pytest.mark.parametrize("field", list(LEVELS))
def test_the_file_beats_the_default(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    _set_level(monkeypatch, field, nbjobs=False, nautobot=False, file=True)
    loaded = load_settings()
    assert shown(loaded)[field] == (FILE_VALUES[field], "file nbjobs.toml")
    Path("nbjobs.toml").unlink()
    assert shown(load_settings())[field] == (DEFAULTS[field], "default")


def test_the_whole_chain_level_by_level(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in LEVELS:
        _set_level(monkeypatch, field, nbjobs=True, nautobot=True, file=False)
    write("\n".join(line for *_, line in LEVELS.values()) + "\n")
    flags = {field: level[0] for field, level in LEVELS.items()}
    expected = [
        ({field: (level[0], "flag") for field, level in LEVELS.items()}, "flags"),
        ({field: (level[1], "env NBJOBS_*") for field, level in LEVELS.items()}, "NBJOBS"),
        ({field: (NAUTOBOT_VALUES[field], "env NAUTOBOT_*") for field in LEVELS}, "NAUTOBOT"),
        ({field: (FILE_VALUES[field], "file nbjobs.toml") for field in LEVELS}, "file"),
        ({field: (DEFAULTS[field], "default") for field in LEVELS}, "nothing"),
    ]
    for want, remove in expected:
        rows = shown(load_settings(flags))
        assert {field: rows[field] for field in LEVELS} == want, remove
        if remove == "flags":
            flags = {}
        elif remove == "NBJOBS":
            for field in LEVELS:
                monkeypatch.delenv(f"NBJOBS_{field.upper()}")
        elif remove == "NAUTOBOT":
            for level in LEVELS.values():
                for name in level[2]:
                    monkeypatch.delenv(name)
        elif remove == "file":
            Path("nbjobs.toml").unlink()


def test_origins_name_every_source_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBJOBS_POLICY", "heal")
    monkeypatch.setenv("NAUTOBOT_JOBS_ROOT", "/opt/nautobot/jobs")
    write("interval = 60\n")
    loaded = load_settings({"branch": "prod"})
    assert loaded.file == Path("nbjobs.toml")
    got = {name: loaded.origins[name] for name in ("branch", "policy", "jobs_root", "interval", "path")}
    assert got == dict(zip(("branch", "policy", "jobs_root", "interval", "path"), SOURCES, strict=True))
    settings = loaded.settings
    assert (settings.branch, settings.policy, settings.jobs_root, settings.interval, settings.path) == (
        "prod", Policy.HEAL, Path("/opt/nautobot/jobs"), 60.0, "manifests")  # fmt: skip
    assert set(loaded.origins.values()) == set(SOURCES)
    assert set(loaded.origins) == {name for name, _, _ in describe(loaded)}


def test_nautobot_db_variables_compose_the_url_with_its_password_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**NAUTOBOT_DB, "NAUTOBOT_DB_PASSWORD": "pg-s3cret"}.items():
        monkeypatch.setenv(name, value)
    loaded = load_settings()
    assert loaded.settings.target().database_url == "postgresql+psycopg://nautobot:pg-s3cret@db.example:5433/nautobot"
    assert shown(loaded)["database_url"] == ("postgresql+psycopg://nautobot:***@db.example:5433/nautobot",
                                             "env NAUTOBOT_*")  # fmt: skip


# The settings file.


def test_a_missing_config_flag_file_is_an_error_naming_it() -> None:
    assert error_of(given_file=Path("missing.toml")) == "--config missing.toml: no such file"


def test_nbjobs_config_is_used_without_the_flag_and_the_flag_beats_it(monkeypatch: pytest.MonkeyPatch) -> None:
    write("interval = 42\n", "from-env.toml")
    write("interval = 7\n", "from-flag.toml")
    write("interval = 99\n")  # ./nbjobs.toml: only when neither names a file
    monkeypatch.setenv("NBJOBS_CONFIG", "from-env.toml")
    loaded = load_settings()
    assert (loaded.file, loaded.settings.interval, loaded.origins["interval"]) == (
        Path("from-env.toml"), 42.0, "file from-env.toml")  # fmt: skip
    loaded = load_settings(given_file=Path("from-flag.toml"))
    assert (loaded.file, loaded.settings.interval, loaded.origins["interval"]) == (
        Path("from-flag.toml"), 7.0, "file from-flag.toml")  # fmt: skip
    monkeypatch.setenv("NBJOBS_CONFIG", "gone.toml")
    assert error_of() == "NBJOBS_CONFIG gone.toml: no such file"


def test_the_local_nbjobs_toml_is_read_only_when_present() -> None:
    loaded = load_settings()
    assert loaded.file is None and loaded.settings.interval == 300.0 and loaded.origins["interval"] == "default"
    write("interval = 120\n")
    loaded = load_settings()
    assert loaded.file == Path("nbjobs.toml") and loaded.settings.interval == 120.0
    assert loaded.origins["interval"] == "file nbjobs.toml"


def test_a_toml_syntax_error_is_one_error_naming_the_file() -> None:
    write('policy = "heal"\ninterval = \n')
    message = error_of()
    assert message.startswith("nbjobs.toml: not valid TOML: ")
    assert "line 2" in message and "\n" not in message


def test_a_wrong_type_is_located_at_its_key_with_what_was_expected() -> None:
    write('# the loop\npolicy = "heal"\n  interval = "soon"\n')
    message = error_of()
    assert "(1 problem):" in message
    assert "nbjobs.toml:3:3: interval: Input should be a valid number" in message


def test_an_unknown_key_is_located_and_says_what_was_expected() -> None:
    write('branch = "main"\nintervall = 60\n')
    assert "nbjobs.toml:2:1: intervall: unknown setting; did you mean 'interval'?" in error_of()
    write('branch = "main"\n\n\n  xyzzy = 60\n')
    message = error_of()
    assert "nbjobs.toml:4:3: xyzzy: unknown setting (expected one of: database_url, jobs_root, " in message
    assert ", interval, " in message and ", targets" in message


def test_an_unknown_key_of_a_target_is_located_in_that_target() -> None:
    write('repo = "https://git.example/x.git"\n\n[[targets]]\nname = "a"\n\n[[targets]]\nname = "b"\n'
          '  repoo = "https://git.example/y.git"\n')  # fmt: skip
    message = error_of()
    assert "nbjobs.toml:8:3: targets.1.repoo: unknown setting; did you mean 'repo'?" in message
    write('[[targets]]\nname = "a"\nxyzzy = 1\n')
    assert "nbjobs.toml:3:1: targets.0.xyzzy: unknown setting (expected one of: name, database_url, " in error_of()


def test_a_wrong_value_of_a_target_is_located_in_that_target_not_at_the_top_level_key() -> None:
    write('policy = "detect"\n\n[[targets]]\nname = "a"\npolicy = "heal"\n\n[[targets]]\nname = "b"\n'
          'policy = "sometimes"\n')  # fmt: skip
    message = error_of()
    assert "nbjobs.toml:9:1: targets.1.policy: Input should be 'detect' or 'heal'" in message


WINDOW = '[[windows]]\nkind = "deny"\nschedule = "0 22 * * *"\nduration = "1h"\ntimezone = "Europe/Berlin"\n'


@pytest.mark.parametrize(
    ("good", "bad", "key", "expected"),
    [
        ('schedule = "0 22 * * *"', 'schedule = "0 22 * *"', "schedule",
         "'0 22 * *' is not a cron expression of 5 fields (minute hour day month weekday)"),
        ('timezone = "Europe/Berlin"', 'timezone = "Mars/Olympus"', "timezone",
         "'Mars/Olympus' is not a time zone (e.g. UTC, Europe/Berlin)"),
        ('duration = "1h"', 'duration = "forever"', "duration",
         "'forever' is not a duration: expected e.g. 1h, 30m, 1h30m, 2d"),
        ('kind = "deny"', 'kind = "maybe"', "kind", "Input should be 'allow' or 'deny'"),
    ],
)  # fmt: skip
def test_a_bad_window_is_located_in_its_own_entry(good: str, bad: str, key: str, expected: str) -> None:
    """The second window is the bad one: the error names its line, not the same key of the first."""
    text = 'policy = "heal"\n\n' + WINDOW + "\n" + WINDOW.replace(good, bad)
    write(text)
    line = text.splitlines().index(bad) + 1
    message = error_of()
    assert "(1 problem):" in message
    assert f"nbjobs.toml:{line}:1: windows.1.{key}: {expected}" in message


def test_a_window_missing_a_key_is_located_at_its_entry() -> None:
    write('policy = "heal"\n\n' + WINDOW + '\n[[windows]]\nkind = "allow"\nduration = "1h"\n')
    assert "nbjobs.toml:9:3: windows.1.schedule: Field required" in error_of()


def test_a_value_given_by_a_variable_is_not_blamed_on_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    write("interval = 60\n")
    monkeypatch.setenv("NBJOBS_INTERVAL", "soon")
    message = error_of()
    assert "NBJOBS_INTERVAL: interval: Input should be a valid number" in message
    assert "nbjobs.toml" not in message
    monkeypatch.delenv("NBJOBS_INTERVAL")
    message = error_of({"interval": "later"})
    assert "flag: interval: Input should be a valid number" in message and "nbjobs.toml" not in message


def test_a_list_variable_that_is_not_json_is_a_clean_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBJOBS_APPS", "my_app")
    message = error_of()
    assert "NBJOBS_APPS is not JSON" in message
    monkeypatch.setenv("NBJOBS_APPS", '["my_app", "other_app"]')
    loaded = load_settings()
    assert loaded.settings.apps == ("my_app", "other_app") and loaded.origins["apps"] == "env NBJOBS_*"


def test_every_problem_is_reported_at_once() -> None:
    write('interval = "soon"\njitter = -1\n\n' + WINDOW.replace("0 22 * * *", "0 22 * *"))
    message = error_of()
    assert "(3 problems):" in message
    assert "nbjobs.toml:1:1: interval:" in message and "nbjobs.toml:2:1: jitter:" in message
    assert "nbjobs.toml:6:1: windows.0.schedule:" in message


# Secrets.

SECRETS = ("db-s3cret", "broker-s3cret", "amqp-s3cret", "repo-t0ken", "git-s3cret", "fleet-s3cret")
SECRET_FILE = """\
repo = "https://bot:repo-t0ken@git.example.com/netops/jobs.git"
git_username = "bot"
git_password = "git-s3cret"

[[targets]]
name = "east"
database_url = "postgresql://nautobot:fleet-s3cret@east-db/nautobot"
"""


def _secrets_everywhere(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("NBJOBS_BROKER_URL", "redis://:broker-s3cret@redis:6379/3")
    monkeypatch.setenv("NAUTOBOT_CELERY_BROKER_URL", "amqp://guest:amqp-s3cret@rabbit:5672//")
    write(SECRET_FILE)
    return {"database_url": "postgresql://nautobot:db-s3cret@db.example/nautobot"}


def test_describe_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_settings(_secrets_everywhere(monkeypatch))
    rows = shown(loaded)
    assert rows["database_url"] == ("postgresql://nautobot:***@db.example/nautobot", "flag")
    assert rows["broker_url"] == ("redis://:***@redis:6379/3", "env NBJOBS_*")
    assert rows["nautobot_broker_url"] == ("amqp://guest:***@rabbit:5672//", "env NAUTOBOT_*")
    assert rows["repo"] == ("https://bot:***@git.example.com/netops/jobs.git", "file nbjobs.toml")
    assert rows["git_password"] == ("***", "file nbjobs.toml")
    assert rows["git_username"] == ("bot", "file nbjobs.toml")
    assert "postgresql://nautobot:***@east-db/nautobot" in rows["targets"][0]
    everything = repr(describe(loaded))
    assert not [secret for secret in SECRETS if secret in everything]
    # The values themselves are intact for whoever needs them.
    assert loaded.settings.target("east").database_url == "postgresql://nautobot:fleet-s3cret@east-db/nautobot"
    assert loaded.settings.loop_broker == "redis://:broker-s3cret@redis:6379/3"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://nautobot:pw@db/nautobot", "postgresql://nautobot:***@db/nautobot"),
        ("postgresql+psycopg://nautobot@db/nautobot", "postgresql+psycopg://nautobot@db/nautobot"),
        ("redis://:pw@redis:6379/0", "redis://:***@redis:6379/0"),
        ("https://user:tok@git.example/x.git", "https://user:***@git.example/x.git"),
        ("https://ghp_t0ken@github.com/org/repo.git", "https://***@github.com/org/repo.git"),
        ("mysql://root:p@ss@db/nautobot", "mysql://root:***@db/nautobot"),  # a raw @ in the password
        ("ssh://git@git.example/x.git", "ssh://git@git.example/x.git"),
        ("/srv/git/manifests.git", "/srv/git/manifests.git"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_nbjobs_config_text_never_shows_a_secret_and_shows_origins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = _secrets_everywhere(monkeypatch)
    monkeypatch.setenv("NAUTOBOT_JOBS_ROOT", "/opt/nautobot/jobs")
    code, out, err = run(capsys, "config", "--database-url", flags["database_url"], "--policy", "heal")
    assert code == 0, err
    assert not [secret for secret in SECRETS if secret in out + err]
    assert out.startswith("Settings file: nbjobs.toml\n")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert lines["database_url"].endswith("postgresql://nautobot:***@db.example/nautobot  (flag)")
    assert lines["policy"].endswith("heal  (flag)")
    assert lines["broker_url"].endswith("redis://:***@redis:6379/3  (env NBJOBS_*)")
    assert lines["jobs_root"].endswith("/opt/nautobot/jobs  (env NAUTOBOT_*)")
    assert lines["git_password"].endswith("***  (file nbjobs.toml)")
    assert lines["interval"].endswith("300.0  (default)")


def test_nbjobs_config_json_never_shows_a_secret_and_shows_origins(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    flags = _secrets_everywhere(monkeypatch)
    write(SECRET_FILE, "elsewhere.toml")
    Path("nbjobs.toml").unlink()
    code, out, err = run(capsys, "config", "--format", "json", "--config", "elsewhere.toml",
                         "--database-url", flags["database_url"])  # fmt: skip
    assert code == 0, err
    assert not [secret for secret in SECRETS if secret in out + err]
    document = json.loads(out)
    assert document["file"] == "elsewhere.toml"
    settings = document["settings"]
    assert settings["database_url"] == {"value": "postgresql://nautobot:***@db.example/nautobot", "origin": "flag"}
    assert settings["nautobot_broker_url"] == {"value": "amqp://guest:***@rabbit:5672//", "origin": "env NAUTOBOT_*"}
    assert settings["repo"] == {"value": "https://bot:***@git.example.com/netops/jobs.git",
                                "origin": "file elsewhere.toml"}  # fmt: skip
    assert settings["git_password"] == {"value": "***", "origin": "file elsewhere.toml"}
    assert settings["branch"] == {"value": "main", "origin": "default"}


def test_nbjobs_config_errors_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "config", "--config", "missing.toml")
    assert (code, out) == (1, "") and err == "Error: --config missing.toml: no such file\n"
    write("interval = 'soon'\n")
    code, _, err = run(capsys, "config")
    assert code == 1 and "nbjobs.toml:1:1: interval:" in err and "Traceback" not in err


def test_a_zero_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """0 is a value given (0 == False: cli/common.py once dropped it, and the variable won)."""
    monkeypatch.setenv("NBJOBS_LOCK_TIMEOUT", "30")
    monkeypatch.setenv("NBJOBS_METRICS_PORT", "9108")
    loaded = common.settings(argparse.Namespace(lock_timeout=0.0, metrics_port=0, prune=None, app=[]))
    assert (loaded.settings.lock_timeout, loaded.origins["lock_timeout"]) == (0.0, "flag")
    assert (loaded.settings.metrics_port, loaded.origins["metrics_port"]) == (0, "flag")
    assert (loaded.origins["prune"], loaded.origins["apps"]) == ("default", "default")  # not given


# The fleet.

FLEET = """\
database_url = "sqlite:////srv/shared.db"
jobs_root = "/opt/nautobot/jobs"
apps = ["vendor_x"]
repo = "https://git.example/netops/jobs.git"
branch = "release"
policy = "heal"
user = "nbjobs-bot"

[[targets]]
name = "east"

[[targets]]
name = "west"
database_url = "postgresql://nautobot@west-db/nautobot"
branch = "west"
policy = "detect"
prune = true
suspend = true
apps = []
"""


def test_targets_inherit_what_they_do_not_set() -> None:
    write(FLEET)
    settings = load_settings().settings
    east, west = settings.resolved_targets()
    assert (east.name, east.database_url, east.jobs_root, east.apps, east.repo, east.branch, east.path,
            east.policy, east.prune, east.suspend, east.user, east.default_queue) == (
        "east", "sqlite:////srv/shared.db", Path("/opt/nautobot/jobs"), ("vendor_x",),
        "https://git.example/netops/jobs.git", "release", "manifests", Policy.HEAL, False, False, "nbjobs-bot",
        "default")  # fmt: skip
    assert (west.database_url, west.jobs_root, west.apps, west.repo, west.branch, west.policy, west.prune,
            west.suspend, west.user) == (
        "postgresql://nautobot@west-db/nautobot", Path("/opt/nautobot/jobs"), (),
        "https://git.example/netops/jobs.git", "west", Policy.DETECT, True, True, "nbjobs-bot")  # fmt: skip
    assert settings.target("west") == west


def test_without_targets_the_top_level_is_the_default_target() -> None:
    settings = load_settings({"branch": "prod", "policy": "heal"}).settings
    (only,) = settings.resolved_targets()
    assert settings.target() == only and settings.target("default") == only
    assert (only.name, only.branch, only.policy) == ("default", "prod", Policy.HEAL)


def test_choosing_a_target() -> None:
    write(FLEET)
    settings = load_settings().settings
    with pytest.raises(NbjobsError) as caught:
        settings.target()
    assert str(caught.value) == "the configuration names 2 targets (east, west); choose one with --target"
    with pytest.raises(NbjobsError) as caught:
        settings.target("north")
    assert str(caught.value) == "no target 'north' in the configuration; known: east, west"


def test_a_target_name_must_be_a_plain_name() -> None:
    write('[[targets]]\nname = "east"\n\n[[targets]]\nname = "west coast"\n')
    assert "nbjobs.toml:5:1: targets.1.name: String should match pattern" in error_of()


def test_duplicate_target_names_are_an_error() -> None:
    write('[[targets]]\nname = "east"\nbranch = "a"\n\n[[targets]]\nname = "east"\nbranch = "b"\n')
    message = error_of()
    assert "east named more than once" in message and "must differ" in message


# The two brokers (DESIGN.md): the loop's own, and the one preflight inspects.


@pytest.mark.parametrize(
    ("nbjobs", "nautobot", "loop", "inspected"),
    [
        (None, None, None, None),
        ("redis://loop:6379/3", None, "redis://loop:6379/3", "redis://loop:6379/3"),
        (None, "redis://nautobot:6379/0", "redis://nautobot:6379/0", "redis://nautobot:6379/0"),
        ("redis://loop:6379/3", "redis://nautobot:6379/0", "redis://loop:6379/3", "redis://nautobot:6379/0"),
    ],
)
def test_loop_broker_and_inspected_broker(monkeypatch: pytest.MonkeyPatch, nbjobs: str | None, nautobot: str | None,
                                          loop: str | None, inspected: str | None) -> None:  # fmt: skip
    if nbjobs:
        monkeypatch.setenv("NBJOBS_BROKER_URL", nbjobs)
    if nautobot:
        monkeypatch.setenv("NAUTOBOT_CELERY_BROKER_URL", nautobot)
    settings = load_settings().settings
    assert (settings.loop_broker, settings.inspected_broker) == (loop, inspected)


def test_broker_url_flag_is_the_loops_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBJOBS_BROKER_URL", "redis://env:6379/3")
    monkeypatch.setenv("NAUTOBOT_CELERY_BROKER_URL", "redis://nautobot:6379/0")
    write('broker_url = "redis://file:6379/3"\nnautobot_broker_url = "redis://file-nautobot:6379/0"\n')
    loaded = load_settings({"broker_url": "redis://flag:6379/3"})
    assert loaded.settings.loop_broker == "redis://flag:6379/3"
    assert loaded.settings.inspected_broker == "redis://nautobot:6379/0"
    assert (loaded.origins["broker_url"], loaded.origins["nautobot_broker_url"]) == ("flag", "env NAUTOBOT_*")
