"""Loading manifests: every error located (file:line:col) with what was expected; the schema file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from reconciler.diagnostics import Diagnostic, InputError, Location, Severity
from reconciler.fields import FIELD_TYPES, OVERRIDABLE_FIELDS
from reconciler.manifest.load import load_manifests
from reconciler.manifest.resolve import resolve
from reconciler.manifest.schema import IgnoreName, JobDecl, QueueDecl, RetireDecl, json_schema, schema_text
from reconciler.manifest.types import IGNORE_ENABLED, IGNORE_QUEUES, QueueType, ScheduleMode
from reconciler.manifest.yamlsource import read_documents

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "tests" / "manifests"
BAD = MANIFESTS / "bad"
SCHEMA_FILE = ROOT / "schemas" / "nbjobs-manifest.schema.json"

# file -> every diagnostic expected, in order: (line, column, fragment of the message)
BAD_CASES: dict[str, list[tuple[int, int, str]]] = {
    "unknown_field.yaml": [
        (5, 5, "unknown field `time_limt`; did you mean `time_limit`?"),
        (6, 5, "unknown field `colour`; expected one of: match, enabled, grouping,"),
        (10, 5, "unknown field `size`; expected one of: name, type, description"),
        (11, 1, "unknown field `labels`; expected one of: apiVersion, kind, queues, jobs, retire"),
    ],
    "wrong_type.yaml": [
        (5, 15, "expected a string, got the number 123; put it in quotes"),
        (6, 13, "expected true or false, got the string `yes`"),
        (7, 17, "expected a number, got the string `3600`"),
        (8, 14, "expected true or false, got the number 1"),
        (9, 18, "expected a string, got a list"),
        (10, 13, "expected a mapping, got the string `heavy`"),
        (11, 13, "expected a list, got the string `description`"),
    ],
    "yaml11_scalars.yaml": [
        (5, 14, "`yes` is a YAML 1.1 boolean; write true or false"),
        (6, 13, "`Off` is a YAML 1.1 boolean; write true or false"),
        (7, 21, "`n` is a YAML 1.1 boolean; write true or false"),
        (8, 19, "`tRUE` is not a boolean in YAML 1.2; write true or false"),
        (9, 17, "`1:30` is a YAML 1.1 base-60 number"),
        (10, 22, "`0755` has a leading zero (an octal number in YAML 1.1)"),
        (12, 17, "`1_000` is not a plain decimal number"),
        (13, 22, "`0x10` is not a plain decimal number"),
    ],
    "duplicate_key.yaml": [(7, 5, "duplicate key `enabled`: first given at {file}:5:5")],
    "merge_key.yaml": [(7, 5, "merge keys (`<<`) are not supported")],
    "header.yaml": [
        (1, 13, "expected 'nbjobs/v1', got the string `nbjobs/v2`"),
        (2, 7, "expected 'Jobs', got the string `Job`"),
        (4, 1, "missing required field `apiVersion`"),
        (7, 1, "expected a mapping, got a list"),
    ],
    "missing_field.yaml": [
        (4, 5, "missing required field `type`"),
        (5, 5, "missing required field `name`"),
        (7, 5, "missing required field `match`"),
        (9, 5, "missing required field `match`"),
    ],
    "bad_match.yaml": [
        (4, 12, "unbalanced `[` at character 10 of `vendor_x.[abc`"),
        (5, 12, "character `-` is not allowed in `vendor-x.*`: expected a class path module.Class"),
        (6, 12, "`audits` is not a class path: expected a class path module.Class"),
        (7, 12, "must not be empty"),
        (8, 12, "`vendor_x..*` has an empty part between dots"),
        (9, 12, "`]` without a `[`"),
        (10, 12, "bad character class `[]`"),
        (11, 12, "`1audits.DeviceAudit` is not a class path"),
        (12, 12, "character ` ` is not allowed"),
        (13, 12, "character `{` is not allowed in `audits.{at}`"),  # quoted as is, never formatted
    ],
    "bad_queue_name.yaml": [
        (4, 11, "a queue name must not contain `..`"),
        (6, 11, "a queue name must not contain `/`"),
        (8, 11, "must not be empty"),
        (10, 11, "a queue name must not contain `\\`"),
        (14, 23, "a queue name must not contain `/`"),
    ],
    "pinned_and_ignored.yaml": [
        (6, 24, "`description` is both set in this entry and listed in `ignore`"),
        (9, 14, "`queues` is both set in this entry and listed in `ignore`"),
        (13, 14, "`name`, `hidden` are both set in this entry and listed in `ignore`: keep one"),
    ],
    "job_queues.yaml": [
        (5, 13, "give `default`, `eligible`, or both"),
        (7, 24, "expected a non-empty list"),
        (10, 34, "`heavy` is listed twice"),
        (12, 14, "unknown field `primary`; expected one of: default, eligible"),
        (14, 22, "`hidden` is listed twice"),
    ],
    "values.yaml": [
        (5, 17, "expected a number >= 0, got the number -1"),
        (6, 22, "expected a finite number"),
        (7, 11, "expected at most 100 characters, got 121"),
        (9, 11, "must not be empty"),
        (10, 14, "null is not allowed here"),
        (11, 10, "null is not allowed here"),
    ],
    "enums.yaml": [
        (5, 11, "expected 'celery' or 'kubernetes', got the string `rabbit`"),
        (8, 14, "got the string `colour`"),
        (11, 16, "expected 'block' or 'disable', got the string `sometimes`"),
    ],
    "duplicates.yaml": [
        (12, 12, "`legacy.OldImport` is both retired and managed under `jobs` (at {file}:24:12)"),
        (17, 11, "queue `heavy` is declared twice; first at {file}:4:11"),
        (20, 12, "`audits.DeviceAudit` is listed twice under `jobs`; first at {file}:7:12"),
        (22, 12, "`vendor_x.*` is listed twice under `jobs`; first at {file}:9:12"),
        (26, 12, "`legacy.OldImport` is listed twice under `retire`; first at {file}:12:12"),
    ],
    # YAML syntax errors: where the mistake is, what was expected there, and how to fix it.
    "syntax.yaml": [(5, 4, "`enabled` at column 4 lines up with nothing above it: expected column 5 (as `match`")],
    "tab.yaml": [(5, 1, "a tab indents line 5: YAML allows only spaces for indentation; replace the tab with spaces")],
    "indent_outdented.yaml": [(6, 3, "`time_limit` at column 3 lines up with the `-` on line 4, not with the keys")],
    "indent_deeper.yaml": [(6, 7, "`hidden` at column 7 is indented deeper than `enabled` on line 5 (column 5)")],
    "unclosed_quote.yaml": [(5, 10, 'the string opened by `"` here is never closed: expected a closing `"`')],
    "unclosed_bracket.yaml": [(5, 55, "expected `,` or `]` in the list opened at 5:40, found `}`: separate its")],
    "missing_colon.yaml": [(5, 5, "expected `:` after the key `enabled`: write `enabled: true`")],
    "colon_in_value.yaml": [(5, 26, 'would start another mapping: expected a plain value; put it in quotes: `why: "')],
    "retire_glob.yaml": [
        (4, 12, "`legacy.*` is a glob: retirement names each class path exactly"),
        (5, 12, "`legacy` is not a class path"),
    ],
    "tags.yaml": [
        (4, 12, "unsupported tag `!custom`"),
        (6, 17, "`1e3` is not a valid `!!int`"),
        (7, 13, "`yes` is not a valid `!!bool`"),
    ],
    "recursive.yaml": [(3, 7, "this value contains an alias to itself")],
}


def diagnostics_of(*paths: Path) -> tuple[Diagnostic, ...]:
    with pytest.raises(InputError) as raised:
        load_manifests(list(paths))
    return raised.value.diagnostics


def assert_diagnostics(found: tuple[Diagnostic, ...], expected: list[tuple[str, int, int, str]]) -> None:
    assert [(d.location.file, d.location.line, d.location.column) for d in found] == [
        (file, line, column) for file, line, column, _ in expected
    ], "\n".join(map(str, found))
    for diagnostic, (_, _, _, fragment) in zip(found, expected, strict=True):
        assert fragment in diagnostic.message, str(diagnostic)
        assert diagnostic.severity is Severity.ERROR


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_manifest_reports_every_error_at_its_place(name: str) -> None:
    file = str(BAD / name)
    expected = [(file, line, column, fragment.replace("{file}", file)) for line, column, fragment in BAD_CASES[name]]
    assert_diagnostics(diagnostics_of(BAD / name), expected)


def test_every_bad_manifest_has_a_case() -> None:
    assert sorted(path.name for path in BAD.iterdir()) == sorted(BAD_CASES)


def test_a_directory_reports_the_errors_of_all_its_files() -> None:
    found = diagnostics_of(BAD)
    located = {d.location for d in found}
    for name in BAD_CASES:
        # Conflicts between the files may add errors, or name an earlier file as the first place.
        assert {d.location for d in diagnostics_of(BAD / name)} <= located
    assert [d.location.file for d in found] == sorted(d.location.file for d in found)  # files in read order


def test_conflicts_across_files_name_both_files_and_keep_checking_invalid_documents() -> None:
    a, b = str(MANIFESTS / "conflicting" / "a.yaml"), str(MANIFESTS / "conflicting" / "b.yaml")
    assert_diagnostics(
        diagnostics_of(MANIFESTS / "conflicting"),
        [
            (b, 4, 11, f"queue `heavy` is declared twice; first at {a}:4:11"),
            (b, 8, 14, "expected true or false, got the string `flase`"),
            (b, 10, 13, "expected true or false, got the string `maybe`"),
            (b, 12, 12, f"`audits.DeviceAudit` is both retired and managed under `jobs` (at {a}:7:12)"),
        ],
    )


def test_good_directory_merges_documents_and_files() -> None:
    main, extra = str(MANIFESTS / "good" / "main.yaml"), str(MANIFESTS / "good" / "more" / "extra.yml")
    desired = load_manifests([MANIFESTS / "good"])

    assert desired.files == (main, extra)  # sorted, recursive, .yml too, hidden .drafts/ skipped
    assert [(q.name, q.queue_type, q.description, q.location) for q in desired.queues] == [
        ("heavy", QueueType.KUBERNETES, "Isolated workers", Location(main, 8, 11)),
        ("bulk", QueueType.CELERY, "", Location(main, 11, 12)),
    ]
    assert [(j.match, j.location) for j in desired.jobs] == [
        ("audits.DeviceAudit", Location(main, 18, 12)),
        ("vendor_x.*", Location(main, 34, 12)),
        ("vendor_x.sync.[!P]*", Location(main, 38, 12)),
        ("hooks.*", Location(extra, 4, 12)),
    ]
    audit, vendor, sync, _ = desired.jobs
    assert {name: pin.value for name, pin in audit.pins.items()} == {
        "enabled": True,
        "grouping": "Compliance",
        "name": "NO",  # YAML 1.2: a string, not false
        "description": "Audits every device.\nTwice.\n",
        "console_log_default": False,
        "dryrun_default": True,
        "hidden": False,
        "soft_time_limit": 1500.0,
        "time_limit": 3600.0,
        "has_sensitive_variables": False,
        "is_singleton": True,
        "default_job_queue": "heavy",
        "job_queues": ("heavy", "default"),
    }
    assert type(audit.pins["time_limit"].value) is float
    assert audit.pins["time_limit"].location == Location(main, 29, 17)
    assert audit.pins["job_queues"].location == Location(main, 32, 40)
    assert {pin.why for pin in audit.pins.values()} == {"Long runtime, see NET-123"}
    assert (audit.ignore, audit.ignore_location) == (frozenset(), None)

    assert vendor.ignore == {"description", IGNORE_QUEUES}
    assert vendor.ignore_location == Location(main, 37, 13)
    assert vendor.why is None and vendor.pins["hidden"].why is None

    assert sync.pins["grouping"].value == "1:30"  # not 90, as YAML 1.1 would have it
    assert sync.pins["description"].location == Location(main, 22, 18)  # an alias is located at its anchor
    assert sync.pins["job_queues"].value == ("bulk",)
    assert "default_job_queue" not in sync.pins
    assert sync.why == "Long runtime, see NET-123"

    old, other = desired.retire
    assert (old.match, old.schedules, old.purge_results, old.force, old.location) == (
        "legacy.OldImport",
        ScheduleMode.DISABLE,
        True,
        True,
        Location(main, 45, 12),
    )
    assert (other.schedules, other.purge_results, other.force, other.why) == (ScheduleMode.BLOCK, False, False, None)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("FALSE", False),
        ("yes", "yes"),
        ("NO", "NO"),
        ("on", "on"),
        ("0", 0),
        ("-5", -5),
        ("3600", 3600),
        ("0755", "0755"),
        ("1:30", "1:30"),
        ("0x10", "0x10"),
        ("1_000", "1_000"),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("~", None),
        ("null", None),
        ("", None),
        ("2024-01-31", "2024-01-31"),
        ("'true'", "true"),
    ],
)
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    documents, problems = read_documents(f"v: {text}\n".encode(), "t.yaml")
    assert problems == []
    assert documents[0].children["v"].value == value
    assert type(documents[0].children["v"].value) is type(value)


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    assert_diagnostics(diagnostics_of(missing), [(str(missing), 0, 0, "no such file or directory")])


def test_directory_without_manifests_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a manifest\n")
    assert_diagnostics(diagnostics_of(tmp_path), [(str(tmp_path), 0, 0, "no *.yaml or *.yml manifests")])


def test_a_file_named_twice_is_read_once() -> None:
    main = MANIFESTS / "good" / "main.yaml"
    desired = load_manifests([main, MANIFESTS / "good"])
    assert desired.files == (str(main), str(MANIFESTS / "good" / "more" / "extra.yml"))


def test_an_alias_bomb_is_stopped(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    # Each `*a5` repeats 111,111 values (a5's list and the lists and x's below it): the third goes over 250,000.
    assert_diagnostics(
        diagnostics_of(bomb),
        [(str(bomb), 6, 15, "this alias repeats 111,111 values: the manifests hold 345,685 values by here")],
    )


def test_undecodable_bytes_are_an_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"apiVersion: nbjobs/v1\nkind: \x80Jobs\n")
    assert_diagnostics(
        diagnostics_of(broken),
        [(str(broken), 2, 7, "byte 0x80 is not valid UTF-8 (invalid start byte): save the file as UTF-8")],
    )


def test_empty_file_gives_an_empty_state(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n---\n")
    assert load_manifests([empty]).jobs == ()


def test_schema_file_is_up_to_date() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "schemas/nbjobs-manifest.schema.json is out of date; regenerate it with "
        "`nbjobs schema > schemas/nbjobs-manifest.schema.json`"
    )


def test_schema_is_self_describing() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"]
    assert schema["required"] == ["apiVersion", "kind"]
    assert json.loads(schema_text()) == schema


def test_models_follow_the_contract() -> None:
    job_fields = set(JobDecl.model_fields)
    assert set(OVERRIDABLE_FIELDS) <= job_fields
    assert job_fields - set(OVERRIDABLE_FIELDS) == {"match", IGNORE_ENABLED, "queues", "ignore", "why"}
    assert set(FIELD_TYPES) == set(OVERRIDABLE_FIELDS)
    assert list(get_args(IgnoreName)) == [*OVERRIDABLE_FIELDS, IGNORE_ENABLED, IGNORE_QUEUES]
    assert set(get_args(QueueDecl.model_fields["type"].annotation)) == {t.value for t in QueueType}
    assert set(get_args(RetireDecl.model_fields["schedules"].annotation)) == {m.value for m in ScheduleMode}


def test_example_manifests_load_and_resolve() -> None:
    desired = load_manifests([ROOT / "examples" / "manifests"])
    assert {q.name: q.queue_type for q in desired.queues} == {"heavy": QueueType.KUBERNETES, "bulk": QueueType.CELERY}
    assert [(r.match, r.schedules, r.purge_results) for r in desired.retire] == [
        ("legacy.OldImport", ScheduleMode.DISABLE, True)
    ]
    class_paths = [
        "audits.DeviceAudit",
        "audits.ConfigBackup",
        "vendor_x.sync.SyncInventory",
        "vendor_x.sync.PushConfig",
        "legacy.OldImport",
        "hooks.ChangeHook",
    ]
    resolution = resolve(desired, class_paths)
    assert (resolution.unmatched_exact, resolution.diagnostics) == ((), ())
    intents = resolution.intents
    assert set(intents) == set(class_paths) - {"legacy.OldImport"}  # retired, in no jobs: entry
    audit = intents["audits.DeviceAudit"].pins
    assert (audit["time_limit"].value, audit["default_job_queue"].value) == (3600.0, "heavy")
    assert audit["job_queues"].value == ("heavy", "default")
    assert intents["audits.ConfigBackup"].ignored == {"description"}
    assert {f: p.value for f, p in intents["vendor_x.sync.PushConfig"].pins.items()} == {
        "enabled": False,
        "hidden": True,
    }
    sync = intents["vendor_x.sync.SyncInventory"]
    assert (sync.pins["enabled"].value, sync.pins["hidden"].value) == (True, False)
    assert len(sync.entries) == 2
