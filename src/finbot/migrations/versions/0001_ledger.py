"""The ledger: accounts, append-only transfers, remembered rejections, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

RESOLVING = "kind IN ('post_pending','void_pending','expire_pending')"


def upgrade() -> None:
    _accounts()
    _transfers()
    op.create_table(
        "ledger_rejections",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("request", sa.JSON, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("response", sa.JSON),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("state IN ('in_progress','completed')", name="ck_idempotency_state"),
    )
    op.create_index("ix_idempotency_keys_expires", "idempotency_keys", ["expires_at"])
    if op.get_bind().dialect.name == "postgresql":
        _postgres_guards()
    else:
        _sqlite_guards()


def _accounts() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("code", sa.String(128), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("flags", sa.Integer, nullable=False, server_default="0"),
        *[sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
          for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted")],
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("id", "currency", name="uq_ledger_accounts_id_currency"),
        sa.CheckConstraint("type IN ('asset','liability','equity','income','expense')",
                           name="ck_ledger_accounts_type"),
        sa.CheckConstraint("debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0"
                           " AND credits_posted >= 0", name="ck_ledger_accounts_totals"),
    )


def _transfers() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
    op.create_table(
        "ledger_transfers",
        sa.Column("seq", big_id, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debit_account_id", sa.Integer, nullable=False),
        sa.Column("credit_account_id", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("debit_balance", sa.BigInteger, nullable=False),
        sa.Column("credit_balance", sa.BigInteger, nullable=False),
        sa.Column("parent_id", sa.String(128)),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("reference", sa.String(256)),
        sa.Column("meta", sa.JSON),
        *[sa.ForeignKeyConstraint([f"{side}_account_id", "currency"],
                                  ["ledger_accounts.id", "ledger_accounts.currency"],
                                  name=f"fk_ledger_transfers_{side}", deferrable=True,
                                  initially="DEFERRED") for side in ("debit", "credit")],
        sa.CheckConstraint("amount > 0", name="ck_ledger_transfers_amount_positive"),
        sa.CheckConstraint("debit_account_id <> credit_account_id",
                           name="ck_ledger_transfers_accounts_differ"),
        sa.CheckConstraint("kind IN ('posted','pending','post_pending','void_pending',"
                           "'expire_pending','reversal')", name="ck_ledger_transfers_kind"),
        sa.CheckConstraint("(parent_id IS NULL) = (kind IN ('posted','pending'))",
                           name="ck_ledger_transfers_parent"),
    )
    for side in ("debit", "credit"):
        op.create_index(f"ix_ledger_transfers_{side}_ts", "ledger_transfers",
                        [f"{side}_account_id", "ts", "seq"])
    op.create_index("ix_ledger_transfers_parent", "ledger_transfers", ["parent_id"],
                    sqlite_where=sa.text("parent_id IS NOT NULL"),
                    postgresql_where=sa.text("parent_id IS NOT NULL"))
    op.create_index("uq_ledger_transfers_resolution", "ledger_transfers", ["parent_id"],
                    unique=True, sqlite_where=sa.text(RESOLVING),
                    postgresql_where=sa.text(RESOLVING))
    op.create_index("ix_ledger_transfers_expiry", "ledger_transfers", ["expires_at"],
                    sqlite_where=sa.text("expires_at IS NOT NULL"),
                    postgresql_where=sa.text("expires_at IS NOT NULL"))


def _sqlite_guards() -> None:
    for table in ("ledger_transfers", "ledger_rejections"):
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {verb} refused'); END")
    op.execute("CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts "
               "BEGIN SELECT RAISE(ABORT, 'ledger_accounts: DELETE refused'); END")
    op.execute("CREATE TRIGGER ledger_accounts_fixed_identity "
               "BEFORE UPDATE OF id, code, type, currency ON ledger_accounts "
               "WHEN OLD.id IS NOT NEW.id OR OLD.code IS NOT NEW.code "
               "OR OLD.type IS NOT NEW.type OR OLD.currency IS NOT NEW.currency "
               "BEGIN SELECT RAISE(ABORT, 'ledger_accounts: identity is immutable'); END")


_PG_REFUSE = """
CREATE FUNCTION finbot_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
END $$
"""

_PG_ACCOUNT_IDENTITY = """
CREATE FUNCTION finbot_account_identity() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.id <> NEW.id OR OLD.code <> NEW.code OR OLD.type <> NEW.type
     OR OLD.currency <> NEW.currency THEN
    RAISE EXCEPTION 'ledger_accounts: identity is immutable'
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$
"""

# Balances change only in one UPDATE per batch, so each statement's deltas must net to zero.
_PG_ZERO_SUM = """
CREATE FUNCTION finbot_balances_sum_to_zero() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  SELECT n.currency INTO bad FROM new_rows n JOIN old_rows o ON o.id = n.id
  GROUP BY n.currency
  HAVING sum((n.debits_posted - o.debits_posted) - (n.credits_posted - o.credits_posted)) <> 0
      OR sum((n.debits_pending - o.debits_pending) - (n.credits_pending - o.credits_pending)) <> 0
  LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger balance changes do not sum to zero in %', bad
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END $$
"""

# At commit, each touched account's posted balance must equal what its latest transfer says.
_PG_BALANCE_MATCHES_HISTORY = """
CREATE FUNCTION finbot_balance_matches_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE last_balance bigint; last_seq bigint; c_balance bigint; c_seq bigint;
BEGIN
  SELECT debit_balance, seq INTO last_balance, last_seq FROM ledger_transfers
    WHERE debit_account_id = NEW.id ORDER BY ts DESC, seq DESC LIMIT 1;
  SELECT credit_balance, seq INTO c_balance, c_seq FROM ledger_transfers
    WHERE credit_account_id = NEW.id ORDER BY ts DESC, seq DESC LIMIT 1;
  IF c_seq IS NOT NULL AND (last_seq IS NULL OR c_seq > last_seq) THEN
    last_balance := c_balance;
  END IF;
  IF coalesce(last_balance, 0) <> NEW.debits_posted - NEW.credits_posted THEN
    RAISE EXCEPTION 'ledger_accounts %: posted balance % disagrees with its history (%)',
      NEW.code, NEW.debits_posted - NEW.credits_posted, coalesce(last_balance, 0)
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END $$
"""


def _postgres_guards() -> None:
    for ddl in (_PG_REFUSE, _PG_ACCOUNT_IDENTITY, _PG_ZERO_SUM, _PG_BALANCE_MATCHES_HISTORY):
        op.execute(ddl)
    for table in ("ledger_transfers", "ledger_rejections"):
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION finbot_refuse_change()")
    for table in ("ledger_transfers", "ledger_rejections", "ledger_accounts"):
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION finbot_refuse_change()")
    op.execute("CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts "
               "FOR EACH ROW EXECUTE FUNCTION finbot_refuse_change()")
    op.execute("CREATE TRIGGER ledger_accounts_fixed_identity BEFORE UPDATE ON ledger_accounts "
               "FOR EACH ROW EXECUTE FUNCTION finbot_account_identity()")
    op.execute("CREATE TRIGGER ledger_accounts_zero_sum AFTER UPDATE ON ledger_accounts "
               "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION finbot_balances_sum_to_zero()")
    op.execute("CREATE CONSTRAINT TRIGGER ledger_accounts_match_history "
               "AFTER UPDATE ON ledger_accounts DEFERRABLE INITIALLY DEFERRED "
               "FOR EACH ROW EXECUTE FUNCTION finbot_balance_matches_history()")


def downgrade() -> None:
    raise NotImplementedError("the ledger is append-only; restore from a backup instead")
