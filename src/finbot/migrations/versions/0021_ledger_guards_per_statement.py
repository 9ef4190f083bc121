"""PostgreSQL checks that balances match history once per UPDATE, not once per row.

The guard is the same; what it costs falls. Before, a constraint trigger deferred to
COMMIT ran a PL/pgSQL function per updated account, each with two index look-ups, so a
batch of 1,000 transfers touching ~1,000 accounts made ~1,000 calls. Now one
statement-level trigger checks every updated account with one set-based query over the
statement's transition table. The identity check becomes its row trigger's WHEN
condition: evaluated without a PL/pgSQL call, its function runs only to refuse a change.

The history check now runs at the end of the UPDATE, not at COMMIT. The ledger inserts a
batch's transfers before it updates the balances, in the same transaction, so the latest
transfers are visible to the check. A balance change with no transfer behind it is
refused either way. The zero-sum statement trigger is unchanged.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_IDENTITY_CHANGED = ("OLD.id <> NEW.id OR OLD.code <> NEW.code OR OLD.type <> NEW.type "
                     "OR OLD.currency <> NEW.currency")

# Reads only the statement's rows; the look-ups walk the (account, ts, seq) indexes
# backwards, one row each side.
_PG_HISTORY_PER_STATEMENT = """
CREATE FUNCTION finbot_balances_match_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text; posted bigint; history bigint;
BEGIN
  SELECT n.code, n.debits_posted - n.credits_posted,
         coalesce(CASE WHEN d.seq IS NULL OR c.seq > d.seq THEN c.balance ELSE d.balance END, 0)
    INTO bad, posted, history
    FROM new_rows n
    LEFT JOIN LATERAL (SELECT debit_balance AS balance, seq FROM ledger_transfers
                       WHERE debit_account_id = n.id ORDER BY ts DESC, seq DESC LIMIT 1) d
      ON true
    LEFT JOIN LATERAL (SELECT credit_balance AS balance, seq FROM ledger_transfers
                       WHERE credit_account_id = n.id ORDER BY ts DESC, seq DESC LIMIT 1) c
      ON true
   WHERE n.debits_posted - n.credits_posted <> coalesce(
           CASE WHEN d.seq IS NULL OR c.seq > d.seq THEN c.balance ELSE d.balance END, 0)
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger_accounts %: posted balance % disagrees with its history (%)',
      bad, posted, history USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's guards are unchanged
    for statement in (
            "DROP TRIGGER ledger_accounts_match_history ON ledger_accounts",
            "DROP TRIGGER ledger_accounts_fixed_identity ON ledger_accounts",
            "DROP FUNCTION finbot_balance_matches_history()",
            _PG_HISTORY_PER_STATEMENT,
            "CREATE TRIGGER ledger_accounts_fixed_identity BEFORE UPDATE ON ledger_accounts "
            f"FOR EACH ROW WHEN ({_IDENTITY_CHANGED}) "
            "EXECUTE FUNCTION finbot_account_identity()",
            "CREATE TRIGGER ledger_accounts_match_history AFTER UPDATE ON ledger_accounts "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION finbot_balances_match_history()"):
        op.execute(statement)


def downgrade() -> None:
    """Back to 0001's per-row identity and history checks."""
    if op.get_bind().dialect.name != "postgresql":
        return
    first = importlib.import_module("finbot.migrations.versions.0001_ledger")
    for statement in (
            "DROP TRIGGER ledger_accounts_match_history ON ledger_accounts",
            "DROP TRIGGER ledger_accounts_fixed_identity ON ledger_accounts",
            "DROP FUNCTION finbot_balances_match_history()",
            first._PG_BALANCE_MATCHES_HISTORY,
            "CREATE TRIGGER ledger_accounts_fixed_identity BEFORE UPDATE ON ledger_accounts "
            "FOR EACH ROW EXECUTE FUNCTION finbot_account_identity()",
            "CREATE CONSTRAINT TRIGGER ledger_accounts_match_history "
            "AFTER UPDATE ON ledger_accounts DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION finbot_balance_matches_history()"):
        op.execute(statement)
