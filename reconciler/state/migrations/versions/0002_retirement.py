"""nbjobs state: tombstones of retired jobs and the results captured for purging.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from reconciler.dbtypes import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nbjobs_tombstone",
        sa.Column("class_path", sa.String(201), primary_key=True),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("job_name", sa.String(100), nullable=False),
        sa.Column("retired_at", UtcDateTime(), nullable=False),
        sa.Column("revision", sa.String(100), nullable=True),
        sa.Column("apply_id", sa.Uuid(), nullable=True),
    )
    op.create_table(
        "nbjobs_retired_result",
        sa.Column("result_id", sa.Uuid(), primary_key=True),
        sa.Column("class_path", sa.String(201), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("nbjobs_retired_result")
    op.drop_table("nbjobs_tombstone")
