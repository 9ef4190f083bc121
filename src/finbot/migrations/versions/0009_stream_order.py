"""Per-stream order: sequence numbers count an aggregate's events within each stream, and
consumer groups keep the last sequence they applied per aggregate.

A consumer of one stream sees every event of an aggregate in that stream, so with the
sequence counted per stream it can tell "the next one" from "one is missing" even when the
aggregate also has events in other streams.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("outbox_aggregates")
    op.create_table(
        "outbox_aggregates",
        sa.Column("stream", sa.String(32), primary_key=True),
        sa.Column("aggregate_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    # Carry on from the highest sequence each aggregate already has in each stream.
    op.execute("INSERT INTO outbox_aggregates (stream, aggregate_id, seq) "
               "SELECT stream, aggregate_id, MAX(aggregate_seq) FROM outbox "
               "GROUP BY stream, aggregate_id")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_aggregate_order", type_="unique")
        batch.create_unique_constraint("outbox_stream_order",
                                       ["stream", "aggregate_id", "aggregate_seq"])
    op.create_table(
        "aggregate_cursors",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("stream", sa.String(32), primary_key=True),
        sa.Column("aggregate_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aggregate_cursors")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("outbox_stream_order", type_="unique")
        batch.create_unique_constraint("outbox_aggregate_order",
                                       ["aggregate_id", "aggregate_seq"])
    op.drop_table("outbox_aggregates")
    op.create_table(
        "outbox_aggregates",
        sa.Column("aggregate_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.execute("INSERT INTO outbox_aggregates (aggregate_id, seq) "
               "SELECT aggregate_id, MAX(aggregate_seq) FROM outbox GROUP BY aggregate_id")
