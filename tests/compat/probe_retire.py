"""Run inside `nautobot-server nbshell` for test_retirement_compat.py: builds, changes and reads back, through
Nautobot's own ORM, two identical setups of jobs to retire (side "a", retired by Nautobot's own code paths, and
side "b", retired by nbjobs), and prints one JSON document after PROBE_MARKER.

Parameters come as JSON in NBJOBS_PROBE_PARAMS:
  username  the acting user (admin)
  steps     a list of steps, run in order:
            {"do": "setup", "sides": ["a", "b"]}            everything each side's jobs carry (see setup())
            {"do": "uninstall", "side": "a"}                Nautobot's uninstall path + ApprovalWorkflow.cancel()
            {"do": "delete", "side": "a"}                   Job.delete() (Django's collector), change-logged
            {"do": "dump", "sides": [...], "since": ISO, "views": [...]}
                                                            every row of every table touched, normalised, and
                                                            the ObjectChange rows since then (with the API and UI
                                                            status of each for the sides in "views")
            {"do": "counts"}                                the row count of every table in the database
  registry  {uuid: label} of the objects setup() created (labels "<side>:<kind>...", "shared:<kind>...")
  t0        when setup() finished (ISO): later timestamps read "after setup", earlier ones "setup"
Everything is keyed by name prefix `retire_<side>` so that the two sides can be compared once that prefix is
replaced by `retire_X` (test_retirement_compat.normalise).
"""

import json
import os
import re
import traceback
import uuid
from datetime import datetime, timedelta

from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.db.models import Q
from django.test import Client
from django.utils import timezone
from nautobot.extras.context_managers import web_request_context
from nautobot.extras.models import (
    ApprovalWorkflow,
    ApprovalWorkflowDefinition,
    ApprovalWorkflowStage,
    ApprovalWorkflowStageDefinition,
    ApprovalWorkflowStageResponse,
    Contact,
    ContactAssociation,
    DynamicGroup,
    Job,
    JobButton,
    JobHook,
    JobLogEntry,
    JobQueue,
    JobQueueAssignment,
    JobResult,
    MetadataType,
    Note,
    ObjectChange,
    ObjectMetadata,
    Relationship,
    RelationshipAssociation,
    Role,
    ScheduledJob,
    ScheduledJobs,
    StaticGroupAssociation,
    Status,
    Tag,
    TaggedItem,
)
from nautobot.users.models import User
from rest_framework.test import APIClient

PARAMS = json.loads(os.environ.get("NBJOBS_PROBE_PARAMS", "{}"))
MARKER = "NBJOBS_PROBE_JSON="
OUT = {"errors": [], "registry": dict(PARAMS.get("registry", {})), "dumps": [], "times": {}}
REGISTRY = OUT["registry"]
CANCEL_COMMENTS = "Retired by nbjobs"  # what nbjobs writes; Nautobot's cancel() takes the comments as given
APPROVAL_WEIGHT = 4242


class Rollback(Exception):
    pass


def ct(model):
    return ContentType.objects.get_for_model(model)


def register(obj, label):
    REGISTRY[str(obj.pk)] = label
    return obj


def admin():
    return User.objects.get(username=PARAMS["username"])


def job(side, name):
    return Job.objects.get(module_name=f"retire_{side}", job_class_name=name)


# ---------------------------------------------------------------- setup


def shared():
    """What both sides share: a contact role and status, an extra queue, the approval workflow definition."""
    role, _ = Role.objects.get_or_create(name="retire contact role")
    role.content_types.add(ct(ContactAssociation))
    status = Status.objects.get(name="Active")
    status.content_types.add(ct(ContactAssociation))
    queue, _ = JobQueue.objects.get_or_create(name="retire_extra", defaults={"queue_type": "celery"})
    definition, _ = ApprovalWorkflowDefinition.objects.get_or_create(
        name="retire pending schedules", model_content_type=ct(ScheduledJob),
        defaults={"model_constraints": {"name__endswith": " pending"}, "weight": APPROVAL_WEIGHT},
    )  # fmt: skip
    approvers = Group.objects.get(name="nautobot-default-scheduledjob-approver")  # seeded by migration 0132
    for sequence, name in ((10, "first look"), (20, "sign-off")):
        ApprovalWorkflowStageDefinition.objects.get_or_create(
            approval_workflow_definition=definition, name=name,
            defaults={"sequence": sequence, "min_approvers": 1, "approver_group": approvers},
        )  # fmt: skip
    user = admin()
    for obj, label in ((role, "role"), (status, "status"), (queue, "queue retire_extra"), (definition, "definition"),
                       (user, "user admin"), (JobQueue.objects.get(name="default"), "queue default")):  # fmt: skip
        register(obj, f"shared:{label}")
    for stage in definition.approval_workflow_stage_definitions.all():
        register(stage, f"shared:stage definition {stage.name}")
    return role, status, queue, user


