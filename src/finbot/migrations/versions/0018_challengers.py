"""Challengers: another agent version, model or fraud model run beside an agent's champion
(its state, canary share and promotion bar), the sign-offs of its promotion, and the pairs
of decisions (champion's and challenger's on the same step) its agreement is measured on.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "challengers",
        sa.Column("challenger_id", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_version", sa.String(64)),
        sa.Column("prompt", sa.Text),
        sa.Column("model_name", sa.String(200)),
        sa.Column("fraud_version", sa.String(64)),
        sa.Column("canary_share", sa.String(16), nullable=False),
        sa.Column("min_agreement", sa.String(16), nullable=False),
        sa.Column("min_count", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.CheckConstraint("state IN ('shadow','canary','promoted','retired')",
                           name="ck_challengers_state"),
    )
    op.create_index("ix_challengers_agent", "challengers", ["agent_id", "state"])
    op.create_table(
        "challenger_sign_offs",
        sa.Column("challenger_id", sa.String(64), primary_key=True),
        sa.Column("signer", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.CheckConstraint("role IN ('risk','compliance','engineering')",
                           name="ck_challenger_sign_offs_role"),
    )
    op.create_table(
        "challenger_pairs",
        sa.Column("challenger_id", sa.String(64), primary_key=True),
        sa.Column("step_decision_id", sa.String(200), primary_key=True),
        sa.Column("champion_decision_id", sa.String(240), nullable=False),
        sa.Column("challenger_decision_id", sa.String(240), nullable=False),
        sa.Column("routed", sa.String(16), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_challenger_pairs_at", "challenger_pairs", ["challenger_id", "at_us"])


def downgrade() -> None:
    op.drop_index("ix_challenger_pairs_at", table_name="challenger_pairs")
    op.drop_table("challenger_pairs")
    op.drop_table("challenger_sign_offs")
    op.drop_index("ix_challengers_agent", table_name="challengers")
    op.drop_table("challengers")
