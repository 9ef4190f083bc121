"""Versioned policies: a new version for every change, never an edit.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policies",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False, unique=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER policies_append_only BEFORE UPDATE OR DELETE ON policies "
                   "FOR EACH ROW EXECUTE FUNCTION finbot_refuse_change()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER policies_no_{verb.lower()} BEFORE {verb} ON policies "
                   f"BEGIN SELECT RAISE(ABORT, 'policies are append-only: {verb} refused'); END")


def downgrade() -> None:
    raise NotImplementedError("policy history is append-only; restore from a backup instead")