def setup(side):
    """For each job of the side: enabled, a second eligible queue, a tag, notes, a contact, a static group, a
    cached dynamic-group membership, object metadata, a relationship; the button receiver gets a JobButton, the
    hook receiver a JobHook (each with content types, a note and a contact); each job gets an enabled active
    schedule owned by admin, a schedule pending a two-stage approval (for Old, with a Comment response already given),
    and a SUCCESS result with log entries."""
    prefix = f"retire_{side}"
    role, status, queue, user = shared()
    old, hook = job(side, "Old"), job(side, "Hook")
    tag = register(Tag.objects.create(name=f"{prefix} tag", color="aa1409"), f"{side}:tag")
    tag.content_types.add(ct(Job))
    contact = register(Contact.objects.create(name=f"{prefix} contact"), f"{side}:contact")
    group = register(DynamicGroup.objects.create(name=f"{prefix} static group", content_type=ct(Job),
                                                 group_type="static"), f"{side}:static group")  # fmt: skip
    metadata_type = register(MetadataType.objects.create(name=f"{prefix} metadata", data_type="text"),
                             f"{side}:metadata type")  # fmt: skip
    metadata_type.content_types.add(ct(Job))
    relationship = register(Relationship.objects.create(
        label=f"{prefix} relationship", key=f"{prefix}_relationship", type="many-to-many",
        source_type=ct(Job), destination_type=ct(JobQueue),
    ), f"{side}:relationship")  # fmt: skip
    for obj, kind in ((old, "Old"), (hook, "Hook")):
        register(obj, f"{side}:job {kind}")
        obj.enabled = True
        obj.job_queues_override = True
        obj.save()
        register(JobQueueAssignment.objects.create(job=obj, job_queue=queue), f"{side}:assignment {kind} extra")
        register(JobQueueAssignment.objects.get(job=obj, job_queue__name="default"),
                 f"{side}:assignment {kind} default")  # fmt: skip
        obj.tags.add(tag)
        register(TaggedItem.objects.get(object_id=obj.pk, tag=tag), f"{side}:tagged {kind}")
        register(Note.objects.create(assigned_object=obj, user=user, note=f"{prefix} note on {kind}"),
                 f"{side}:note {kind}")  # fmt: skip
        register(ContactAssociation.objects.create(contact=contact, associated_object=obj, role=role, status=status),
                 f"{side}:contact association {kind}")  # fmt: skip
        register(StaticGroupAssociation.objects.create(dynamic_group=group, associated_object=obj),
                 f"{side}:static group association {kind}")  # fmt: skip
        metadata = ObjectMetadata(metadata_type=metadata_type, assigned_object=obj, scoped_fields=["description"])
        metadata.value = f"{prefix} metadata of {kind}"
        metadata.save()
        register(metadata, f"{side}:metadata {kind}")
        register(RelationshipAssociation.objects.create(relationship=relationship, source=obj, destination=queue),
                 f"{side}:relationship association {kind}")  # fmt: skip
        schedule = ScheduledJob.create_schedule(
            obj, user, name=f"{prefix} {kind} daily", start_time=timezone.now() + timedelta(days=1),
            interval="daily", job_kwargs={},
        )  # fmt: skip
        ScheduledJob.objects.filter(pk=schedule.pk).update(last_run_at=timezone.now() - timedelta(hours=1),
                                                           total_run_count=3)  # fmt: skip
        register(schedule, f"{side}:schedule {kind} daily")
        pending = ScheduledJob.create_schedule(
            obj, user, name=f"{prefix} {kind} pending", start_time=timezone.now() + timedelta(days=2),
            interval="daily", job_kwargs={},
        )  # fmt: skip
        register(pending, f"{side}:schedule {kind} pending")
        workflow = pending.associated_approval_workflows.get()
        register(workflow, f"{side}:workflow {kind}")
        for stage in workflow.approval_workflow_stages.all():
            register(stage, f"{side}:stage {kind} {stage.approval_workflow_stage_definition.name}")
        if kind == "Old":  # cancel() turns this response into the cancellation; for Hook it creates one
            response = ApprovalWorkflowStageResponse.objects.create(
                approval_workflow_stage=workflow.active_stage, user=user, comments="looking at it", state="Comment"
            )
            register(response, f"{side}:response {kind}")
        result = JobResult.objects.create(name=obj.name, job_model=obj, task_name=obj.class_path, status="SUCCESS",
                                          user=user, date_done=timezone.now(), worker="celery@retire")  # fmt: skip
        register(result, f"{side}:result {kind}")
        for level in ("info", "warning"):
            result.log(f"{prefix} {level} entry of {kind}", level_choice=level)
        for entry in result.job_log_entries.all():
            register(entry, f"{side}:log entry {kind} {entry.log_level}")
    button = JobButton.objects.create(name=f"{prefix} button", text="Retire {{ obj }}", job=old)
    button.content_types.set([ct(m) for m in _models("dcim.device", "dcim.location")])
    hook_ = JobHook.objects.create(name=f"{prefix} hook", job=hook, type_create=True, type_update=True)
    hook_.content_types.set([ct(m) for m in _models("dcim.device", "dcim.location")])
    for obj, kind in ((button, "button"), (hook_, "hook")):
        register(obj, f"{side}:{kind}")
        register(Note.objects.create(assigned_object=obj, user=user, note=f"{prefix} note on the {kind}"),
                 f"{side}:note {kind}")  # fmt: skip
        register(ContactAssociation.objects.create(contact=contact, associated_object=obj, role=role, status=status),
                 f"{side}:contact association {kind}")  # fmt: skip
    # A dynamic-filter group of jobs: its cached members are hidden StaticGroupAssociations, which Nautobot does
    # not change-log (StaticGroupAssociation.to_objectchange returns None for them).
    dynamic = register(DynamicGroup.objects.create(
        name=f"{prefix} dynamic group", content_type=ct(Job), group_type="dynamic-filter",
        filter={"module_name": [prefix]},
    ), f"{side}:dynamic group")  # fmt: skip
    dynamic.update_cached_members()
    for association in StaticGroupAssociation.all_objects.filter(dynamic_group=dynamic):
        owner = REGISTRY[str(association.associated_object_id)].split(":", 1)[1]
        register(association, f"{side}:cached membership of {owner}")


