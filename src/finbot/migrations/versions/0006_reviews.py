"""Human review: the queue of escalations, the append-only reviews, vendor membership.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_queue",
        sa.Column("decision_id", sa.String(128), primary_key=True),
        sa.Column("vendor_id", sa.String(128), nullable=False),
        sa.Column("amount", sa.String(40), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("required_approvals", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("approvals", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("resolved_at", sa.BigInteger),
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("required_approvals IN (1, 2)", name="review_queue_approvals"),
    )
    op.create_index("ix_review_queue_open", "review_queue", ["status", "priority", "due_at"])
    op.create_table(
        "reviews",
        sa.Column("review_id", sa.String(128), primary_key=True),
        sa.Column("decision_id", sa.String(128), sa.ForeignKey("review_queue.decision_id"),
                  nullable=False),
        sa.Column("reviewer_id", sa.String(128), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        # Four eyes, enforced by the database too: one review per reviewer per decision.
        sa.UniqueConstraint("decision_id", "reviewer_id", name="reviews_one_per_reviewer"),
        sa.CheckConstraint("verdict IN ('APPROVE', 'REJECT')", name="reviews_verdict"),
    )
    op.create_table(
        "vendor_members",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("vendor_id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER reviews_append_only BEFORE UPDATE OR DELETE ON reviews "
                   "FOR EACH ROW EXECUTE FUNCTION finbot_refuse_change()")
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(f"CREATE TRIGGER reviews_no_{verb.lower()} BEFORE {verb} ON reviews "
                   f"BEGIN SELECT RAISE(ABORT, 'reviews are append-only: {verb} refused'); END")


def downgrade() -> None:
    raise NotImplementedError("reviews are append-only; restore from a backup instead")
