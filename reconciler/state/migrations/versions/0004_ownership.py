"""nbjobs state: who owns what, as of the last apply (for Nautobot's UI and `nbjobs audit`).

nbjobs_managed_job: each job a manifest manages, with the winning entry's location and why.
nbjobs_managed_field: each field a manifest pins (or leaves to the UI under `ignore:`), with its location.
nbjobs_code_value: the class value nbjobs saw for each overridden field, so an upgrade that changes the
code's default under an override can be told apart afterwards.
An index on nbjobs_apply_change lets the planner find the newest value applied per field cheaply.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from reconciler.dbtypes import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nbjobs_managed_job",
        sa.Column("job_id", sa.Uuid(), primary_key=True),
        sa.Column("class_path", sa.String(201), nullable=False),
        sa.Column("management", sa.String(20), nullable=False),
        sa.Column("location", sa.String(400), nullable=True),
        sa.Column("why", sa.Text, nullable=True),
        sa.Column("apply_id", sa.Uuid(), sa.ForeignKey("nbjobs_apply.id"), nullable=True),
        sa.Column("revision", sa.String(100), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "nbjobs_managed_field",
        sa.Column("job_id", sa.Uuid(), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("class_path", sa.String(201), nullable=False),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("ignored", sa.Boolean, nullable=False),
        sa.Column("location", sa.String(400), nullable=True),
        sa.Column("why", sa.Text, nullable=True),
        sa.Column("apply_id", sa.Uuid(), sa.ForeignKey("nbjobs_apply.id"), nullable=True),
        sa.Column("revision", sa.String(100), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "nbjobs_code_value",
        sa.Column("class_path", sa.String(201), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("extras_level", sa.String(100), nullable=True),
        sa.Column("apply_id", sa.Uuid(), sa.ForeignKey("nbjobs_apply.id"), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
    )
    op.create_index("nbjobs_apply_change_object_field", "nbjobs_apply_change", ["object_type", "object_id", "field"])


def downgrade() -> None:
    op.drop_index("nbjobs_apply_change_object_field", "nbjobs_apply_change")
    op.drop_table("nbjobs_code_value")
    op.drop_table("nbjobs_managed_field")
    op.drop_table("nbjobs_managed_job")