def _models(*labels):
    from django.apps import apps

    return [apps.get_model(label) for label in labels]


# ---------------------------------------------------------------- Nautobot's own paths


def uninstall(side):
    """Nautobot's uninstall path (Job.save() with installed False disables the buttons, hooks and enabled
    schedules, spec section c), then ApprovalWorkflow.cancel() for each pending approval (what nbjobs'
    `schedules: disable` reproduces), inside one change-logged request."""
    user = admin()
    with web_request_context(user):
        for name in ("Old", "Hook"):
            obj = job(side, name)
            obj.enabled = False
            obj.installed = False
            obj.save()
        for workflow in ApprovalWorkflow.objects.filter(object_under_review_object_id__in=ScheduledJob.objects.filter(
                name__startswith=f"retire_{side}").values("pk"), current_state="Pending"):  # fmt: skip
            workflow.cancel(user, comments=CANCEL_COMMENTS)


def delete(side):
    """Job.delete(): Django's collector, one change-logged request per job (as nbjobs files its deletes)."""
    user = admin()
    for name in ("Old", "Hook"):
        with web_request_context(user):
            job(side, name).delete()


# ---------------------------------------------------------------- reading back

UUID_TEXT = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")
TIME_TEXT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")


def label(value):
    text = str(value)
    if text not in REGISTRY and UUID_TEXT.fullmatch(text):
        text = str(uuid.UUID(text))
    return f"<{REGISTRY.get(text, 'new')}>"


