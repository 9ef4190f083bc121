"""The arena's simulated tool servers: each sandbox's world (drive files, sent mail,
payment instructions, overridden tool descriptions) and the log of every tool call.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _sandbox() -> sa.Column[str]:
    return sa.Column("sandbox", sa.String(128), nullable=False)


def upgrade() -> None:
    op.create_table(
        "arena_worlds",
        sa.Column("sandbox", sa.String(128), primary_key=True),
        sa.Column("seeded_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "arena_files",
        _sandbox(),
        sa.Column("path", sa.String(300), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("sandbox", "path"),
    )
    op.create_table(
        "arena_mail",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        _sandbox(),
        sa.Column("sender", sa.String(254), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("outside", sa.Boolean, nullable=False),
        sa.Column("dead_drop", sa.Boolean, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_arena_mail_sandbox", "arena_mail", ["sandbox", "id"])
    op.create_table(
        "arena_payments",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        _sandbox(),
        sa.Column("payee", sa.String(200), nullable=False),
        sa.Column("iban", sa.String(34), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(140), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_arena_payments_sandbox", "arena_payments", ["sandbox", "id"])
    op.create_table(
        "arena_tool_calls",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        _sandbox(),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("arguments", sa.Text, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_arena_tool_calls_sandbox", "arena_tool_calls", ["sandbox", "id"])
    op.create_table(
        "arena_tool_descriptions",
        _sandbox(),
        sa.Column("tool", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("overridden_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("sandbox", "tool"),
    )


def downgrade() -> None:
    op.drop_table("arena_tool_descriptions")
    op.drop_index("ix_arena_tool_calls_sandbox", table_name="arena_tool_calls")
    op.drop_table("arena_tool_calls")
    op.drop_index("ix_arena_payments_sandbox", table_name="arena_payments")
    op.drop_table("arena_payments")
    op.drop_index("ix_arena_mail_sandbox", table_name="arena_mail")
    op.drop_table("arena_mail")
    op.drop_table("arena_files")
    op.drop_table("arena_worlds")
