"""Vendors, their purchase orders, notes and messages in SQL.

Amounts are stored in minor units and read back as Decimal in the record's currency;
documents are a JSON list of document kinds. Every read that can be scoped takes the
vendor id, so a caller holding one vendor's id never reads another's rows.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

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
from finbot.domain.vendors import Author, Message, Note, Vendor, VendorStatus

_GET = Sql("SELECT * FROM vendors WHERE vendor_id = :vendor_id")
_PO = Sql("SELECT * FROM purchase_orders WHERE po_number = :po_number")
_NOTES = Sql("SELECT * FROM vendor_notes WHERE vendor_id = :vendor_id ORDER BY id DESC "
             "LIMIT :limit")
_BURSTS = Sql("SELECT COUNT(*) FROM money_bursts WHERE vendor_id = :vendor_id "
              "AND at_us >= :since_us AND at_us <= :until_us")
_VENDOR_FIELDS = ("vendor_id", "tenant", "legal_name", "country", "tax_id", "iban", "bic",
                  "routing_number", "account_number", "industry", "website", "profile",
                  "timezone")


class SqlVendorRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def add(self, vendor: Vendor) -> None:
        self.conn.execute(insert(vendors).values(
            **{name: getattr(vendor, name) for name in _VENDOR_FIELDS},
            documents=json.dumps(list(vendor.documents)), status=vendor.status.value,
            created_at=vendor.created_at_us, bank_changed_at=vendor.bank_changed_at_us))

    def get(self, vendor_id: str) -> Vendor | None:
        row = _GET.run(self.conn, vendor_id=vendor_id).mappings().first()
        return _vendor(row) if row else None

    def set_status(self, vendor_id: str, status: VendorStatus) -> None:
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id)
                          .values(status=status.value))

    def change_bank(self, vendor_id: str, *, iban: str, bic: str, routing_number: str,
                    account_number: str, now_us: int) -> None:
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id).values(
            iban=iban, bic=bic, routing_number=routing_number, account_number=account_number,
            bank_changed_at=now_us))

    def all(self, *, tenant: str | None = None, limit: int = 1000) -> list[Vendor]:
        query = select(vendors).order_by(vendors.c.vendor_id).limit(limit)
        if tenant is not None:
            query = query.where(vendors.c.tenant == tenant)
        return [_vendor(row) for row in self.conn.execute(query).mappings()]

    def page(self, *, tenant: str, vendor_ids: Collection[str] | None = None,
             after: str = "", limit: int = 50) -> list[Vendor]:
        """``tenant``'s vendors (only ``vendor_ids`` when given) after ``after``, by id."""
        query = (select(vendors).where(vendors.c.tenant == tenant, vendors.c.vendor_id > after)
                 .order_by(vendors.c.vendor_id).limit(limit))
        if vendor_ids is not None:
            query = query.where(vendors.c.vendor_id.in_(list(vendor_ids)))
        return [_vendor(row) for row in self.conn.execute(query).mappings()]

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
        row = _PO.run(self.conn, po_number=po_number).mappings().first()
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
        rows = _NOTES.run(self.conn, vendor_id=vendor_id, limit=limit).mappings()
        return [Note(r["vendor_id"], Author(r["author"]), r["author_id"], r["text"],
                     r["created_at"]) for r in reversed(list(rows))]

    def add_burst(self, vendor_id: str, *, user_id: str, requests: int, window_s: int,
                  at_us: int) -> None:
        self.conn.execute(insert(money_bursts).values(
            vendor_id=vendor_id, user_id=user_id, requests=requests, window_s=window_s,
            at_us=at_us))

    def bursts(self, vendor_id: str, *, since_us: int, until_us: int) -> int:
        """How many bursts of money requests this vendor's users sent in the window."""
        return int(_BURSTS.run(self.conn, vendor_id=vendor_id, since_us=since_us,
                               until_us=until_us).scalar_one())

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


def major(minor: int, currency: str) -> Decimal:
    """A stored minor-unit amount as a Decimal in major units."""
    return Money(int(minor), Currency.of(currency)).amount


def _vendor(row: Any) -> Vendor:
    return Vendor(**{name: row[name] for name in _VENDOR_FIELDS},
                  documents=tuple(json.loads(row["documents"])),
                  status=VendorStatus(row["status"]), created_at_us=row["created_at"],
                  bank_changed_at_us=row["bank_changed_at"])
