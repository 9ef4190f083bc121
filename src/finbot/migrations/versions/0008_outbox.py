"""The transactional outbox, per-aggregate sequence numbers, and consumers' bookkeeping.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # On PostgreSQL, ids are handed out before commit, so a reader that trusted id order
    # could pass a row whose transaction commits later; rows also carry their transaction
    # id, and readers only go past transactions older than every one still running.
    txid = sa.text("pg_current_xact_id()::text::bigint") if postgres else sa.text("0")
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("txid", sa.BigInteger, nullable=False, server_default=txid),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("stream", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("aggregate_id", sa.String(128), nullable=False),
        sa.Column("aggregate_seq", sa.BigInteger, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("occurred_at", sa.BigInteger, nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("relayed_at", sa.BigInteger),
        sa.UniqueConstraint("aggregate_id", "aggregate_seq", name="outbox_aggregate_order"),
    )
    op.create_index("ix_outbox_txid", "outbox", ["txid", "id"])
    op.create_index("ix_outbox_unrelayed", "outbox", ["relayed_at", "id"])
    op.create_table(
        "outbox_aggregates",
        sa.Column("aggregate_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "consumer_offsets",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("txid", sa.BigInteger, nullable=False),
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("processed_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("outbox_id", sa.BigInteger, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("dead_letters", "processed_events", "consumer_offsets", "outbox_aggregates",
                  "outbox"):
        op.drop_table(table)
