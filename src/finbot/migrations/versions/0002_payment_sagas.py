"""Payment sagas, their append-only step log, and the simulated rail's memory.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_sagas",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("payee_account", sa.String(128), nullable=False),
        sa.Column("source_account", sa.String(128), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rail_reference", sa.String(128)),
        sa.Column("error", sa.String(512)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("amount > 0", name="ck_payment_sagas_amount_positive"),
    )
    op.create_index("ix_payment_sagas_state", "payment_sagas", ["state"])
    op.create_table(
        "payment_saga_steps",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("saga_id", sa.String(128), nullable=False),
        sa.Column("step", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.JSON),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_payment_saga_steps_saga", "payment_saga_steps", ["saga_id", "seq"])
    op.create_table(
        "rail_sim_payments",
        sa.Column("key", sa.String(160), primary_key=True),
        sa.Column("payee", sa.String(128), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(256)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER payment_saga_steps_append_only BEFORE UPDATE OR DELETE "
                   "ON payment_saga_steps FOR EACH ROW EXECUTE FUNCTION finbot_refuse_change()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER payment_saga_steps_no_{verb.lower()} BEFORE {verb} "
                       "ON payment_saga_steps BEGIN SELECT RAISE(ABORT, "
                       f"'payment_saga_steps is append-only: {verb} refused'); END")


def downgrade() -> None:
    raise NotImplementedError("payment history is append-only; restore from a backup instead")
