"""Vendors' bank and tax details encrypted at rest: a wrapped data key per vendor
(``vendor_keys``), the sealed fields widened to text, blind indexes for the lookups, and
every existing vendor's details sealed in place (in batches).

The key ring is the one ``migrate`` hands in (``bootstrap`` passes the deployment's), or,
when Alembic runs on its own, the one the FINBOT_KEK* settings describe.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from finbot.privacy.keys import DataKey, KeyRing

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

SEALED = ("tax_id", "iban", "bic", "routing_number", "account_number")
INDEXES = ("tax_id_index", "iban_index", "account_index")
BATCH = 500


def upgrade() -> None:
    op.create_table(
        "vendor_keys",
        sa.Column("vendor_id", sa.String(64), primary_key=True),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=False),
        sa.Column("wrapped_key", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("rotated_at", sa.BigInteger),
        sa.Column("destroyed_at", sa.BigInteger),
    )
    op.create_index("ix_vendor_keys_kek", "vendor_keys", ["kek_version"])
    if op.get_bind().dialect.name == "postgresql":  # SQLite never enforced the lengths
        for name in SEALED:
            op.alter_column("vendors", name, type_=sa.Text, existing_nullable=False)
    for name in INDEXES:
        op.add_column("vendors", sa.Column(name, sa.String(64)))
        op.create_index(f"ix_vendors_{name}", "vendors", [name])
    _seal_existing(op.get_bind())


def downgrade() -> None:
    _open_all(op.get_bind())
    with op.batch_alter_table("vendors") as batch:
        for name in INDEXES:
            batch.drop_index(f"ix_vendors_{name}")
            batch.drop_column(name)
    op.drop_index("ix_vendor_keys_kek", table_name="vendor_keys")
    op.drop_table("vendor_keys")


def _ring() -> KeyRing:
    ring = context.config.attributes.get("keys")
    if ring is None:
        from finbot.bootstrap import key_ring
        from finbot.config import Settings

        ring = key_ring(Settings())
    assert isinstance(ring, KeyRing)
    return ring


def _seal_existing(conn: sa.Connection) -> None:
    """Seal every vendor that has no data key yet, BATCH at a time."""
    ring: KeyRing | None = None
    unsealed = sa.text(
        f"SELECT v.vendor_id, v.created_at, {', '.join(f'v.{n}' for n in SEALED)} "
        "FROM vendors v LEFT JOIN vendor_keys k ON k.vendor_id = v.vendor_id "
        "WHERE k.vendor_id IS NULL ORDER BY v.vendor_id LIMIT :batch")
    while rows := conn.execute(unsealed, {"batch": BATCH}).mappings().all():
        ring = ring or _ring()
        for row in rows:
            _seal(conn, ring, row)


def _seal(conn: sa.Connection, ring: KeyRing, row: sa.RowMapping) -> None:
    vendor_id = row["vendor_id"]
    key = DataKey.new(vendor_id)
    assert key.key is not None
    kek_version, wrapped = ring.wrap(vendor_id, key.key)
    conn.execute(sa.text(
        "INSERT INTO vendor_keys (vendor_id, key_version, kek_version, wrapped_key, "
        "created_at) VALUES (:vendor_id, :key_version, :kek_version, :wrapped, :at)"),
        {"vendor_id": vendor_id, "key_version": key.version, "kek_version": kek_version,
         "wrapped": wrapped, "at": row["created_at"]})
    account = (f"{row['routing_number']}/{row['account_number']}"
               if row["account_number"].strip() else "")
    values: dict[str, str | None] = {name: key.seal(name, row[name]) for name in SEALED}
    values.update(tax_id_index=ring.blind_index("tax_id_index", row["tax_id"]),
                  iban_index=ring.blind_index("iban_index", row["iban"]),
                  account_index=ring.blind_index("account_index", account))
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    conn.execute(sa.text(f"UPDATE vendors SET {assignments} WHERE vendor_id = :vendor_id"),
                 {**values, "vendor_id": vendor_id})


def _open_all(conn: sa.Connection) -> None:
    """Put the plaintext back (an erased vendor's details as empty text)."""
    rows = conn.execute(sa.text(
        f"SELECT v.vendor_id, k.key_version, k.kek_version, k.wrapped_key, "
        f"{', '.join(f'v.{n}' for n in SEALED)} FROM vendors v "
        "JOIN vendor_keys k ON k.vendor_id = v.vendor_id")).mappings().all()
    ring = _ring() if rows else None
    for row in rows:
        assert ring is not None
        wrapped = row["wrapped_key"]
        key = DataKey(row["vendor_id"], row["key_version"], None if wrapped is None else
                      ring.unwrap(row["vendor_id"], row["kek_version"], wrapped))
        values = {name: "" if key.key is None else key.open(name, row[name])
                  for name in SEALED}
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        conn.execute(sa.text(f"UPDATE vendors SET {assignments} WHERE vendor_id = :vendor_id"),
                     {**values, "vendor_id": row["vendor_id"]})
