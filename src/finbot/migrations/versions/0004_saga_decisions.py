"""Each payment saga names the approved decision it executes; one payment per decision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_sagas") as batch:
        batch.add_column(sa.Column("decision_id", sa.String(128)))
    op.create_index("uq_payment_sagas_decision", "payment_sagas", ["decision_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_payment_sagas_decision", table_name="payment_sagas")
    with op.batch_alter_table("payment_sagas") as batch:
        batch.drop_column("decision_id")