def side_ids(side):
    return [key for key, value in REGISTRY.items() if value.startswith(f"{side}:") and UUID_TEXT.fullmatch(key)]


def plain(value, t0):
    """A stored value, comparable across the two sides: known ids by label, content types by name, times
    as "setup" or "after setup"."""
    if isinstance(value, uuid.UUID):
        return label(value)
    if isinstance(value, datetime):
        return "<after setup>" if value > t0 else "<setup>"
    if isinstance(value, dict):
        return {k: plain(v, t0) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, t0) for v in value]
    if isinstance(value, str):
        return UUID_TEXT.sub(lambda m: label(m.group(0)), TIME_TEXT.sub("<time>", value))
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)  # time zones, decimals


def row(obj, t0):
    out = {}
    for field in obj._meta.concrete_fields:
        if field.primary_key:
            continue
        value = getattr(obj, field.attname)
        if isinstance(field, models.ForeignKey) and value is not None:
            if field.related_model is ContentType:
                value = "ct:" + ".".join(ContentType.objects.filter(pk=value).values_list("app_label", "model")[0])
            elif field.related_model is User:
                value = "user:" + User.objects.get(pk=value).username
        out[field.attname] = plain(json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if isinstance(
            value, (dict, list)) else value, t0)  # fmt: skip
    return out


def full_clean(obj):
    try:
        with transaction.atomic():
            obj.full_clean()
            raise Rollback
    except Rollback:
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def tables(side):
    prefix = f"retire_{side}"
    ids = side_ids(side)
    schedules = ScheduledJob.objects.filter(name__startswith=prefix).values("pk")
    return {
        "extras_job": Job.objects.filter(module_name=prefix),
        "extras_jobbutton": JobButton.objects.filter(name__startswith=prefix),
        "extras_jobbutton_content_types": JobButton.content_types.through.objects.filter(
            jobbutton__name__startswith=prefix),
        "extras_jobhook": JobHook.objects.filter(name__startswith=prefix),
        "extras_jobhook_content_types": JobHook.content_types.through.objects.filter(
            jobhook__name__startswith=prefix),
        "extras_tag": Tag.objects.filter(name__startswith=prefix),
        "extras_taggeditem": TaggedItem.objects.filter(Q(object_id__in=ids) | Q(tag__name__startswith=prefix)),
        "extras_note": Note.objects.filter(Q(assigned_object_id__in=ids) | Q(note__startswith=prefix)),
        "extras_contact": Contact.objects.filter(name__startswith=prefix),
        "extras_contactassociation": ContactAssociation.objects.filter(
            Q(associated_object_id__in=ids) | Q(contact__name__startswith=prefix)),
        "extras_dynamicgroup": DynamicGroup.objects.filter(name__startswith=prefix),
        "extras_staticgroupassociation": StaticGroupAssociation.all_objects.filter(
            Q(associated_object_id__in=ids) | Q(dynamic_group__name__startswith=prefix)),
        "extras_metadatatype": MetadataType.objects.filter(name__startswith=prefix),
        "extras_objectmetadata": ObjectMetadata.objects.filter(
            Q(assigned_object_id__in=ids) | Q(metadata_type__name__startswith=prefix)),
        "extras_relationship": Relationship.objects.filter(key__startswith=prefix),
        "extras_relationshipassociation": RelationshipAssociation.objects.filter(
            Q(source_id__in=ids) | Q(destination_id__in=ids) | Q(relationship__key__startswith=prefix)),
        "extras_scheduledjob": ScheduledJob.objects.filter(name__startswith=prefix),
        "extras_approvalworkflow": ApprovalWorkflow.objects.filter(object_under_review_object_id__in=schedules),
        "extras_approvalworkflowstage": ApprovalWorkflowStage.objects.filter(
            approval_workflow__object_under_review_object_id__in=schedules),
        "extras_approvaluserresponse": ApprovalWorkflowStageResponse.objects.filter(
            approval_workflow_stage__approval_workflow__object_under_review_object_id__in=schedules),
        "extras_jobresult": JobResult.objects.filter(Q(pk__in=ids) | Q(task_name__startswith=prefix)),
        "extras_joblogentry": JobLogEntry.objects.filter(Q(pk__in=ids) | Q(job_result_id__in=ids)),
        "extras_jobqueueassignment": JobQueueAssignment.objects.filter(Q(pk__in=ids) | Q(job_id__in=ids)),
    }  # fmt: skip


