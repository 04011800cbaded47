"""Run inside `nautobot-server nbshell` (Nautobot's own Django): reads everything back through Nautobot's ORM,
REST API (DRF's APIClient, in process) and UI views, and prints one JSON document after PROBE_MARKER.

Parameters come as JSON in NBJOBS_PROBE_PARAMS:
  username   the user the API and UI requests are made as
  runs       [{"class_path", "data", "job_queue" (optional), "wait": seconds}] jobs to run through the API
  api        true to query the REST API and UI
Nothing is left changed: every ORM write (Job.clean() resets job_queues) happens in a rolled-back transaction.
"""

import json
import os
import re
import time
import traceback

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.test import Client
from nautobot.core.models.utils import serialize_object, serialize_object_v2
from nautobot.extras.constants import JOB_OVERRIDABLE_FIELDS
from nautobot.extras.models import Job, JobQueue, JobResult, ObjectChange
from nautobot.users.models import User
from rest_framework.test import APIClient

PARAMS = json.loads(os.environ.get("NBJOBS_PROBE_PARAMS", "{}"))
MARKER = "NBJOBS_PROBE_JSON="
FIELDS = list(JOB_OVERRIDABLE_FIELDS)
OUT = {"errors": []}


class Rollback(Exception):
    pass


def plain(value):
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def job_state(job):
    # to_python: Job.clean() may assign a class attribute as written ("90"), which the save would coerce.
    state = {f: plain(Job._meta.get_field(f).to_python(getattr(job, f))) for f in FIELDS}
    state.update({f"{f}_override": getattr(job, f"{f}_override") for f in FIELDS})
    state.update(
        id=str(job.pk), class_path=job.class_path, enabled=job.enabled, installed=job.installed,
        default_job_queue=job.default_job_queue.name if job.default_job_queue_id else None,
        default_job_queue_override=job.default_job_queue_override,
        job_queues=sorted(job.job_queues.values_list("name", flat=True)),
        job_queues_override=job.job_queues_override,
    )  # fmt: skip
    return state


def class_values(job):
    """What Nautobot's refresh / the UI's form would store for a field that is not overridden."""
    job_class = job.job_class
    if job_class is None:
        return None
    values = {f: plain(Job._meta.get_field(f).to_python(getattr(job_class, f))) for f in FIELDS}
    queues = list(job_class.task_queues) or [settings.CELERY_TASK_DEFAULT_QUEUE]
    values["job_queues"] = sorted(set(queues))
    values["default_job_queue"] = queues[0]
    return values


def full_clean_job(job):
    """job.full_clean() (which runs Job.clean()) in a rolled-back transaction: error, and what it changed."""
    before = job_state(job)
    result = {"error": None, "changed": {}}
    try:
        with transaction.atomic():
            try:
                job.full_clean()
            except Exception as exc:  # a ValidationError is a finding, anything else too
                result["error"] = f"{type(exc).__name__}: {exc}"
            after = job_state(job)
            result["changed"] = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
            raise Rollback
    except Rollback:
        pass
    job.refresh_from_db()
    return result


def clean_all(model):
    errors = {}
    count = 0
    for obj in model.objects.all():
        count += 1
        try:
            with transaction.atomic():
                obj.full_clean()
                raise Rollback
        except Rollback:
            pass
        except Exception as exc:
            errors[str(obj.pk)] = f"{type(exc).__name__}: {exc}"
    return {"count": count, "errors": errors}


