"""Bursts of money requests: a user of a vendor sending more money requests (invoice
submissions, bank-detail changes, review verdicts) in a short window than people do, a
fraud signal the fraud agent reads beside the vendor's invoice velocity.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "money_bursts",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("vendor_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("window_s", sa.Integer, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_money_bursts_vendor", "money_bursts", ["vendor_id", "at_us"])


def downgrade() -> None:
    op.drop_index("ix_money_bursts_vendor", table_name="money_bursts")
    op.drop_table("money_bursts")
