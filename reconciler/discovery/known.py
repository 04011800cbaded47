"""The few names outside the job tree that discovery understands: Nautobot's Job API and Django settings.

Everything here mirrors Nautobot 3.2.7 (`nautobot/extras/jobs.py`, `nautobot/apps/jobs.py`,
`nautobot/core/celery/__init__.py`, `nautobot/extras/plugins/__init__.py`). Any other external name is
unknown, so values that depend on it are reported instead of guessed.
"""

from __future__ import annotations

from typing import Final

EXTRAS_JOBS: Final = "nautobot.extras.jobs"
BASE_JOB: Final = f"{EXTRAS_JOBS}.BaseJob"
JOB: Final = f"{EXTRAS_JOBS}.Job"
JOB_HOOK_RECEIVER: Final = f"{EXTRAS_JOBS}.JobHookReceiver"
JOB_BUTTON_RECEIVER: Final = f"{EXTRAS_JOBS}.JobButtonReceiver"
BASE_JOB_META: Final = f"{BASE_JOB}.Meta"
DRY_RUN_VAR: Final = f"{EXTRAS_JOBS}.DryRunVar"
APP_CONFIG: Final = "nautobot.extras.plugins.NautobotAppConfig"
OBJECT: Final = "builtins.object"
REGISTER_JOBS: Final = "nautobot.core.celery.register_jobs"
SETTINGS: Final = "django.conf.settings"

# Classes that is_job() excludes (jobs.py:1183-1190): registering one of these is never a user Job.
JOB_BASES: Final = frozenset({BASE_JOB, JOB, JOB_HOOK_RECEIVER, JOB_BUTTON_RECEIVER})

_VARIABLES: Final = (
    "StringVar",
    "TextVar",
    "IntegerVar",
    "BooleanVar",
    "ChoiceVar",
    "ObjectVar",
    "FileVar",
    "IPAddressVar",
    "IPAddressWithMaskVar",
    "IPNetworkVar",
    "JSONVar",
)


def _linearizations() -> dict[str, tuple[str, ...]]:
    """The MRO of every Nautobot class a job may inherit from or instantiate (jobs.py class statements)."""
    script_variable = f"{EXTRAS_JOBS}.ScriptVariable"
    mros: dict[str, tuple[str, ...]] = {
        OBJECT: (OBJECT,),
        BASE_JOB: (BASE_JOB, OBJECT),
        BASE_JOB_META: (BASE_JOB_META, OBJECT),
        JOB: (JOB, BASE_JOB, OBJECT),
        JOB_HOOK_RECEIVER: (JOB_HOOK_RECEIVER, JOB, BASE_JOB, OBJECT),
        JOB_BUTTON_RECEIVER: (JOB_BUTTON_RECEIVER, JOB, BASE_JOB, OBJECT),
        script_variable: (script_variable, OBJECT),
        APP_CONFIG: (APP_CONFIG, OBJECT),
    }
    for name in _VARIABLES:
        mros[f"{EXTRAS_JOBS}.{name}"] = (f"{EXTRAS_JOBS}.{name}", script_variable, OBJECT)
    boolean, choice, obj = (f"{EXTRAS_JOBS}.{n}" for n in ("BooleanVar", "ChoiceVar", "ObjectVar"))
    mros[DRY_RUN_VAR] = (DRY_RUN_VAR, boolean, script_variable, OBJECT)
    mros[f"{EXTRAS_JOBS}.MultiChoiceVar"] = (f"{EXTRAS_JOBS}.MultiChoiceVar", choice, script_variable, OBJECT)
    mros[f"{EXTRAS_JOBS}.MultiObjectVar"] = (f"{EXTRAS_JOBS}.MultiObjectVar", obj, script_variable, OBJECT)
    return mros


CLASS_MROS: Final = _linearizations()

# BaseJob's classproperties (jobs.py:291-417). A plain class attribute of the same name on a Job
# subclass hides them: a lookup on the class stops at the first class of the MRO defining the name.
CLASSPROPERTIES: Final = frozenset(
    {
        "grouping",
        "name",
        "description",
        "dryrun_default",
        "hidden",
        "console_log_default",
        "field_order",
        "read_only",
        "soft_time_limit",
        "time_limit",
        "has_sensitive_variables",
        "supports_dryrun",
        "task_queues",
        "is_singleton",
        "template_name",
        "class_path",
    }
)

# Attributes the Nautobot classes define, as far as discovery looks them up. Job, JobHookReceiver and
# JobButtonReceiver add only run methods and variables (jobs.py:852-1181); BaseJob.Meta is empty.
CLASS_ATTRIBUTES: Final[dict[str, frozenset[str]]] = {
    BASE_JOB: CLASSPROPERTIES | {"Meta"},
    APP_CONFIG: frozenset({"jobs"}),
}
APP_CONFIG_JOBS_DEFAULT: Final = "jobs.jobs"  # extras/plugins/__init__.py:98

# `__all__` of the Nautobot modules job code star-imports (apps/jobs.py:37-69, extras/jobs.py:74-89,
# apps/__init__.py:7-11): exactly the names `from <module> import *` binds. Note that extras.jobs does
# not export BaseJob, DryRunVar or the receivers.
_STAR_EXPORTS: Final[dict[str, frozenset[str]]] = {
    "nautobot.apps.jobs": frozenset(
        {
            "BaseJob",
            "DatabaseFileField",
            "DryRunVar",
            "GitRepositoryDryRun",
            "GitRepositorySync",
            "Job",
            "JobButtonReceiver",
            "JobHookReceiver",
            "MultiChoiceVar",
            "MultiObjectVar",
            "NautobotKombuJSONEncoder",
            "RunJobTaskFailed",
            "ScriptVariable",
            "enqueue_job_hooks",
            "get_celery_queues",
            "get_job",
            "get_jobs",
            "is_job",
            "is_variable",
            "register_jobs",
            *_VARIABLES,
        }
    ),
    EXTRAS_JOBS: frozenset({"Job", "MultiChoiceVar", "MultiObjectVar", *_VARIABLES}),
    "nautobot.apps": frozenset({"ConstanceConfigItem", "NautobotAppConfig", "nautobot_database_ready"}),
}


def canonical(qualname: str) -> str:
    """The defining name of a re-exported Nautobot name (`nautobot.apps.jobs.Job` -> `...extras.jobs.Job`)."""
    module, _, attr = qualname.rpartition(".")
    if module == "nautobot.apps.jobs":
        return REGISTER_JOBS if attr == "register_jobs" else f"{EXTRAS_JOBS}.{attr}"
    if module in ("nautobot.apps", "nautobot.extras.plugins") and attr == "NautobotAppConfig":
        return APP_CONFIG
    return qualname


def star_exports(module: str) -> frozenset[str] | None:
    """Names `from <module> import *` binds, or None when they are not known."""
    return _STAR_EXPORTS.get(module)


def setting(qualname: str, default_queue: str) -> str | None:
    """The value of a Django setting discovery can resolve (only the Celery default queue)."""
    if qualname == f"{SETTINGS}.CELERY_TASK_DEFAULT_QUEUE":
        return default_queue
    return None
