"""nbjobs state: installation identity, lock holder, apply history.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from reconciler.dbtypes import BigIdentity, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nbjobs_meta",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(400), nullable=False),
    )
    op.create_table(
        "nbjobs_lock",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("revision", sa.String(100), nullable=True),
        sa.Column("user_name", sa.String(150), nullable=True),
    )
    op.create_table(
        "nbjobs_apply",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("user_name", sa.String(150), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("revision", sa.String(100), nullable=True),
        sa.Column("plan_digest", sa.String(64), nullable=True),
        sa.Column("sources_digest", sa.String(64), nullable=True),
        sa.Column("database", sa.String(400), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
    )
    op.create_table(
        "nbjobs_apply_change",
        sa.Column("id", BigIdentity, primary_key=True, autoincrement=True),
        sa.Column("apply_id", sa.Uuid(), sa.ForeignKey("nbjobs_apply.id"), nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("object_type", sa.String(50), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("object_repr", sa.String(255), nullable=False),
        sa.Column("field", sa.String(100), nullable=True),
        sa.Column("before", sa.JSON, nullable=True),
        sa.Column("after", sa.JSON, nullable=True),
        sa.Column("verdict", sa.String(50), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("nbjobs_apply_change")
    op.drop_table("nbjobs_apply")
    op.drop_table("nbjobs_lock")
    op.drop_table("nbjobs_meta")