def dump(side, t0, since, views):
    out = {"tables": {}, "full_clean": {}, "object_changes": []}
    for name, queryset in tables(side).items():
        rows = []
        through = name.endswith("_content_types")  # integer ids: the rows are their two keys
        for obj in queryset:
            entry = row(obj, t0) if through else {"id": label(obj.pk), **row(obj, t0)}
            rows.append(entry)
            if not through:
                error = full_clean(obj)
                if error:
                    out["full_clean"][f"{name} {entry['id']}"] = plain(error, t0)
        out["tables"][name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    ids = side_ids(side)
    changes = ObjectChange.objects.filter(Q(changed_object_id__in=ids) | Q(related_object_id__in=ids),
                                          time__gt=since).order_by("time")  # fmt: skip
    api, ui = APIClient(), Client()
    api.force_authenticate(admin())
    ui.force_login(admin())
    for oc in changes:
        entry = row(oc, t0)
        entry["request_id"] = str(oc.request_id)  # grouped by the test
        entry.pop("time")
        entry["loads"] = oc.changed_object is not None
        if views:  # how Nautobot shows the row: its REST API and its change-log page (a diff of the snapshots)
            entry["api_status"] = api.get(f"/api/extras/object-changes/{oc.pk}/").status_code
            entry["ui_status"] = ui.get(f"/extras/object-changes/{oc.pk}/").status_code
        out["object_changes"].append(entry)
        key = f"objectchange {entry['action']} {entry['changed_object_type_id']} {entry['changed_object_id']}"
        error = full_clean(oc)
        try:
            oc.get_snapshots()  # what the change-log UI computes its diff from
        except Exception as exc:
            error = f"{error or ''} get_snapshots: {type(exc).__name__}: {exc}"
        if error:
            out["full_clean"][key] = plain(error, t0)
    out["approvals"] = [{
        "workflow": label(workflow.pk),
        "schedule_decision_date_is_the_workflow's":
            workflow.object_under_review.decision_date == workflow.decision_date,
        "canceled_stages_decision_date_is_the_workflow's": [
            stage.decision_date == workflow.decision_date
            for stage in workflow.approval_workflow_stages.filter(state="Canceled")],
    } for workflow in tables(side)["extras_approvalworkflow"]]  # fmt: skip
    return out


def counts():
    """The number of rows of every table of the database (Nautobot's, Django's and nbjobs' own)."""
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")
            out[table] = cursor.fetchone()[0]
    return out


def main():
    t0 = datetime.fromisoformat(PARAMS["t0"]) if PARAMS.get("t0") else None
    OUT["markers"] = []
    for step in PARAMS["steps"]:
        started = timezone.now()
        if step["do"] == "setup":
            for side in step["sides"]:
                setup(side)
            t0 = timezone.now()
            OUT["t0"] = t0.isoformat()
        elif step["do"] == "uninstall":
            uninstall(step["side"])
        elif step["do"] == "delete":
            delete(step["side"])
        elif step["do"] == "counts":
            OUT.setdefault("counts", []).append(counts())
        elif step["do"] == "dump":
            since = datetime.fromisoformat(step["since"])
            views = step.get("views", [])
            OUT["dumps"].append({"sides": {side: dump(side, t0, since, side in views) for side in step["sides"]},
                                 "at": timezone.now().isoformat()})  # fmt: skip
        OUT["times"].setdefault(step["do"], []).append([started.isoformat(), timezone.now().isoformat()])
        marker = ScheduledJobs.objects.filter(ident=1).first()  # celery beat's change marker
        OUT["markers"].append([step["do"], marker.last_update.isoformat() if marker else None])


try:
    main()
except Exception:
    OUT["errors"].append(traceback.format_exc())
print(MARKER + json.dumps(OUT, default=str))
