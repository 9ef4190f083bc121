"""PostgreSQL checks that a transfer's accounts exist and hold its currency once per
statement, not once per row.

The two composite foreign keys ``(debit_account_id, currency)`` and ``(credit_account_id,
currency)`` ran a referential check per transfer row at COMMIT: a look-up of the account
taking a ``FOR KEY SHARE`` lock on it, 2,000 queries for a batch of 1,000 transfers. They
were a quarter of a batch's time (12-15 ms of ~60 ms per 1,000 transfers). One
statement-level trigger now checks every inserted row with one join over the statement's
transition table, for INSERT and COPY alike.

The guarantee is the same. What a foreign key adds over a check at insert, the lock,
keeps the referenced row from being deleted or rekeyed while the referencing transaction
runs; ledger accounts can never be deleted, truncated or change their id or currency
(0001's triggers refuse it), so nothing is left for the lock to protect. An account
another transaction is still creating is not visible to the check, and the insert is
refused, as an immediate foreign key would refuse it. SQLite keeps its foreign keys: they
are a cheap probe there, in C, per row.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# One join for the statement's rows; both sides probe ledger_accounts' primary key.
_PG_ACCOUNTS_PER_STATEMENT = """
CREATE FUNCTION finbot_transfers_reference_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text; side text; account integer; currency text;
BEGIN
  SELECT n.id, CASE WHEN d.id IS NULL THEN 'debit' ELSE 'credit' END,
         CASE WHEN d.id IS NULL THEN n.debit_account_id ELSE n.credit_account_id END,
         n.currency
    INTO bad, side, account, currency
    FROM new_rows n
    LEFT JOIN ledger_accounts d ON d.id = n.debit_account_id AND d.currency = n.currency
    LEFT JOIN ledger_accounts c ON c.id = n.credit_account_id AND c.currency = n.currency
   WHERE d.id IS NULL OR c.id IS NULL
   LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger_transfers %: its % account % does not exist or does not hold %',
      bad, side, account, currency USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END $$
"""

_SIDES = ("debit", "credit")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite keeps its foreign keys
    op.execute(_PG_ACCOUNTS_PER_STATEMENT)
    op.execute("CREATE TRIGGER ledger_transfers_reference_accounts AFTER INSERT "
               "ON ledger_transfers REFERENCING NEW TABLE AS new_rows "
               "FOR EACH STATEMENT EXECUTE FUNCTION finbot_transfers_reference_accounts()")
    for side in _SIDES:
        op.execute(f"ALTER TABLE ledger_transfers DROP CONSTRAINT fk_ledger_transfers_{side}")


def downgrade() -> None:
    """Back to 0001's deferred composite foreign keys."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for side in _SIDES:
        op.execute(f"ALTER TABLE ledger_transfers ADD CONSTRAINT fk_ledger_transfers_{side} "
                   f"FOREIGN KEY ({side}_account_id, currency) "
                   "REFERENCES ledger_accounts (id, currency) DEFERRABLE INITIALLY DEFERRED")
    op.execute("DROP TRIGGER ledger_transfers_reference_accounts ON ledger_transfers")
    op.execute("DROP FUNCTION finbot_transfers_reference_accounts()")
