"""What the arena's watch found in the event stream: one row per event and detector (a
redelivered event stores nothing twice), with a money violation's trail.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arena_findings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.String(200), nullable=False),
        sa.Column("detector", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("trail", sa.JSON, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("event_id", "detector", name="arena_findings_once_per_event"),
    )
    op.create_index("ix_arena_findings_tenant", "arena_findings", ["tenant", "at_us", "id"])


def downgrade() -> None:
    op.drop_index("ix_arena_findings_tenant", table_name="arena_findings")
    op.drop_table("arena_findings")
