"""Vendors, their purchase orders, notes and messages in SQL.

Amounts are stored in minor units and read back as Decimal in the record's currency;
documents are a JSON list of document kinds. Every read that can be scoped takes the
vendor id, so a caller holding one vendor's id never reads another's rows. Bank and tax
details are sealed here, under the vendor's own data key (see ``sealed_vendors``): the
rest of the code sees plaintext, the database only ciphertext and blind indexes.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from finbot.adapters.db.sealed_vendors import KEYED_VENDORS, VendorSealer
from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import (
    messages,
    money_bursts,
    purchase_orders,
    vendor_notes,
    vendors,
)
from finbot.domain.invoices import PurchaseOrder
from finbot.domain.money import Currency, Money
from finbot.domain.vendors import SEALED_FIELDS, Author, Message, Note, Vendor, VendorStatus
from finbot.privacy.keys import KeyRing

_GET = Sql("SELECT v.*, k.key_version AS key_version, k.kek_version AS kek_version, "
           "k.wrapped_key AS wrapped_key FROM vendors v LEFT JOIN vendor_keys k "
           "ON k.vendor_id = v.vendor_id WHERE v.vendor_id = :vendor_id")
_PO = Sql("SELECT * FROM purchase_orders WHERE po_number = :po_number")
_NOTES = Sql("SELECT * FROM vendor_notes WHERE vendor_id = :vendor_id ORDER BY id DESC "
             "LIMIT :limit")
_BURSTS = Sql("SELECT COUNT(*) FROM money_bursts WHERE vendor_id = :vendor_id "
              "AND at_us >= :since_us AND at_us <= :until_us")
_PLAIN_FIELDS = ("vendor_id", "tenant", "legal_name", "country", "industry", "website",
                 "profile", "timezone")


class SqlVendorRepo:
    def __init__(self, connection: Connection, keys: KeyRing | None = None) -> None:
        """``keys``: the KEKs that wrap vendors' data keys (without them, reading or
        writing a vendor's sealed details is a ConfigurationError)."""
        self.conn = connection
        self.sealer = VendorSealer(connection, keys)

    def add(self, vendor: Vendor) -> None:
        key = self.sealer.new_key(vendor.vendor_id, now_us=vendor.created_at_us)
        sealed = self.sealer.sealed(key, {name: getattr(vendor, name)
                                          for name in SEALED_FIELDS})
        self.conn.execute(insert(vendors).values(
            **{name: getattr(vendor, name) for name in _PLAIN_FIELDS}, **sealed,
            documents=json.dumps(list(vendor.documents)), status=vendor.status.value,
            created_at=vendor.created_at_us, bank_changed_at=vendor.bank_changed_at_us))

    def get(self, vendor_id: str) -> Vendor | None:
        row = _GET.record(self.conn, vendor_id=vendor_id)
        return self._vendor(row) if row else None

    def set_status(self, vendor_id: str, status: VendorStatus) -> None:
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id)
                          .values(status=status.value))

    def change_bank(self, vendor_id: str, *, iban: str, bic: str, routing_number: str,
                    account_number: str, now_us: int) -> None:
        """New bank details sealed under the vendor's data key (Conflict once erased)."""
        key = self.sealer.locked_key(vendor_id)
        bank = {"iban": iban, "bic": bic, "routing_number": routing_number,
                "account_number": account_number}
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id).values(
            **self.sealer.sealed(key, bank), bank_changed_at=now_us))

    def erase(self, vendor_id: str, *, now_us: int) -> bool:
        """Destroy the vendor's data key (its sealed details read as ERASED from now on)
        and its blind indexes, and delete the free text kept about it (its conversations
        and the notes on it, where a person may have written anything); False if it was
        already erased or has no key."""
        if not self.sealer.destroy(vendor_id, now_us=now_us):
            return False
        self.conn.execute(messages.delete().where(messages.c.vendor_id == vendor_id))
        self.conn.execute(vendor_notes.delete().where(vendor_notes.c.vendor_id == vendor_id))
        return True

    def sharing_bank_details(self, vendor: Vendor) -> list[str]:
        """The other vendors of ``vendor``'s tenant paid into the same bank account or
        registered under the same tax id, found through the blind indexes."""
        return self.sealer.sharing(vendor)

    def stale_keys(self, *, limit: int) -> list[str]:
        """Vendors whose data key an older KEK wraps (what a rotation has left to do)."""
        return self.sealer.stale(limit=limit)

    def rewrap_key(self, vendor_id: str, *, fresh_data_key: bool, now_us: int) -> bool:
        """Re-wrap (or with ``fresh_data_key`` replace) the vendor's data key under the
        current KEK; False if nothing was left to do."""
        return self.sealer.rewrap(vendor_id, fresh_data_key=fresh_data_key, now_us=now_us)

    def key_counts(self) -> list[tuple[int, int, bool, int]]:
        """(KEK version, data-key version, destroyed, vendors)."""
        return self.sealer.counts()

    def all(self, *, tenant: str | None = None, limit: int = 1000) -> list[Vendor]:
        query = KEYED_VENDORS.order_by(vendors.c.vendor_id).limit(limit)
        if tenant is not None:
            query = query.where(vendors.c.tenant == tenant)
        return [self._vendor(row) for row in self.conn.execute(query).mappings()]

    def page(self, *, tenant: str, vendor_ids: Collection[str] | None = None,
             after: str = "", limit: int = 50) -> list[Vendor]:
        """``tenant``'s vendors (only ``vendor_ids`` when given) after ``after``, by id."""
        query = (KEYED_VENDORS.where(vendors.c.tenant == tenant, vendors.c.vendor_id > after)
                 .order_by(vendors.c.vendor_id).limit(limit))
        if vendor_ids is not None:
            query = query.where(vendors.c.vendor_id.in_(list(vendor_ids)))
        return [self._vendor(row) for row in self.conn.execute(query).mappings()]

    def tenants_of(self, vendor_ids: Collection[str]) -> dict[str, str]:
        """Each known vendor's tenant."""
        rows = self.conn.execute(select(vendors.c.vendor_id, vendors.c.tenant)
                                 .where(vendors.c.vendor_id.in_(list(vendor_ids))))
        return {row[0]: row[1] for row in rows}

    def add_po(self, po: PurchaseOrder, *, tenant: str, now_us: int) -> None:
        amount = Money.of(po.amount, po.currency).minor
        self.conn.execute(insert(purchase_orders).values(
            po_number=po.po_number, vendor_id=po.vendor_id, tenant=tenant, amount=amount,
            remaining=Money.of(po.remaining, po.currency).minor, currency=po.currency,
            status=po.status, created_at=now_us))

    def po(self, po_number: str) -> PurchaseOrder | None:
        row = _PO.record(self.conn, po_number=po_number)
        if row is None:
            return None
        currency = row["currency"]
        return PurchaseOrder(row["po_number"], row["vendor_id"], major(row["amount"], currency),
                             currency, major(row["remaining"], currency), row["status"])

    def add_note(self, note: Note) -> None:
        self.conn.execute(insert(vendor_notes).values(
            vendor_id=note.vendor_id, author=note.author.value, author_id=note.author_id,
            text=note.text, created_at=note.created_at_us))

    def notes(self, vendor_id: str, *, limit: int = 20) -> list[Note]:
        rows = _NOTES.records(self.conn, vendor_id=vendor_id, limit=limit)
        return [Note(r["vendor_id"], Author(r["author"]), r["author_id"], r["text"],
                     r["created_at"]) for r in reversed(rows)]

    def add_burst(self, vendor_id: str, *, user_id: str, requests: int, window_s: int,
                  at_us: int) -> None:
        self.conn.execute(insert(money_bursts).values(
            vendor_id=vendor_id, user_id=user_id, requests=requests, window_s=window_s,
            at_us=at_us))

    def bursts(self, vendor_id: str, *, since_us: int, until_us: int) -> int:
        """How many bursts of money requests this vendor's users sent in the window."""
        row = _BURSTS.first(self.conn, vendor_id=vendor_id, since_us=since_us,
                            until_us=until_us)
        return int(row[0]) if row is not None else 0

    def add_message(self, message: Message) -> None:
        self.conn.execute(insert(messages).values(
            vendor_id=message.vendor_id, conversation_id=message.conversation_id,
            role=message.role, author_id=message.author_id, text=message.text,
            created_at=message.created_at_us))

    def messages(self, vendor_id: str, *, conversation_id: str | None = None,
                 limit: int = 50) -> list[Message]:
        query = select(messages).where(messages.c.vendor_id == vendor_id)
        if conversation_id is not None:
            query = query.where(messages.c.conversation_id == conversation_id)
        rows = self.conn.execute(query.order_by(messages.c.id.desc()).limit(limit)).mappings()
        return [Message(r["vendor_id"], r["conversation_id"], r["role"], r["author_id"],
                        r["text"], r["created_at"]) for r in reversed(list(rows))]


    def _vendor(self, row: Any) -> Vendor:
        return Vendor(**{name: row[name] for name in _PLAIN_FIELDS},
                      **self.sealer.opened(row),
                      documents=tuple(json.loads(row["documents"])),
                      status=VendorStatus(row["status"]), created_at_us=row["created_at"],
                      bank_changed_at_us=row["bank_changed_at"])


def major(minor: int, currency: str) -> Decimal:
    """A stored minor-unit amount as a Decimal in major units."""
    return Money(int(minor), Currency.of(currency)).amount
