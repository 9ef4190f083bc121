"""Rows waiting for the relay are listed in a narrow table of their own, not flagged in the
outbox.

Marking a row relayed used to update ``outbox.relayed_at``: a new copy of the whole row
(payload included) and an entry in each of its four indexes, because the partial index the
relay reads through names that column. ``outbox_waiting`` holds just the ids still to be
relayed: a trigger adds each new outbox row's id in the row's own transaction, the relay
deletes the ids it has published (no index is written), and reads the oldest ids through
the table's primary key. A second trigger takes the id out when retention deletes an outbox
row that was never relayed (the embedded default has no relay).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_PG_TRIGGERS = (
    "CREATE FUNCTION finbot_outbox_waits() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN INSERT INTO outbox_waiting (id) VALUES (NEW.id); RETURN NULL; END $$",
    "CREATE FUNCTION finbot_outbox_gone() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN DELETE FROM outbox_waiting WHERE id = OLD.id; RETURN NULL; END $$",
    "CREATE TRIGGER outbox_waits AFTER INSERT ON outbox "
    "FOR EACH ROW EXECUTE FUNCTION finbot_outbox_waits()",
    "CREATE TRIGGER outbox_gone AFTER DELETE ON outbox "
    "FOR EACH ROW EXECUTE FUNCTION finbot_outbox_gone()",
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER outbox_waits AFTER INSERT ON outbox "
    "BEGIN INSERT INTO outbox_waiting (id) VALUES (NEW.id); END",
    "CREATE TRIGGER outbox_gone AFTER DELETE ON outbox "
    "BEGIN DELETE FROM outbox_waiting WHERE id = OLD.id; END",
)


def upgrade() -> None:
    op.create_table("outbox_waiting", sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
        autoincrement=False))
    op.execute("INSERT INTO outbox_waiting (id) SELECT id FROM outbox "
               "WHERE relayed_at IS NULL")
    op.drop_index("ix_outbox_waiting", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("relayed_at")
    _create_triggers()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in ("DROP TRIGGER outbox_waits ON outbox",
                          "DROP TRIGGER outbox_gone ON outbox",
                          "DROP FUNCTION finbot_outbox_waits()",
                          "DROP FUNCTION finbot_outbox_gone()"):
            op.execute(statement)
    else:
        op.execute("DROP TRIGGER outbox_waits")
        op.execute("DROP TRIGGER outbox_gone")
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("relayed_at", sa.BigInteger))
    op.execute("UPDATE outbox SET relayed_at = 0 "
               "WHERE id NOT IN (SELECT id FROM outbox_waiting)")
    op.create_index("ix_outbox_waiting", "outbox", ["id"],
                    postgresql_where=sa.text("relayed_at IS NULL"),
                    sqlite_where=sa.text("relayed_at IS NULL"))
    op.drop_table("outbox_waiting")


def _create_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _PG_TRIGGERS if postgres else _SQLITE_TRIGGERS:
        op.execute(statement)