def orm():
    jobs = {}
    for job in Job.objects.select_related("default_job_queue").order_by("module_name", "job_class_name"):
        entry = job_state(job)
        entry["class_values"] = class_values(job) if job.installed else None
        entry["full_clean"] = full_clean_job(job)
        jobs[job.class_path] = entry
    OUT["jobs"] = jobs
    OUT["queues"] = {
        q.name: {"id": str(q.pk), "queue_type": q.queue_type, "description": q.description}
        for q in JobQueue.objects.all()
    }
    OUT["clean"] = {"JobQueue": clean_all(JobQueue), "ObjectChange": clean_all(ObjectChange)}
    changes = []
    for oc in ObjectChange.objects.select_related("changed_object_type").order_by("time"):
        snapshots_error = None
        try:
            oc.get_snapshots()  # what the change-log UI computes its diff from
        except Exception as exc:
            snapshots_error = f"{type(exc).__name__}: {exc}"
        changes.append({
            "id": str(oc.pk), "request_id": str(oc.request_id), "action": oc.action, "user_name": oc.user_name,
            "user": oc.user.username if oc.user_id else None, "changed_object_type": oc.changed_object_type.model,
            "changed_object_id": str(oc.changed_object_id), "object_repr": oc.object_repr,
            "change_context": oc.change_context, "change_context_detail": oc.change_context_detail,
            "changed_object_loads": oc.changed_object is not None, "snapshots_error": snapshots_error,
        })  # fmt: skip
    OUT["object_changes"] = changes
    OUT["serialization"] = serialization()


WORKERS = re.compile(r"\((\d+) workers?\)")


def _json(data):
    """JSON as stored; a celery queue's live worker count is not the writer's to know (normalised)."""
    text = json.dumps(data, cls=DjangoJSONEncoder)
    return json.loads(WORKERS.sub("(N workers)", text))


def _diff(ours, theirs, path=""):
    if isinstance(ours, dict) and isinstance(theirs, dict):
        out = []
        for key in sorted(set(ours) | set(theirs), key=str):
            if key not in ours or key not in theirs:
                out.append(
                    f"{path}{key}: {'missing in nbjobs row' if key not in ours else 'not in Nautobot'}"
                    f" ({theirs.get(key, ours.get(key))!r})"
                )
            else:
                out.extend(_diff(ours[key], theirs[key], f"{path}{key}."))
        return out
    if ours != theirs or type(ours) is not type(theirs):
        return [f"{path.rstrip('.')}: nbjobs {ours!r} != Nautobot {theirs!r}"]
    return []


def serialization():
    """For every row of the latest nbjobs apply: object_repr, object_data and object_data_v2 compared with what
    Nautobot's own to_objectchange() would write for the object as it is now."""
    latest = ObjectChange.objects.filter(change_context_detail__startswith="nbjobs").order_by("-time").first()
    if latest is None:
        return {}
    out = {}
    for oc in ObjectChange.objects.filter(request_id=latest.request_id):
        obj = oc.changed_object
        if obj is None:
            out[str(oc.pk)] = ["changed object does not load"]
            continue
        problems = []
        if oc.object_repr != str(obj)[:200]:
            problems.append(f"object_repr: nbjobs {oc.object_repr!r} != Nautobot {str(obj)[:200]!r}")
        try:
            with transaction.atomic():
                # Nautobot's own writes go through validated_save(): full_clean() (Job.clean() re-derives the
                # fields that are not overridden, as the class's values) before the change-log row is built.
                obj.full_clean()
                theirs, theirs_v2 = _json(serialize_object(obj)), _json(serialize_object_v2(obj))
                raise Rollback
        except Rollback:
            pass
        problems += [f"object_data.{d}" for d in _diff(_json(oc.object_data), theirs)]
        problems += [f"object_data_v2.{d}" for d in _diff(_json(oc.object_data_v2), theirs_v2)]
        out[f"{oc.changed_object_type.model} {oc.object_repr}"] = problems
    return out


