"""nbjobs state: a reconcile run's audit (with `audit = true`: the findings of `nbjobs audit`, as its JSON).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("nbjobs_run", sa.Column("audit", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("nbjobs_run", "audit")
