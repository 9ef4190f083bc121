"""The relay finds unrelayed rows through a partial index holding only them.

An index on ``(relayed_at, id)`` keeps an entry for every row ever relayed; the relay's
``relayed_at IS NULL`` scan then wades through them (and their dead versions). A partial
index on ``id WHERE relayed_at IS NULL`` holds only the rows still waiting.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_unrelayed", table_name="outbox")
    op.create_index("ix_outbox_waiting", "outbox", ["id"],
                    postgresql_where=sa.text("relayed_at IS NULL"),
                    sqlite_where=sa.text("relayed_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_outbox_waiting", table_name="outbox")
    op.create_index("ix_outbox_unrelayed", "outbox", ["relayed_at", "id"])
