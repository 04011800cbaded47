"""Nautobot 3.2.7's tables, mirrored exactly (names, columns, types, nullability, unique constraints).

Source: shared/nautobot-3.2.7-jobs-tables.txt (`psql \\d` of a database migrated by Nautobot itself).
Nautobot owns these tables: nbjobs reads and writes them but never creates them in a real Nautobot
database; only the embedded sandbox gets them from this metadata. Foreign keys to tables nbjobs never
touches (tenancy_tenant, django_celery_beat_*, extras_secretsgroup) are left out so the
sandbox can be created without them; the columns themselves are kept.

Every FK is DEFERRABLE INITIALLY DEFERRED with no ON DELETE action, as Django creates them (spec G2):
a delete must reproduce Django's collector by hand.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Double,
    ForeignKey,
    Identity,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
)

from reconciler.dbtypes import BigIdentity, JsonColumn, UtcDateTime

metadata = MetaData()


def _fk(target: str) -> ForeignKey:
    return ForeignKey(target, deferrable=True, initially="DEFERRED")


def _uuid_pk() -> Column[UUID]:
    return Column("id", Uuid(), primary_key=True)


def _change_logged() -> list[Column[datetime]]:
    return [
        Column("created", UtcDateTime(), nullable=True),
        Column("last_updated", UtcDateTime(), nullable=True),
    ]


django_content_type = Table(
    "django_content_type",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_label", String(100), nullable=False),
    Column("model", String(100), nullable=False),
    UniqueConstraint("app_label", "model", name="django_content_type_app_label_model_76bd3d3b_uniq"),
)

auth_user = Table(
    "auth_user",
    metadata,
    Column("password", String(128), nullable=False),
    Column("last_login", UtcDateTime(), nullable=True),
    Column("is_superuser", Boolean, nullable=False),
    Column("username", String(150), nullable=False, unique=True),
    Column("first_name", String(150), nullable=False),
    Column("last_name", String(150), nullable=False),
    Column("email", String(254), nullable=False),
    Column("is_staff", Boolean, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("date_joined", UtcDateTime(), nullable=False),
    Column("id", Uuid(), primary_key=True),
    Column("config_data", JsonColumn, nullable=False),
)

auth_group = Table(
    "auth_group",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(150), nullable=False, unique=True),
)

auth_user_groups = Table(
    "auth_user_groups",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=False),
    Column("group_id", Integer, _fk("auth_group.id"), nullable=False),
    UniqueConstraint("user_id", "group_id", name="auth_user_groups_user_id_group_id_94350c0c_uniq"),
)

extras_jobqueue = Table(
    "extras_jobqueue",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("queue_type", String(50), nullable=False),
    Column("tenant_id", Uuid(), nullable=True),  # FK to tenancy_tenant, not mirrored
    UniqueConstraint("name", name="extras_jobqueue_name_key"),
)

extras_job = Table(
    "extras_job",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("module_name", String(100), nullable=False, index=True),
    Column("job_class_name", String(100), nullable=False, index=True),
    Column("grouping", String(255), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False),
    Column("installed", Boolean, nullable=False, index=True),
    Column("enabled", Boolean, nullable=False),
    Column("dryrun_default", Boolean, nullable=False),
    Column("hidden", Boolean, nullable=False, index=True),
    Column("read_only", Boolean, nullable=False),
    Column("soft_time_limit", Double, nullable=False),
    Column("time_limit", Double, nullable=False),
    Column("grouping_override", Boolean, nullable=False),
    Column("name_override", Boolean, nullable=False),
    Column("description_override", Boolean, nullable=False),
    Column("dryrun_default_override", Boolean, nullable=False),
    Column("hidden_override", Boolean, nullable=False),
    Column("soft_time_limit_override", Boolean, nullable=False),
    Column("time_limit_override", Boolean, nullable=False),
    Column("has_sensitive_variables", Boolean, nullable=False),
    Column("has_sensitive_variables_override", Boolean, nullable=False),
    Column("is_job_hook_receiver", Boolean, nullable=False),
    Column("job_queues_override", Boolean, nullable=False),
    Column("is_job_button_receiver", Boolean, nullable=False),
    Column("supports_dryrun", Boolean, nullable=False),
    Column("default_job_queue_override", Boolean, nullable=False),
    Column("default_job_queue_id", Uuid(), _fk("extras_jobqueue.id"), nullable=False, index=True),
    Column("is_singleton", Boolean, nullable=False),
    Column("is_singleton_override", Boolean, nullable=False),
    Column("console_log_default", Boolean, nullable=False),
    Column("console_log_default_override", Boolean, nullable=False),
    UniqueConstraint("module_name", "job_class_name", name="extras_job_module_name_job_class_name_b531472b_uniq"),
    UniqueConstraint("name", name="extras_job_name_34d98c40_uniq"),
)

extras_jobqueueassignment = Table(
    "extras_jobqueueassignment",
    metadata,
    _uuid_pk(),
    Column("job_id", Uuid(), _fk("extras_job.id"), nullable=False, index=True),
    Column("job_queue_id", Uuid(), _fk("extras_jobqueue.id"), nullable=False, index=True),
    UniqueConstraint("job_id", "job_queue_id", name="extras_jobqueueassignment_job_id_job_queue_id_1c36e3d3_uniq"),
)

extras_scheduledjob = Table(
    "extras_scheduledjob",
    metadata,
    _uuid_pk(),
    Column("name", String(255), nullable=False),
    Column("task", String(201), nullable=False, index=True),
    Column("interval", String(255), nullable=False),
    Column("args", JsonColumn, nullable=False),
    Column("kwargs", JsonColumn, nullable=False),
    Column("one_off", Boolean, nullable=False),
    Column("start_time", UtcDateTime(), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("last_run_at", UtcDateTime(), nullable=True),
    Column("total_run_count", Integer, CheckConstraint("total_run_count >= 0"), nullable=False),
    Column("date_changed", UtcDateTime(), nullable=False),
    Column("description", Text, nullable=False),
    Column("decision_date", UtcDateTime(), nullable=True),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=True, index=True),
    Column("job_model_id", Uuid(), _fk("extras_job.id"), nullable=True, index=True),
    Column("crontab", String(255), nullable=False),
    Column("celery_kwargs", JsonColumn, nullable=False),
    Column("time_zone", String(63), nullable=False),
    Column("job_queue_id", Uuid(), _fk("extras_jobqueue.id"), nullable=True, index=True),
    Column("clocked_id", Integer, nullable=True),  # FK to django_celery_beat, not mirrored
    Column("exchange", String(255), nullable=True),
    Column("expires", UtcDateTime(), nullable=True),
    Column("expire_seconds", Integer, CheckConstraint("expire_seconds >= 0"), nullable=True),
    Column("headers", Text, nullable=False),
    Column("priority", Integer, CheckConstraint("priority >= 0"), nullable=True),
    Column("routing_key", String(255), nullable=True),
    Column("solar_id", Integer, nullable=True),  # FK to django_celery_beat, not mirrored
    Column("state", String(30), nullable=False, index=True),
    UniqueConstraint("name", name="extras_scheduledjob_name_fcea52d7_uniq"),
)

extras_scheduledjobs = Table(
    "extras_scheduledjobs",
    metadata,
    Column("ident", SmallInteger, primary_key=True, autoincrement=False),
    Column("last_update", UtcDateTime(), nullable=False),
)

extras_jobresult = Table(
    "extras_jobresult",
    metadata,
    _uuid_pk(),
    Column("name", String(255), nullable=False, index=True),
    Column("date_created", UtcDateTime(), nullable=False, index=True),
    Column("date_done", UtcDateTime(), nullable=True, index=True),
    Column("status", String(30), nullable=False, index=True),
    Column("result", JsonColumn, nullable=True),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=True, index=True),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("scheduled_job_id", Uuid(), _fk("extras_scheduledjob.id"), nullable=True, index=True),
    Column("job_model_id", Uuid(), _fk("extras_job.id"), nullable=True, index=True),
    Column("task_args", JsonColumn, nullable=False),
    Column("meta", JsonColumn, nullable=True),
    Column("task_kwargs", JsonColumn, nullable=False),
    Column("task_name", String(255), nullable=True, index=True),
    Column("traceback", Text, nullable=True),
    Column("worker", String(100), nullable=True),
    Column("celery_kwargs", JsonColumn, nullable=False),
    Column("date_started", UtcDateTime(), nullable=True, index=True),
    *(
        Column(f"{level}_log_count", Integer, CheckConstraint(f"{level}_log_count >= 0"), nullable=True)
        for level in ("debug", "error", "info", "success", "warning")
    ),
    Column("cancel_type", String(30), nullable=False),
    Column("canceled_by_id", Uuid(), _fk("auth_user.id"), nullable=True, index=True),
    Column("canceled_by_user_name", String(150), nullable=False),
    Column("date_canceled", UtcDateTime(), nullable=True),
)

extras_joblogentry = Table(
    "extras_joblogentry",
    metadata,
    _uuid_pk(),
    Column("log_level", String(32), nullable=False, index=True),
    Column("grouping", String(100), nullable=False),
    Column("message", Text, nullable=False),
    Column("created", UtcDateTime(), nullable=False, index=True),
    Column("log_object", String(200), nullable=False),
    Column("absolute_url", String(255), nullable=False),
    Column("job_result_id", Uuid(), _fk("extras_jobresult.id"), nullable=False, index=True),
)

extras_jobconsoleentry = Table(
    "extras_jobconsoleentry",
    metadata,
    _uuid_pk(),
    Column("timestamp", UtcDateTime(), nullable=False),
    Column("output_type", String(10), nullable=False),
    Column("text", Text, nullable=False),
    Column("job_result_id", Uuid(), _fk("extras_jobresult.id"), nullable=False, index=True),
)

extras_fileproxy = Table(
    "extras_fileproxy",
    metadata,
    _uuid_pk(),
    Column("name", String(255), nullable=False),
    Column("file", String(100), nullable=False),
    Column("uploaded_at", UtcDateTime(), nullable=False),
    Column("job_result_id", Uuid(), _fk("extras_jobresult.id"), nullable=True),
)

extras_jobbutton = Table(
    "extras_jobbutton",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("name", String(255), nullable=False),
    Column("text", String(500), nullable=False),
    Column("weight", SmallInteger, CheckConstraint("weight >= 0"), nullable=False),
    Column("group_name", String(255), nullable=False),
    Column("button_class", String(30), nullable=False),
    Column("confirmation", Boolean, nullable=False),
    Column("job_id", Uuid(), _fk("extras_job.id"), nullable=False, index=True),
    Column("enabled", Boolean, nullable=False),
    UniqueConstraint("name", name="extras_jobbutton_name_key"),
)

extras_jobbutton_content_types = Table(
    "extras_jobbutton_content_types",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("jobbutton_id", Uuid(), _fk("extras_jobbutton.id"), nullable=False, index=True),
    Column("contenttype_id", Integer, _fk("django_content_type.id"), nullable=False, index=True),
    UniqueConstraint(
        "jobbutton_id",
        "contenttype_id",
        name="extras_jobbutton_content_jobbutton_id_contenttype_058baab2_uniq",
    ),
)

extras_jobhook = Table(
    "extras_jobhook",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("name", String(255), nullable=False),
    Column("type_create", Boolean, nullable=False),
    Column("type_delete", Boolean, nullable=False),
    Column("type_update", Boolean, nullable=False),
    Column("job_id", Uuid(), _fk("extras_job.id"), nullable=False, index=True),
    UniqueConstraint("name", name="extras_jobhook_name_key"),
)

extras_jobhook_content_types = Table(
    "extras_jobhook_content_types",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("jobhook_id", Uuid(), _fk("extras_jobhook.id"), nullable=False, index=True),
    Column("contenttype_id", Integer, _fk("django_content_type.id"), nullable=False, index=True),
    UniqueConstraint(
        "jobhook_id", "contenttype_id", name="extras_jobhook_content_t_jobhook_id_contenttype_i_c21a50f9_uniq"
    ),
)

extras_tag = Table(
    "extras_tag",
    metadata,
    Column("name", String(255), nullable=False),
    Column("id", Uuid(), primary_key=True),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("color", String(6), nullable=False),
    Column("description", String(255), nullable=False),
    UniqueConstraint("name", name="extras_tag_name_key"),
)

extras_taggeditem = Table(
    "extras_taggeditem",
    metadata,
    _uuid_pk(),
    Column("object_id", Uuid(), nullable=False),
    Column("content_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("tag_id", Uuid(), _fk("extras_tag.id"), nullable=False),
    UniqueConstraint(
        "content_type_id",
        "object_id",
        "tag_id",
        name="extras_taggeditem_content_type_id_object_i_fb5205e9_uniq",
    ),
)

extras_objectchange = Table(
    "extras_objectchange",
    metadata,
    _uuid_pk(),
    Column("time", UtcDateTime(), nullable=False),
    Column("user_name", String(150), nullable=False),
    Column("request_id", Uuid(), nullable=False),
    Column("action", String(50), nullable=False),
    Column("changed_object_id", Uuid(), nullable=False),
    Column("related_object_id", Uuid(), nullable=True),
    Column("object_repr", String(200), nullable=False),
    Column("object_data", JsonColumn, nullable=False),
    Column("changed_object_type_id", Integer, _fk("django_content_type.id"), nullable=True),
    Column("related_object_type_id", Integer, _fk("django_content_type.id"), nullable=True),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=True),
    Column("object_data_v2", JsonColumn, nullable=True),
    Column("change_context", String(50), nullable=False),
    Column("change_context_detail", String(400), nullable=False),
    UniqueConstraint("time", "request_id", "changed_object_type_id", "changed_object_id",
                     name="extras_objectchange_time_request_id_changed__f5f870cc_uniq"),
)  # fmt: skip

users_objectpermission = Table(
    "users_objectpermission",
    metadata,
    _uuid_pk(),
    Column("name", String(255), nullable=False),
    Column("description", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("actions", JsonColumn, nullable=False),
    Column("constraints", JsonColumn, nullable=True),
    *_change_logged(),
    UniqueConstraint("name", name="users_objectpermission_name_8d7a5900_uniq"),
)

users_objectpermission_groups = Table(
    "users_objectpermission_groups",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("objectpermission_id", Uuid(), _fk("users_objectpermission.id"), nullable=False),
    Column("group_id", Integer, _fk("auth_group.id"), nullable=False),
    UniqueConstraint(
        "objectpermission_id",
        "group_id",
        name="users_objectpermission_g_objectpermission_id_grou_3b62a39c_uniq",
    ),
)

users_objectpermission_object_types = Table(
    "users_objectpermission_object_types",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("objectpermission_id", Uuid(), _fk("users_objectpermission.id"), nullable=False),
    Column("contenttype_id", Integer, _fk("django_content_type.id"), nullable=False),
    UniqueConstraint(
        "objectpermission_id",
        "contenttype_id",
        name="users_objectpermission_o_objectpermission_id_cont_7c40d31a_uniq",
    ),
)

users_objectpermission_users = Table(
    "users_objectpermission_users",
    metadata,
    Column("id", BigIdentity, Identity(), primary_key=True),
    Column("objectpermission_id", Uuid(), _fk("users_objectpermission.id"), nullable=False),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=False),
    UniqueConstraint(
        "objectpermission_id",
        "user_id",
        name="users_objectpermission_u_objectpermission_id_user_3a7db108_uniq",
    ),
)


# Generic rows that Django's collector deletes with an object (spec section e). FKs to tables nbjobs
# never touches (contacts, teams, roles, statuses, dynamic groups, relationships, metadata types) are
# left out; the columns are kept.
extras_note = Table(
    "extras_note",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("assigned_object_id", Uuid(), nullable=False),
    Column("user_name", String(150), nullable=False),
    Column("note", Text, nullable=False),
    Column("assigned_object_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=True),
    UniqueConstraint("assigned_object_type_id", "assigned_object_id", "user_name", "created",
                     name="extras_note_assigned_object_type_id__e1504524_uniq"),
)  # fmt: skip

extras_contactassociation = Table(
    "extras_contactassociation",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("associated_object_id", Uuid(), nullable=False),
    Column("associated_object_type_id", Integer, _fk("django_content_type.id"), nullable=True),
    Column("contact_id", Uuid(), nullable=True),
    Column("role_id", Uuid(), nullable=False),
    Column("status_id", Uuid(), nullable=False),
    Column("team_id", Uuid(), nullable=True),
    UniqueConstraint("contact_id", "associated_object_type_id", "associated_object_id", "role_id",
                     name="extras_contactassociatio_contact_id_associated_ob_e743dc3a_uniq"),
    UniqueConstraint("team_id", "associated_object_type_id", "associated_object_id", "role_id",
                     name="extras_contactassociatio_team_id_associated_objec_e8ebb4d5_uniq"),
)  # fmt: skip

extras_staticgroupassociation = Table(
    "extras_staticgroupassociation",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("associated_object_id", Uuid(), nullable=False),
    Column("associated_object_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("dynamic_group_id", Uuid(), nullable=False),
    UniqueConstraint("dynamic_group_id", "associated_object_type_id", "associated_object_id",
                     name="extras_staticgroupassoci_dynamic_group_id_associa_086dca7c_uniq"),
)  # fmt: skip

extras_relationshipassociation = Table(
    "extras_relationshipassociation",
    metadata,
    _uuid_pk(),
    Column("source_id", Uuid(), nullable=False),
    Column("destination_id", Uuid(), nullable=False),
    Column("destination_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("relationship_id", Uuid(), nullable=False),
    Column("source_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    UniqueConstraint("relationship_id", "source_type_id", "source_id", "destination_type_id", "destination_id",
                     name="extras_relationshipassoc_relationship_id_source_t_6826a98b_uniq"),
)  # fmt: skip

extras_objectmetadata = Table(
    "extras_objectmetadata",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("scoped_fields", JsonColumn, nullable=False),
    Column("_value", JsonColumn, nullable=True),
    Column("assigned_object_id", Uuid(), nullable=False),
    Column("assigned_object_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("contact_id", Uuid(), nullable=True),
    Column("metadata_type_id", Uuid(), nullable=False),
    Column("team_id", Uuid(), nullable=True),
)

# Approval workflows (spec section a11): a pending workflow holds a ScheduledJob in state "pending".
extras_approvalworkflowdefinition = Table(
    "extras_approvalworkflowdefinition",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("name", String(255), nullable=False),
    Column("model_constraints", JsonColumn, nullable=False),
    Column("weight", Integer, nullable=False),
    Column("model_content_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    UniqueConstraint("model_content_type_id", "weight",
                     name="extras_approvalworkflowd_model_content_type_id_we_a7156a7e_uniq"),
    UniqueConstraint("name", name="extras_approvalworkflowdefinition_name_key"),
)  # fmt: skip

extras_approvalworkflowstagedefinition = Table(
    "extras_approvalworkflowstagedefinition",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("sequence", Integer, CheckConstraint("sequence >= 0"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("min_approvers", Integer, CheckConstraint("min_approvers >= 0"), nullable=False),
    Column("denial_message", String(255), nullable=False),
    Column("approval_workflow_definition_id", Uuid(), _fk("extras_approvalworkflowdefinition.id"), nullable=False),
    Column("approver_group_id", Integer, _fk("auth_group.id"), nullable=False),
    UniqueConstraint("approval_workflow_definition_id", "name",
                     name="extras_approvalworkflows_approval_workflow_defini_4ca372ff_uniq"),
    UniqueConstraint("approval_workflow_definition_id", "sequence",
                     name="extras_approvalworkflows_approval_workflow_defini_83c5e3bf_uniq"),
)  # fmt: skip

extras_approvalworkflow = Table(
    "extras_approvalworkflow",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("object_under_review_object_id", Uuid(), nullable=False),
    Column("current_state", String(255), nullable=False),
    Column("decision_date", UtcDateTime(), nullable=True),
    Column("user_name", String(150), nullable=False),
    Column("approval_workflow_definition_id", Uuid(), _fk("extras_approvalworkflowdefinition.id"), nullable=True),
    Column("object_under_review_content_type_id", Integer, _fk("django_content_type.id"), nullable=False),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=True),
    UniqueConstraint("approval_workflow_definition_id", "object_under_review_content_type_id",
                     "object_under_review_object_id",
                     name="extras_approvalworkflow_approval_workflow_defini_1ab9fae5_uniq"),
)  # fmt: skip

extras_approvalworkflowstage = Table(
    "extras_approvalworkflowstage",
    metadata,
    _uuid_pk(),
    *_change_logged(),
    Column("_custom_field_data", JsonColumn, nullable=False),
    Column("state", String(255), nullable=False),
    Column("decision_date", UtcDateTime(), nullable=True),
    Column("approval_workflow_id", Uuid(), _fk("extras_approvalworkflow.id"), nullable=False),
    Column("approval_workflow_stage_definition_id", Uuid(), _fk("extras_approvalworkflowstagedefinition.id"),
           nullable=True),
    UniqueConstraint("approval_workflow_id", "approval_workflow_stage_definition_id",
                     name="extras_approvalworkflows_approval_workflow_id_app_42233e40_uniq"),
)  # fmt: skip

extras_approvaluserresponse = Table(
    "extras_approvaluserresponse",
    metadata,
    _uuid_pk(),
    Column("comments", String(255), nullable=False),
    Column("state", String(255), nullable=False),
    Column("approval_workflow_stage_id", Uuid(), _fk("extras_approvalworkflowstage.id"), nullable=False),
    Column("user_id", Uuid(), _fk("auth_user.id"), nullable=False),
    Column("last_updated", UtcDateTime(), nullable=True),
)
