"""Invoices in SQL: amounts in minor units, dates as ISO text, lines as JSON."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select, tuple_

from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import invoices
from finbot.adapters.db.vendor_repo import major
from finbot.domain.invoices import Invoice, InvoiceLine, InvoiceStatus, InvoiceSummary
from finbot.domain.money import ISO_4217_EXPONENTS, Money
from finbot.domain.timeline import IN_PAYMENT

_STATUSES = {status.value: status for status in InvoiceStatus}
_COLUMNS = ("invoice_id", "tenant", "vendor_id", "number", "amount", "tax", "currency",
            "issued_on", "due_on", "po_number", "lines", "text", "discount_percent",
            "discount_until", "status", "submitted_at", "updated_at")
_ADD = Sql(f"INSERT INTO invoices ({', '.join(_COLUMNS)}) "
           f"VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
           "ON CONFLICT (invoice_id) DO NOTHING")
"""Runs on every submission, on the driver's cursor (as a Core statement it cost ~100 µs
more)."""
_GET = Sql("SELECT * FROM invoices WHERE invoice_id = :invoice_id")
_SET_STATUS = Sql("UPDATE invoices SET status = :status, updated_at = :now "
                  "WHERE invoice_id = :invoice_id")


def _history_sql(until: bool, excluding: bool) -> Sql:
    return Sql("SELECT invoice_id, number, amount, currency, issued_on, status, submitted_at "
               "FROM invoices WHERE vendor_id = :vendor_id AND submitted_at >= :since"
               + (" AND submitted_at <= :until" if until else "")
               + (" AND invoice_id <> :excluding" if excluding else "")
               + " ORDER BY submitted_at DESC LIMIT :limit")


_HISTORY = {(until, excluding): _history_sql(until, excluding)
            for until in (False, True) for excluding in (False, True)}


class SqlInvoiceRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def add(self, invoice: Invoice) -> bool:
        """Insert ``invoice``; False, writing nothing, when its id is taken."""
        return _ADD.execute(
            self.conn, invoice_id=invoice.invoice_id, tenant=invoice.tenant,
            vendor_id=invoice.vendor_id, number=invoice.number,
            amount=Money.of(invoice.amount, invoice.currency).minor,
            tax=Money.of(invoice.tax, invoice.currency).minor, currency=invoice.currency,
            issued_on=invoice.issued_on.isoformat(), due_on=invoice.due_on.isoformat(),
            po_number=invoice.po_number, lines=json.dumps([_line(x) for x in invoice.lines]),
            text=invoice.text,
            discount_percent=(str(invoice.discount_percent)
                              if invoice.discount_percent is not None else None),
            discount_until=(invoice.discount_until.isoformat()
                            if invoice.discount_until else None),
            status=invoice.status.value, submitted_at=invoice.submitted_at_us,
            updated_at=invoice.submitted_at_us) == 1

    def get(self, invoice_id: str) -> Invoice | None:
        row = _GET.record(self.conn, invoice_id=invoice_id)
        return _invoice(row) if row else None

    def set_status(self, invoice_id: str, status: InvoiceStatus, now_us: int) -> None:
        _SET_STATUS.execute(self.conn, status=status.value, now=now_us, invoice_id=invoice_id)

    def of_vendor(self, vendor_id: str, *, since_us: int = 0, limit: int = 200,
                  excluding: str | None = None) -> list[Invoice]:
        """The vendor's invoices submitted since ``since_us``, newest first."""
        query = (select(invoices).where(invoices.c.vendor_id == vendor_id,
                                        invoices.c.submitted_at >= since_us)
                 .order_by(invoices.c.submitted_at.desc()).limit(limit))
        if excluding is not None:
            query = query.where(invoices.c.invoice_id != excluding)
        return [_invoice(row) for row in self.conn.execute(query).mappings()]

    def page(self, *, tenant: str, vendor_ids: Collection[str] | None = None,
             before: tuple[int, str] | None = None, limit: int = 50) -> list[Invoice]:
        """``tenant``'s invoices (of ``vendor_ids`` when given), newest first, submitted
        before the (submitted_at, invoice_id) cursor ``before``."""
        column = invoices.c
        query = (select(invoices).where(column.tenant == tenant)
                 .order_by(column.submitted_at.desc(), column.invoice_id.desc()).limit(limit))
        if vendor_ids is not None:
            query = query.where(column.vendor_id.in_(list(vendor_ids)))
        if before is not None:
            query = query.where(tuple_(column.submitted_at, column.invoice_id) < before)
        return [_invoice(row) for row in self.conn.execute(query).mappings()]

    def in_payment(self, *, tenant: str, vendor_ids: Collection[str] | None = None,
                   limit: int = 100) -> list[tuple[Invoice, int]]:
        """``tenant``'s invoices approved, scheduled or paid (of ``vendor_ids`` when given),
        each with when its status last changed, latest change first."""
        column = invoices.c
        query = (select(invoices).where(column.tenant == tenant,
                                        column.status.in_([s.value for s in IN_PAYMENT]))
                 .order_by(column.updated_at.desc(), column.invoice_id.desc()).limit(limit))
        if vendor_ids is not None:
            query = query.where(column.vendor_id.in_(list(vendor_ids)))
        return [(_invoice(row), int(row["updated_at"]))
                for row in self.conn.execute(query).mappings()]

    def history(self, vendor_id: str, *, since_us: int = 0, until_us: int | None = None,
                limit: int = 500, excluding: str | None = None) -> list[InvoiceSummary]:
        """The vendor's invoices submitted in [since_us, until_us], newest first, as
        summaries read straight from their rows (no lines, no text)."""
        query = _HISTORY[until_us is not None, excluding is not None]
        params: dict[str, Any] = {"vendor_id": vendor_id, "since": since_us, "limit": limit}
        if until_us is not None:
            params["until"] = until_us
        if excluding is not None:
            params["excluding"] = excluding
        return [InvoiceSummary(invoice_id, number,
                               Decimal(amount).scaleb(-ISO_4217_EXPONENTS[currency]), currency,
                               date.fromisoformat(issued_on), _STATUSES[status], submitted_at)
                for invoice_id, number, amount, currency, issued_on, status, submitted_at
                in query.rows(self.conn, **params)]

    def counts_by_status(self, *, tenant: str | None = None) -> dict[str, int]:
        """Invoices per status (of ``tenant`` only, when given)."""
        query = select(invoices.c.status, func.count()).group_by(invoices.c.status)
        if tenant is not None:
            query = query.where(invoices.c.tenant == tenant)
        rows = self.conn.execute(query).all()
        return {str(status): int(count) for status, count in rows}


def _line(line: InvoiceLine) -> dict[str, str]:
    return {"description": line.description, "quantity": str(line.quantity),
            "unit_price": str(line.unit_price), "amount": str(line.amount)}


def _invoice(row: Any) -> Invoice:
    currency = row["currency"]
    lines = tuple(InvoiceLine(x["description"], Decimal(x["quantity"]), Decimal(x["unit_price"]),
                              Decimal(x["amount"])) for x in json.loads(row["lines"]))
    return Invoice(
        row["invoice_id"], row["vendor_id"], row["number"], major(row["amount"], currency),
        currency, date.fromisoformat(row["issued_on"]), date.fromisoformat(row["due_on"]),
        tax=major(row["tax"], currency), po_number=row["po_number"], lines=lines,
        text=row["text"],
        discount_percent=(Decimal(row["discount_percent"])
                          if row["discount_percent"] is not None else None),
        discount_until=(date.fromisoformat(row["discount_until"])
                        if row["discount_until"] else None),
        status=InvoiceStatus(row["status"]), submitted_at_us=row["submitted_at"],
        tenant=row["tenant"])
