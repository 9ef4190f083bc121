"""Arena plays: a player's attempt at a challenge, its opened hints, the two facts it is
judged by (agent manipulated, money moved against policy), a defence's best guardrail
and its solve.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "arena_plays",
        sa.Column("player_id", sa.String(64), primary_key=True),
        sa.Column("challenge_id", sa.String(64), primary_key=True),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("hints_opened", sa.Integer, nullable=False),
        sa.Column("manipulated", sa.JSON),
        sa.Column("money", sa.JSON),
        sa.Column("solved_at", sa.BigInteger),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("first_blood", sa.Boolean, nullable=False),
        sa.Column("defence", sa.JSON),
    )
    op.create_index("ix_arena_plays_solved", "arena_plays", ["challenge_id", "solved_at"])


def downgrade() -> None:
    op.drop_index("ix_arena_plays_solved", table_name="arena_plays")
    op.drop_table("arena_plays")
