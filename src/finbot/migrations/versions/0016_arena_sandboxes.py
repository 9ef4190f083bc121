"""Arena sandboxes: one per player, its mode and its generation (a reset starts a new
one; nothing of the old one is deleted).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arena_sandboxes",
        sa.Column("player_id", sa.String(64), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("reset_at", sa.BigInteger),
        sa.CheckConstraint("mode IN ('governed','training')", name="ck_arena_sandbox_mode"),
    )


def downgrade() -> None:
    op.drop_table("arena_sandboxes")
