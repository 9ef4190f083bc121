"""The ledger's SQL and row codecs: statement texts and tuple <-> value conversions.

Kept apart from the repository so the repository reads as the order of operations.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import RowMapping

from finbot.domain.ledger import (
    Account,
    AccountFlag,
    AccountType,
    Balances,
    Transfer,
    TransferKind,
)

CHUNK = 5000
SHORT_LIST = 16
# Transfers and remembered rejections with these ids, in one statement (one execute
# less per batch); rejection rows put their code in ``kind`` and request in ``meta``.
HISTORY_BY_ID = (
    "SELECT 't', seq, id, kind, debit_account_id, credit_account_id, amount, currency, ts, "
    "debit_balance, credit_balance, parent_id, expires_at, reference, meta "
    "FROM ledger_transfers WHERE {where} UNION ALL "
    "SELECT 'r', NULL, id, code, NULL, NULL, NULL, NULL, ts, NULL, NULL, NULL, NULL, NULL, "
    "request FROM ledger_rejections WHERE {where}")
FEW_ROWS = 3
INSERT_HEAD = ("INSERT INTO ledger_transfers (id, kind, debit_account_id, credit_account_id, "
                "amount, currency, ts, debit_balance, credit_balance, parent_id, expires_at, "
                "reference, meta)")
INSERT_SQLITE = f"{INSERT_HEAD} VALUES ({', '.join(['?'] * 13)})"
UPDATE_SQLITE = ("UPDATE ledger_accounts SET debits_pending = ?, debits_posted = ?, "
                 "credits_pending = ?, credits_posted = ?, updated_at = ? WHERE id = ?")
# From this many transfers on, PostgreSQL takes them by COPY: half the time of the JSON
# document at 1,000 rows, but two round trips of its own, which the JSON rides along with
# the COMMIT (measured crossover: 50-100 rows). Binary: the server parses no text, ~1.3 ms
# less per 1,000 rows than COPY's text format.
COPY_ROWS = 100
COPY_TRANSFERS = ("COPY ledger_transfers (id, kind, debit_account_id, credit_account_id, "
                  "amount, currency, ts, debit_balance, credit_balance, parent_id, expires_at, "
                  "reference, meta) FROM STDIN (FORMAT BINARY)")
COPY_TYPES = ("text", "text", "int4", "int4", "int8", "text", "int8", "int8", "int8", "text",
              "int8", "text", "json")
# Mid-sized batches travel as one JSON document: psycopg adapts one string in C, while it
# re-parses long statements and adapts lists in Python on every call.
INSERT_JSON = (
    f"{INSERT_HEAD} SELECT id, kind, debit_account_id, credit_account_id, amount, currency, "
    "ts, debit_balance, credit_balance, parent_id, expires_at, reference, meta "
    "FROM json_to_recordset(%s::json) AS t(id text, kind text, debit_account_id int, "
    "credit_account_id int, amount bigint, currency text, ts bigint, debit_balance bigint, "
    "credit_balance bigint, parent_id text, expires_at bigint, reference text, meta json)")
UPDATE_JSON = (
    "UPDATE ledger_accounts SET debits_pending = (v->>1)::bigint, "
    "debits_posted = (v->>2)::bigint, credits_pending = (v->>3)::bigint, "
    "credits_posted = (v->>4)::bigint, updated_at = %s "
    "FROM json_array_elements(%s::json) AS v WHERE ledger_accounts.id = (v->>0)::int")
ACCOUNT_COLUMNS = ("id, code, name, type, currency, flags, debits_pending, debits_posted, "
                    "credits_pending, credits_posted, created_at, updated_at")
TRANSFER_COLUMNS = ("seq, id, kind, debit_account_id, credit_account_id, amount, currency, "
                     "ts, debit_balance, credit_balance, parent_id, expires_at, reference, meta")


def account_from_row(row: RowMapping) -> Account:
    return Account(
        id=row["id"], code=row["code"], name=row["name"], type=AccountType(row["type"]),
        currency=row["currency"], flags=AccountFlag(row["flags"]),
        balances=Balances(row["debits_pending"], row["debits_posted"],
                          row["credits_pending"], row["credits_posted"]),
        created_at=row["created_at"])


# Enum construction is slow next to a dict lookup, and batches decode thousands of rows.
_TYPES = {t.value: t for t in AccountType}
_FLAGS = {int(f): AccountFlag(f) for f in range(4)}
_KINDS = {k.value: k for k in TransferKind}


def account_from_tuple(r: Sequence[Any]) -> Account:
    return Account(r[0], r[1], r[2], _TYPES[r[3]], r[4], _FLAGS[r[5]],
                   Balances(r[6], r[7], r[8], r[9]), r[10])


def transfer_from_tuple(r: Sequence[Any]) -> Transfer:
    meta = json.loads(r[13]) if isinstance(r[13], str) else r[13]
    return Transfer(id=r[1], kind=_KINDS[r[2]], debit_account_id=r[3],
                    credit_account_id=r[4], amount=r[5], currency=r[6], timestamp=r[7],
                    debit_balance=r[8], credit_balance=r[9], parent_id=r[10], expires_at=r[11],
                    reference=r[12], metadata=meta, seq=r[0])


def transfer_from_row(row: RowMapping) -> Transfer:
    return Transfer(
        id=row["id"], kind=TransferKind(row["kind"]), debit_account_id=row["debit_account_id"],
        credit_account_id=row["credit_account_id"], amount=row["amount"],
        currency=row["currency"], timestamp=row["ts"], debit_balance=row["debit_balance"],
        credit_balance=row["credit_balance"], parent_id=row["parent_id"],
        expires_at=row["expires_at"], reference=row["reference"], metadata=row["meta"],
        seq=row["seq"])


def chunks(items: Collection[Any]) -> list[list[Any]]:
    """``items`` in lists of at most CHUNK (none for no items)."""
    ordered = list(items)
    if len(ordered) <= CHUNK:  # the usual case, without slicing
        return [ordered] if ordered else []
    return [ordered[start:start + CHUNK] for start in range(0, len(ordered), CHUNK)]


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def paired_chunks(codes: Collection[str], ids: Collection[int]) -> list[
        tuple[list[str], list[int]]]:
    """Codes and ids side by side in chunks (at least one pair, maybe empty)."""
    if len(codes) <= CHUNK and len(ids) <= CHUNK:
        return [(list(codes), list(ids))]
    code_chunks, id_chunks = chunks(codes), chunks(ids)
    return [(code_chunks[i] if i < len(code_chunks) else [],
             id_chunks[i] if i < len(id_chunks) else [])
            for i in range(max(len(code_chunks), len(id_chunks)))]


def transfer_row(t: Transfer) -> dict[str, Any]:
    return {"id": t.id, "kind": t.kind.value, "debit_account_id": t.debit_account_id,
            "credit_account_id": t.credit_account_id, "amount": t.amount,
            "currency": t.currency, "ts": t.timestamp, "debit_balance": t.debit_balance,
            "credit_balance": t.credit_balance, "parent_id": t.parent_id,
            "expires_at": t.expires_at, "reference": t.reference,
            "meta": dict(t.metadata) if t.metadata else None}


def transfer_copy_row(t: Transfer) -> tuple[Any, ...]:
    """A transfer's columns in INSERT_HEAD's order, the metadata a mapping (for COPY's
    json adapter)."""
    return (t.id, t.kind.value, t.debit_account_id, t.credit_account_id, t.amount, t.currency,
            t.timestamp, t.debit_balance, t.credit_balance, t.parent_id, t.expires_at,
            t.reference, dict(t.metadata) if t.metadata else None)


def transfer_params(t: Transfer) -> tuple[Any, ...]:
    """``transfer_copy_row`` with the metadata as JSON text, for statement parameters."""
    row = transfer_copy_row(t)
    return row if row[-1] is None else (*row[:-1], json.dumps(row[-1]))