def api():
    user = User.objects.get(username=PARAMS["username"])
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/extras/jobs/", {"limit": 1000, "depth": 1})
    OUT["api_jobs_status"] = response.status_code
    api_jobs = {}
    for item in response.json().get("results", []):
        api_jobs[f"{item['module_name']}.{item['job_class_name']}"] = {
            **{f: plain(item[f]) for f in FIELDS},
            **{f"{f}_override": item[f"{f}_override"] for f in FIELDS},
            "id": item["id"], "enabled": item["enabled"], "installed": item["installed"],
            "default_job_queue": item["default_job_queue"]["name"] if item["default_job_queue"] else None,
            "default_job_queue_override": item["default_job_queue_override"],
            "job_queues": sorted(item["task_queues"]),  # the list view's names of job_queues
            "job_queues_override": item["job_queues_override"],
        }  # fmt: skip
    OUT["api_jobs"] = api_jobs
    response = client.get("/api/extras/job-queues/", {"limit": 1000})
    OUT["api_queues"] = {
        q["name"]: {"id": q["id"], "queue_type": q["queue_type"]["value"] if isinstance(q["queue_type"], dict)
                    else q["queue_type"], "description": q["description"]}
        for q in response.json().get("results", [])
    }  # fmt: skip

    # The change log of each object nbjobs changed, through the API and the UI.
    ui = Client()
    ui.force_login(user)
    logs = {}
    for oc in ObjectChange.objects.filter(change_context_detail__startswith="nbjobs"):
        key = str(oc.changed_object_id)
        if key in logs:
            continue
        response = client.get("/api/extras/object-changes/", {"changed_object_id": key, "limit": 1000})
        rows = response.json().get("results", [])
        logs[key] = {
            "status": response.status_code,
            "ids": sorted(r["id"] for r in rows),
            "actions": sorted(r["action"]["value"] if isinstance(r["action"], dict) else r["action"] for r in rows),
            "ui_detail_status": ui.get(f"/extras/object-changes/{oc.pk}/").status_code,
        }
        if oc.changed_object_type.model == "job":
            logs[key]["ui_job_changelog_status"] = ui.get(f"/extras/jobs/{key}/changelog/").status_code
    OUT["change_log"] = logs

    runs = []
    if PARAMS.get("runs"):
        wait_for_workers({Job.objects.get_for_class_path(r["class_path"]).default_job_queue.name
                          for r in PARAMS["runs"]})  # fmt: skip
    for run in PARAMS.get("runs", []):
        job = Job.objects.get_for_class_path(run["class_path"])
        body = {"data": run.get("data", {})}
        if run.get("job_queue"):
            body["job_queue"] = run["job_queue"]
        response = client.post(f"/api/extras/jobs/{job.pk}/run/", body, format="json")
        entry = {"class_path": run["class_path"], "status_code": response.status_code, "body": response.json(),
                 "default_job_queue": job.default_job_queue.name}  # fmt: skip
        result = (response.json() or {}).get("job_result") if response.status_code == 201 else None
        if result:
            deadline = time.monotonic() + run.get("wait", 120)
            job_result = JobResult.objects.get(pk=result["id"])
            while job_result.status not in ("SUCCESS", "FAILURE", "REVOKED") and time.monotonic() < deadline:
                time.sleep(1)
                job_result.refresh_from_db()
            entry.update(result_status=job_result.status, worker=job_result.worker,
                         queue=(job_result.celery_kwargs or {}).get("queue"))  # fmt: skip
        runs.append(entry)
    OUT["runs"] = runs


def wait_for_workers(queues, seconds=90):
    """Nautobot asks the workers (celery inspect, 1 s) and caches the answer: wait until each queue has one."""
    from django.core.cache import cache
    from nautobot.extras.utils import get_worker_count

    deadline = time.monotonic() + seconds
    while True:
        cache.clear()  # this suite's own Redis database
        missing = sorted(q for q in queues if not get_worker_count(queue=q))
        if not missing or time.monotonic() > deadline:
            OUT["queues_without_worker"] = missing
            cache.clear()
            return
        time.sleep(1)


try:
    orm()
    if PARAMS.get("api"):
        api()
except Exception:
    OUT["errors"].append(traceback.format_exc())
print(MARKER + json.dumps(OUT, default=str))
