"""Static discovery of Job classes (reconciler.discovery.sources.discover).

The corpus under tests/discovery/ is job code written the way Nautobot 3.2.7 loads it: a JOBS_ROOT,
a GIT_ROOT and App packages. The expected values are what Nautobot's refresh computes for each class;
they were cross-checked by executing the corpus against Nautobot's own BaseJob classproperties and
import_modules_privately() (outside this suite: discovery itself never imports job code).
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.diagnostics import Diagnostic, Location, Severity
from reconciler.discovery.sources import discover
from reconciler.discovery.types import DiscoveredJob, Discovery, SourceKind
from reconciler.fields import FieldValues

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "discovery"
JOBS_ROOT = CORPUS / "jobs_root"
GIT_ROOT = CORPUS / "git_root"
APPS = CORPUS / "apps"
EXAMPLES = HERE.parent / "examples" / "jobs"


def expected(
    root: Path,
    file: str,
    line: int,
    class_path: str,
    source: SourceKind = SourceKind.JOBS_ROOT,
    *,
    grouping: str,
    name: str | None = None,
    task_queues: tuple[str, ...] = (),
    read_only: bool = False,
    supports_dryrun: bool = False,
    hook: bool = False,
    button: bool = False,
    **values: str | bool | float,
) -> DiscoveredJob:
    module_name, _, class_name = class_path.rpartition(".")
    return DiscoveredJob(
        module_name=module_name,
        job_class_name=class_name,
        source=source,
        location=Location(str(root / file), line, 1),
        values=FieldValues(grouping=grouping, name=name or class_name, **values),  # type: ignore[arg-type]
        task_queues=task_queues,
        read_only=read_only,
        supports_dryrun=supports_dryrun,
        is_job_hook_receiver=hook,
        is_job_button_receiver=button,
    )


def by_path(discovery: Discovery) -> dict[str, DiscoveredJob]:
    return {job.class_path: job for job in discovery.jobs}


def assert_problems(discovery: Discovery, root: Path, wanted: list[tuple[str, Severity, str]]) -> None:
    """Each problem at the exact file:line:col, with its severity and a telling part of its message."""
    got = [(str(p.location).removeprefix(f"{root}/"), p.severity, p.message) for p in discovery.problems]
    assert [(where, severity) for where, severity, _ in got] == [(w, s) for w, s, _ in wanted], got
    for (_, _, message), (_, _, fragment) in zip(got, wanted, strict=True):
        assert fragment in message


@pytest.fixture(scope="module")
def corpus() -> Discovery:
    return discover(jobs_root=JOBS_ROOT)


# -- JOBS_ROOT ----------------------------------------------------------------------------------------


def test_jobs_root_processing_order(corpus: Discovery) -> None:
    # The walk imports packages as it meets them (pkg/__init__ registers first), then the top-level
    # modules run in sorted order; within a module, register_jobs() argument order, first one wins.
    assert [job.class_path for job in corpus.jobs] == [
        "pkg.sub.SubJob",
        "pkg.named.NamedJob",
        "pkg.sub.SubJobTwo",
        "import_stops.BeforeTheError",
        "import_styles.Plain",
        "import_styles.Renamed",
        "import_styles.ViaModule",
        "import_styles.ViaExtras",
        "import_styles.ViaDotted",
        "import_styles.ViaAlias",
        "import_styles.Hook",
        "meta_rules.Everything",
        "meta_rules.Defaults",
        "meta_rules.InheritsMeta",
        "meta_rules.ExtendsMeta",
        "meta_rules.ReplacesMeta",
        "meta_rules.NoDryRun",
        "meta_rules.PlainAttributes",
        "meta_rules.SameNameOne",
        "meta_rules.SameNameTwo",
        "meta_rules.Button",
        "not_literal.LiteralFString",
        "uses_shared.UsesShared",
        "wrong_types.BoolLimit",
    ]


def _jobs_root(file: str, line: int, class_path: str, **kwargs: object) -> DiscoveredJob:
    return expected(JOBS_ROOT, file, line, class_path, **kwargs)  # type: ignore[arg-type]


JOBS_ROOT_CASES = [
    # A package registering classes of its submodules: module_name is the defining module, and so is the
    # grouping (no `name` in pkg/sub.py: the dotted module name). Local bases across modules, both import forms.
    _jobs_root("pkg/sub.py", 6, "pkg.sub.SubJob", grouping="pkg.sub", has_sensitive_variables=False),
    _jobs_root("pkg/named.py", 8, "pkg.named.NamedJob", grouping="Named Group", has_sensitive_variables=False),
    _jobs_root("pkg/sub.py", 10, "pkg.sub.SubJobTwo", grouping="pkg.sub", name="Sub Job Two",
               has_sensitive_variables=False),
    _jobs_root("import_stops.py", 6, "import_stops.BeforeTheError", grouping="import_stops"),
    # Every import style of Job, aliases included; the module's `name` is the grouping.
    _jobs_root("import_styles.py", 16, "import_styles.Plain", grouping="Import Styles"),
    _jobs_root("import_styles.py", 20, "import_styles.Renamed", grouping="Import Styles"),
    _jobs_root("import_styles.py", 24, "import_styles.ViaModule", grouping="Import Styles"),
    _jobs_root("import_styles.py", 28, "import_styles.ViaExtras", grouping="Import Styles"),
    _jobs_root("import_styles.py", 32, "import_styles.ViaDotted", grouping="Import Styles"),
    _jobs_root("import_styles.py", 36, "import_styles.ViaAlias", grouping="Import Styles"),
    _jobs_root("import_styles.py", 40, "import_styles.Hook", grouping="Import Styles", hook=True),
    # Every Meta field, module constants, concatenation, settings.CELERY_TASK_DEFAULT_QUEUE, dedent+strip.
    _jobs_root("meta_rules.py", 11, "meta_rules.Everything", grouping="meta_rules", name="Meta Everything",
               description="First line.\n\n    Indented line.", console_log_default=True, dryrun_default=True,
               hidden=True, soft_time_limit=540.0, time_limit=600.0, has_sensitive_variables=False,
               is_singleton=True, read_only=True, task_queues=("default", "bulk", "default")),
    _jobs_root("meta_rules.py", 31, "meta_rules.Defaults", grouping="meta_rules"),
    # No Meta of its own: Python finds the base's Meta; the base's dryrun = DryRunVar() is inherited too.
    _jobs_root("meta_rules.py", 46, "meta_rules.InheritsMeta", grouping="meta_rules", description="From the base",
               has_sensitive_variables=False, task_queues=("heavy",), supports_dryrun=True),
    _jobs_root("meta_rules.py", 50, "meta_rules.ExtendsMeta", grouping="meta_rules", name="Extends Meta",
               description="From the base", hidden=True, has_sensitive_variables=False, task_queues=("heavy",),
               supports_dryrun=True),
    # Its own Meta does not subclass the base's: nothing of the base's Meta is seen.
    _jobs_root("meta_rules.py", 56, "meta_rules.ReplacesMeta", grouping="meta_rules", name="Replaces Meta",
               supports_dryrun=True),
    _jobs_root("meta_rules.py", 63, "meta_rules.NoDryRun", grouping="meta_rules", description="From the base",
               has_sensitive_variables=False, task_queues=("heavy",)),
    # Plain class attributes hide the classproperties: raw (no dedent/strip), Django-coerced (1 -> True, "90" -> 90.0).
    _jobs_root("meta_rules.py", 67, "meta_rules.PlainAttributes", grouping="meta_rules", name="Plain Attribute Name",
               description="  kept verbatim  ", hidden=True, time_limit=90.0),
    # Equal names: both discovered with the raw name; the " (2)" suffix is the database refresh's business.
    _jobs_root("meta_rules.py", 80, "meta_rules.SameNameOne", grouping="meta_rules", name="Duplicate Name"),
    _jobs_root("meta_rules.py", 85, "meta_rules.SameNameTwo", grouping="meta_rules", name="Duplicate Name"),
    _jobs_root("meta_rules.py", 90, "meta_rules.Button", grouping="meta_rules", button=True),
    _jobs_root("not_literal.py", 52, "not_literal.LiteralFString", grouping="not_literal", name="Literal f-string"),
    _jobs_root("uses_shared.py", 7, "uses_shared.UsesShared", grouping="uses_shared", description="Shared base",
               time_limit=3600.0, soft_time_limit=3000.0),
    _jobs_root("wrong_types.py", 16, "wrong_types.BoolLimit", grouping="wrong_types", soft_time_limit=1.0),
]  # fmt: skip


@pytest.mark.parametrize("want", JOBS_ROOT_CASES, ids=lambda job: job.class_path)
def test_jobs_root_values(corpus: Discovery, want: DiscoveredJob) -> None:
    assert by_path(corpus)[want.class_path] == want


def test_jobs_root_skips_what_nautobot_would_not_store(corpus: Discovery) -> None:
    found = by_path(corpus)
    for absent in (
        "import_styles.NotAJob",  # not a Job, not registered
        "meta_rules.NeverRegistered",  # a Job never passed to register_jobs()
        "meta_rules.AuditBase",  # a base class, not registered
        "shared.SharedBase",
        "nsdir.ghost.Ghost",  # in a directory without __init__.py: never imported
        "import_stops.Broken",  # its module stops with NameError before registering it
    ):
        assert absent not in found


def test_jobs_root_problems(corpus: Discovery) -> None:
    error, warning = Severity.ERROR, Severity.WARNING
    assert_problems(corpus, JOBS_ROOT, [
        ("import_stops.py:15:22", error, "importing `import_stops` stops here with NameError: name "
                                         "'UNDEFINED_CONSTANT' is not defined"),
        ("long_grouping.py:3:8", error, "the grouping is 258 characters long, more than the 255"),
        ("not_literal.py:25:22", error, "not_literal.CallValue: cannot read Meta.time_limit statically: a call of "
                                        "`compute_limit`"),
        ("not_literal.py:30:16", error, "not_literal.FStringValue: cannot read Meta.name statically: an f-string "
                                        "with placeholders"),
        ("not_literal.py:35:27", error, "`vendor_settings.VENDOR_TIMEOUT`, defined outside the job code"),
        ("not_literal.py:13:5", error, "`HIDDEN` is bound conditionally, in the value of Meta.hidden at "
                                       f"{JOBS_ROOT}/not_literal.py:40:18; expected a bool"),
        ("not_literal.py:16:1", error, "`QUEUES` is changed in place by .append()"),
        ("not_literal.py:49:19", error, "class attribute `description` (it hides Job.description) statically: an "
                                        "instance of nautobot.extras.jobs.StringVar"),
        ("wrong_types.py:8:18", error, "Meta.hidden must be a bool, not 'yes'"),
        ("wrong_types.py:13:22", error, "Meta.time_limit must be an int, not 1.5"),
        ("wrong_types.py:20:27", warning, "Meta.soft_time_limit is a bool; Nautobot accepts it as the int 1"),
        ("wrong_types.py:25:23", error, "Meta.task_queues must be a list or tuple of queue names, not 'default'"),
        ("wrong_types.py:30:16", error, "Meta.name must be a str, not 42: Nautobot's refresh raises TypeError "
                                        "outside its per-Job error handling: post_upgrade aborts"),
        # Reported in the order Nautobot reads them: is_singleton (record defaults) before dryrun_default.
        ("wrong_types.py:36:24", error, "Meta.is_singleton must be a bool, not 1"),
        ("wrong_types.py:35:26", error, "Meta.dryrun_default must be a bool, not 'no'"),
        ("wrong_types.py:39:1", error, "subclasses both JobHookReceiver and JobButtonReceiver"),
        ("wrong_types.py:45:16", error, "the name is 101 characters long, more than the 100 of extras_job.name"),
        ("wrong_types.py:48:1", error, "the class name is longer than 100 characters"),
    ])  # fmt: skip


def test_examples() -> None:
    discovery = discover(jobs_root=EXAMPLES)
    assert discovery.problems == ()
    assert list(discovery.jobs) == [
        expected(EXAMPLES, "vendor_x/sync.py", 11, "vendor_x.sync.SyncInventory", grouping="Vendor X",
                 name="Sync Vendor X Inventory",
                 description="Create and update devices from the Vendor X controller inventory.",
                 has_sensitive_variables=False, task_queues=("default", "heavy")),
        expected(EXAMPLES, "vendor_x/sync.py", 25, "vendor_x.sync.PushConfig", grouping="Vendor X",
                 name="Push Vendor X Configuration",
                 description="Push the intended configuration of a device through the Vendor X controller.",
                 dryrun_default=True, has_sensitive_variables=False, supports_dryrun=True),
        expected(EXAMPLES, "audits.py", 15, "audits.DeviceAudit", grouping="Compliance", name="Device Audit",
                 description="Audit device configurations against the compliance rules.\n\nEvery deviation is "
                             "logged; unless this is a dry run, a ticket is opened per device.",
                 time_limit=1800.0, soft_time_limit=1500.0, supports_dryrun=True),
        expected(EXAMPLES, "audits.py", 41, "audits.ConfigBackup", grouping="Compliance",
                 name="Configuration Backup",
                 description="Back up the running configuration of every active device.", console_log_default=True),
        expected(EXAMPLES, "hooks.py", 9, "hooks.DeviceChangeNotifier", grouping="Receivers",
                 name="Notify on Device Change", description="Post device changes to the NOC chat channel.",
                 hook=True),
        expected(EXAMPLES, "hooks.py", 20, "hooks.RebootDevice", grouping="Receivers", name="Reboot Device",
                 has_sensitive_variables=False, task_queues=("default",), button=True),
        expected(EXAMPLES, "legacy.py", 6, "legacy.OldImport", grouping="legacy", name="Legacy IPAM Import",
                 description="Import prefixes from a legacy IPAM CSV export.", hidden=True),
    ]  # fmt: skip


def test_default_queue_resolves_the_celery_setting() -> None:
    jobs = by_path(discover(jobs_root=EXAMPLES, default_queue="celery"))
    assert jobs["hooks.RebootDevice"].task_queues == ("celery",)
    assert jobs["vendor_x.sync.SyncInventory"].task_queues == ("default", "heavy")


def test_job_code_is_never_imported() -> None:
    before = set(sys.modules)
    discover(jobs_root=JOBS_ROOT, git_root=GIT_ROOT, apps=[str(APPS / "acme_app")])
    loaded = set(sys.modules) - before
    corpus_names = {"pkg", "shared", "meta_rules", "import_styles", "repo_a", "repo_b", "acme_app", "nautobot"}
    assert not {name.partition(".")[0] for name in loaded} & corpus_names


# -- Git repositories ---------------------------------------------------------------------------------


def _git(file: str, line: int, class_path: str, **kwargs: object) -> DiscoveredJob:
    return expected(GIT_ROOT, file, line, class_path, SourceKind.GIT, **kwargs)  # type: ignore[arg-type]


REPO_A = [
    _git("repo_a/jobs/inventory.py", 8, "repo_a.jobs.inventory.InventoryCheck", grouping="Repo A",
         name="Inventory Check", task_queues=("git-queue",)),
    _git("repo_a/jobs/standalone.py", 6, "repo_a.jobs.standalone.Standalone", grouping="repo_a.jobs.standalone"),
]  # fmt: skip
REPO_B = [
    _git("repo_b/jobs.py", 4, "repo_b.jobs.SingleFile", grouping="repo_b.jobs", name="Inventory Check",
         description="Same name as repo_a's job: both are discovered with it"),
]  # fmt: skip


def test_git_root_every_repository_in_slug_order() -> None:
    discovery = discover(git_root=GIT_ROOT)
    assert list(discovery.jobs) == REPO_A + REPO_B
    # no_init has a jobs.py but no __init__.py; config_only has no jobs module at all (silently not a jobs repo).
    assert_problems(discovery, GIT_ROOT, [
        ("no_init", Severity.ERROR, "no top-level __init__.py, so Nautobot's module walk finds no Jobs"),
    ])  # fmt: skip


def test_git_slugs_select_and_order_repositories() -> None:
    discovery = discover(git_root=GIT_ROOT, git_slugs=["repo_b", "repo_a", "config_only"])
    assert list(discovery.jobs) == REPO_B + REPO_A
    assert_problems(discovery, GIT_ROOT, [("config_only", Severity.ERROR, "No `jobs` submodule found")])


# -- Apps ---------------------------------------------------------------------------------------------


def test_app_packages_by_path() -> None:
    discovery = discover(apps=[str(APPS / "acme_app"), str(APPS / "custom_app")])
    assert discovery.problems == ()
    assert list(discovery.jobs) == [
        # acme_app.jobs is a package; only what it imports is loaded (jobs/unused.py is not).
        expected(APPS, "acme_app/jobs/inventory.py", 4, "acme_app.jobs.inventory.AcmeInventory", SourceKind.APP,
                 grouping="acme_app.jobs.inventory", name="ACME Inventory", has_sensitive_variables=False),
        # The App config's `jobs = "tasks.jobs"` moves the jobs module to custom_app.tasks.
        expected(APPS, "custom_app/tasks/__init__.py", 4, "custom_app.tasks.CustomTask", SourceKind.APP,
                 grouping="custom_app.tasks"),
    ]  # fmt: skip


def test_app_by_name_is_located_without_running_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "boom_app"
    write_tree(package, {
        "__init__.py": "import os\nos.environ['BOOM_APP_RAN'] = '1'\n",
        "jobs.py": """
            from nautobot.apps.jobs import Job, register_jobs

            class Boom(Job):
                pass

            register_jobs(Boom)
        """,
    })  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    discovery = discover(apps=["boom_app"])
    assert "boom_app" not in sys.modules
    assert "BOOM_APP_RAN" not in __import__("os").environ
    assert [(job.class_path, job.source, job.location) for job in discovery.jobs] == [
        ("boom_app.jobs.Boom", SourceKind.APP, Location(str(package / "jobs.py"), 3, 1))
    ]


def test_unknown_app_is_a_problem() -> None:
    discovery = discover(apps=["no_such_app_package_xyz"])
    assert discovery.jobs == ()
    assert [str(p) for p in discovery.problems] == [
        "no_such_app_package_xyz: error: App package `no_such_app_package_xyz` is not installed (or is not a package)"
    ]


def test_apps_are_processed_before_jobs_root() -> None:
    # Apps register from their ready(), before post_migrate's import_jobs() loads JOBS_ROOT and Git.
    discovery = discover(jobs_root=EXAMPLES, git_root=GIT_ROOT, git_slugs=["repo_b"], apps=[str(APPS / "acme_app")])
    sources = [job.source for job in discovery.jobs]
    assert sources == [SourceKind.APP] + [SourceKind.JOBS_ROOT] * 7 + [SourceKind.GIT]


# -- Small trees, one rule each -------------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


HEADER = "from nautobot.apps.jobs import DryRunVar, Job, register_jobs\n"

RULE_CASES = {
    "syntax error stops the importing package, discovery goes on": (
        {
            "pkg/__init__.py": """
                from nautobot.apps.jobs import register_jobs
                from .good import Good
                register_jobs(Good)
                from .broken import Broken
                register_jobs(Broken)
            """,
            "pkg/good.py": HEADER + "class Good(Job):\n    pass\n",
            "pkg/broken.py": HEADER + "class Broken(Job):\n    def run(self)\n        pass\n",
            "pkg/late.py": HEADER + "class Late(Job):\n    pass\nregister_jobs(Late)\n",
            "after.py": HEADER + "class After(Job):\n    pass\nregister_jobs(After)\n",
        },
        ["pkg.good.Good", "after.After"],  # pkg.late: submodules of a package that fails are never walked
        [
            ("pkg/broken.py:3:18", "module `pkg.broken` cannot be parsed: expected ':'"),
            ("pkg/__init__.py:4:1", "importing `pkg` stops here with SyntaxError"),
        ],
    ),
    "compile-time syntax error": (
        {"bad.py": HEADER + "class Bad(Job):\n    return 1\nregister_jobs(Bad)\n"},
        [],
        [("bad.py:3:5", "'return' outside function")],
    ),
    "packages are imported while walking, before the sorted top-level modules": (
        {
            "aaa.py": HEADER + "class First(Job):\n    pass\nregister_jobs(First)\n",
            "zzz/__init__.py": HEADER + "class Last(Job):\n    pass\nregister_jobs(Last)\n",
        },
        ["zzz.Last", "aaa.First"],
        [],
    ),
    "star imports from Nautobot and from the tree, with __all__": (
        {
            "consts.py": "__all__ = ['LIMIT']\nLIMIT = 120\nHIDDEN_NAME = 'not exported'\n",
            "star.py": """
                from nautobot.apps.jobs import *
                from consts import *
                class StarJob(Job):
                    dryrun = DryRunVar()
                    class Meta:
                        time_limit = LIMIT
                register_jobs(StarJob)
            """,
        },
        ["star.StarJob"],
        [],
    ),
    "a mixin's Meta comes first in the MRO; a local DryRunVar subclass counts": (
        {
            "mixins.py": HEADER + textwrap.dedent("""
                class MetaMixin:
                    class Meta:
                        name = "From the mixin"
                class MyDryRun(DryRunVar):
                    pass
                class Mixed(MetaMixin, Job):
                    dryrun = MyDryRun()
                register_jobs(Mixed)
            """),
        },
        ["mixins.Mixed"],
        [],
    ),
    "registering something that is not a Job stops the module (AttributeError)": (
        {"m.py": HEADER + "class A(Job):\n    pass\nclass P:\n    pass\nregister_jobs(A, P)\nregister_jobs(A)\n"},
        ["m.A"],
        [("m.py:6:18", "importing `m` stops here with AttributeError: register_jobs() needs Job classes, not the "
                       "class P")],
    ),
    "register_jobs() in a block is not followed": (
        {"m.py": HEADER + "import os\nclass A(Job):\n    pass\nif os.environ.get('X'):\n    register_jobs(A)\n"},
        [],
        [("m.py:6:5", "register_jobs() is called inside a block or function")],
    ),
    "register_jobs(Job) registers Nautobot's own class: ignored": (
        {"m.py": HEADER + "register_jobs(Job)\n"},
        [],
        [("m.py:2:15", "Nautobot's own nautobot.extras.jobs.Job")],
    ),
    "a base class from outside the tree cannot be read": (
        {"m.py": HEADER + "from lib import Mixin\nclass A(Mixin, Job):\n    pass\nregister_jobs(A)\n"},
        [],
        [("m.py:3:9", "m.A: cannot work out its base classes: base class `lib.Mixin`")],
    ),
    "a class changed after its definition is not guessed": (
        {"m.py": HEADER + "class A(Job):\n    pass\nA.description = 'patched'\nregister_jobs(A)\n"},
        [],
        [("m.py:4:1", "m.A: A is changed after its class statement")],
    ),
    "import of a missing name stops the module": (
        {
            "a.py": HEADER + "from b import Missing\nclass A(Job):\n    pass\nregister_jobs(A)\n",
            "b.py": "X = 1\n",
        },
        [],
        [("a.py:2:1", "stops here with ImportError: cannot import name 'Missing' from 'b'")],
    ),
    "circular imports resolve to the final module state": (
        {
            "a.py": HEADER + "import b\nclass A(Job):\n    class Meta:\n        name = b.B_NAME\nregister_jobs(A)\n",
            "b.py": "import a\nB_NAME = 'From b'\n",
        },
        ["a.A"],
        [],
    ),
    "a module named like a builtin module is not loaded from JOBS_ROOT": (
        {"sys.py": HEADER + "class A(Job):\n    pass\nregister_jobs(A)\n"},
        [],
        [("sys", "`sys` is the name of an installed module")],
    ),
    "a non-str module `name` aborts Nautobot's whole refresh": (
        {"m.py": HEADER + "name = 5\nclass A(Job):\n    pass\nregister_jobs(A)\n"},
        [],
        [("m.py:2:8", "the module-level `name` (the grouping) must be a str, not 5: Nautobot's refresh raises "
                      "TypeError outside its per-Job error handling: post_upgrade aborts")],
    ),
    "a class attribute Django cannot save": (
        {"m.py": HEADER + "class A(Job):\n    hidden = 'yes'\nregister_jobs(A)\n"},
        [],
        [("m.py:3:14", "class attribute `hidden` (it hides Job.hidden) must be a bool, not 'yes'")],
    ),
    "a class decorator is not followed": (
        {"m.py": HEADER + "def tag(cls):\n    return cls\n@tag\nclass A(Job):\n    pass\nregister_jobs(A)\n"},
        [],
        [("m.py:4:2", "m.A: a class decorator may replace or change the class")],
    ),
    "BaseJob without Job: Nautobot stores it all the same": (
        {"m.py": "from nautobot.apps.jobs import BaseJob, register_jobs\nclass A(BaseJob):\n    pass\n"
                 "register_jobs(A)\n"},
        ["m.A"],
        [("m.py:2:1", "m.A subclasses BaseJob but not Job")],
    ),
    "register_jobs(*...) of something that is not a literal list": (
        {"m.py": HEADER + "def all_jobs():\n    return []\nregister_jobs(*all_jobs())\n"},
        [],
        [("m.py:4:16", "register_jobs() argument cannot be resolved statically (a call of `all_jobs`")],
    ),
    "a compiled module has no source to read": (
        {"legacy.pyc": "not really bytecode"},
        [],
        [("legacy", "module `legacy` has no Python source (.py) to read")],
    ),
    "nautobot.extras.jobs has no register_jobs": (
        {"m.py": "from nautobot.extras.jobs import Job, register_jobs\nclass A(Job):\n    pass\nregister_jobs(A)\n"},
        [],
        [("m.py:4:1", "`register_jobs` is `nautobot.extras.jobs.register_jobs`, defined outside the job code, not "
                      "Nautobot's register_jobs")],
    ),
    "a raise at module level stops the module": (
        {"m.py": HEADER + "class A(Job):\n    pass\nraise ImportError('no')\nregister_jobs(A)\n"},
        [],
        [("m.py:4:1", "stops here with ImportError")],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("files", "class_paths", "problems"), RULE_CASES.values(), ids=RULE_CASES.keys())
def test_rules(tmp_path: Path, files: dict[str, str], class_paths: list[str], problems: list[tuple[str, str]]) -> None:
    write_tree(tmp_path, files)
    discovery = discover(jobs_root=tmp_path)
    assert [job.class_path for job in discovery.jobs] == class_paths
    got = [(str(p.location).removeprefix(f"{tmp_path}/"), p.message) for p in discovery.problems]
    assert [where for where, _ in got] == [where for where, _ in problems], got
    for (_, message), (_, fragment) in zip(got, problems, strict=True):
        assert fragment in message


def test_star_and_mixin_values(tmp_path: Path) -> None:
    star = RULE_CASES["star imports from Nautobot and from the tree, with __all__"][0]
    mixins = RULE_CASES["a mixin's Meta comes first in the MRO; a local DryRunVar subclass counts"][0]
    write_tree(tmp_path, {**star, **mixins})
    jobs = by_path(discover(jobs_root=tmp_path))
    assert jobs["star.StarJob"].values.time_limit == 120.0
    assert jobs["star.StarJob"].supports_dryrun
    assert jobs["mixins.Mixed"].values.name == "From the mixin"
    assert jobs["mixins.Mixed"].supports_dryrun


def test_module_name_longer_than_100_characters(tmp_path: Path) -> None:
    package = "/".join(["package_with_a_long_name"] * 4)
    write_tree(tmp_path, {f"{package}/__init__.py": "", f"{package}/jobs.py": HEADER + "class A(Job):\n    pass\n"
                          "register_jobs(A)\n"})  # fmt: skip
    for depth in range(1, 4):
        (tmp_path.joinpath(*["package_with_a_long_name"] * depth) / "__init__.py").write_text("")
    discovery = discover(jobs_root=tmp_path)
    assert discovery.jobs == ()
    assert [p.message for p in discovery.problems] == [
        f"{'package_with_a_long_name.' * 4}jobs.A: the module name is longer than 100 characters; "
        "Nautobot refuses to store its Jobs"
    ]


def test_problems_are_diagnostics_with_locations(corpus: Discovery) -> None:
    assert all(isinstance(p, Diagnostic) and p.location.line > 0 for p in corpus.problems)


def test_git_repository_unloads_everything_under_its_slug(tmp_path: Path) -> None:
    # refresh_job_code_from_repository() pops every class path starting with "<slug>." before loading.
    write_tree(tmp_path / "jobs", {"shared_jobs.py": HEADER + "class A(Job):\n    pass\nregister_jobs(A)\n"})
    write_tree(tmp_path / "git", {
        "shared/__init__.py": HEADER + "class Top(Job):\n    pass\nregister_jobs(Top)\n",
        "shared/jobs.py": HEADER + "class B(Job):\n    pass\nregister_jobs(B)\n",
    })  # fmt: skip
    discovery = discover(jobs_root=tmp_path / "jobs", git_root=tmp_path / "git")
    assert [(job.class_path, job.source) for job in discovery.jobs] == [
        ("shared_jobs.A", SourceKind.JOBS_ROOT),
        ("shared.Top", SourceKind.GIT),
        ("shared.jobs.B", SourceKind.GIT),
    ]
    assert [(str(p.location).removeprefix(f"{tmp_path}/"), p.severity) for p in discovery.problems] == [
        ("git/shared/__init__.py:4:1", Severity.WARNING),
    ]
    assert "shared.Top is defined outside `shared.jobs`" in discovery.problems[0].message


def test_git_slug_already_loaded_from_jobs_root(tmp_path: Path) -> None:
    # The JOBS_ROOT job is unloaded by the repository's slug, whose own modules then conflict with it.
    write_tree(tmp_path / "jobs", {"shared/__init__.py": "", "shared/jobs.py": HEADER + "class A(Job):\n    pass\n"
                                   "register_jobs(A)\n"})  # fmt: skip
    write_tree(tmp_path / "git", {"shared/__init__.py": "", "shared/jobs.py": HEADER + "class B(Job):\n    pass\n"
                                  "register_jobs(B)\n"})  # fmt: skip
    discovery = discover(jobs_root=tmp_path / "jobs", git_root=tmp_path / "git")
    assert discovery.jobs == ()
    assert [(str(p.location).removeprefix(f"{tmp_path}/"), p.severity) for p in discovery.problems] == [
        ("jobs/shared/jobs.py:4:1", Severity.WARNING),
        ("git/shared", Severity.ERROR),
    ]
    assert "shared.jobs.A (jobs_root) is dropped" in discovery.problems[0].message
    assert "JOBS_ROOT already loaded a module `shared`" in discovery.problems[1].message


def test_jobs_root_module_named_like_the_standard_library(tmp_path: Path) -> None:
    write_tree(tmp_path, {"json.py": HEADER + "class A(Job):\n    pass\nregister_jobs(A)\n"})
    discovery = discover(jobs_root=tmp_path)
    assert [job.class_path for job in discovery.jobs] == ["json.A"]
    assert [(p.severity, "also a standard-library module" in p.message) for p in discovery.problems] == [
        (Severity.WARNING, True)
    ]


def test_app_without_jobs_module(tmp_path: Path) -> None:
    write_tree(tmp_path, {"quiet_app/__init__.py": ""})
    discovery = discover(apps=[str(tmp_path / "quiet_app")])
    assert discovery.jobs == ()
    assert [str(p) for p in discovery.problems] == [
        f"{tmp_path}/quiet_app: warning: App `quiet_app` has no `quiet_app.jobs` module, so it provides no Jobs"
    ]
