"""nbjobs state: the reconcile loop's runs (one row per tick that planned; idle ticks bump its heartbeat).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from reconciler.dbtypes import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nbjobs_run",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=False),
        sa.Column("last_checked_at", UtcDateTime(), nullable=False),
        sa.Column("idle_ticks", sa.Integer, nullable=False),
        sa.Column("duration_seconds", sa.Float, nullable=False),
        sa.Column("interval_seconds", sa.Float, nullable=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("revision", sa.String(64), nullable=True),
        sa.Column("policy", sa.String(20), nullable=False),
        sa.Column("prune", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("observed", sa.String(20), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("rows_fingerprint", sa.String(64), nullable=True),
        sa.Column("code_fingerprint", sa.String(64), nullable=True),
        sa.Column("permanent_error", sa.Boolean, nullable=False),
        sa.Column("drift", sa.JSON, nullable=False),
        sa.Column("pending", sa.JSON, nullable=False),
        sa.Column("errors", sa.JSON, nullable=False),
        sa.Column("preflight", sa.JSON, nullable=True),
        sa.Column("apply_id", sa.Uuid(), sa.ForeignKey("nbjobs_apply.id"), nullable=True),
    )
    op.create_index("nbjobs_run_target_started", "nbjobs_run", ["target", "started_at"])


def downgrade() -> None:
    op.drop_index("nbjobs_run_target_started", "nbjobs_run")
    op.drop_table("nbjobs_run")
