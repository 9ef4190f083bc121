"""The agents' read-only views, on an engine whose connections the database keeps from
writing (see ``make_engine(read_only=True)``)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, func, select

from finbot.adapters.db.invoice_repo import SqlInvoiceRepo
from finbot.adapters.db.ledger_queries import LedgerQueries
from finbot.adapters.db.policy_repo import SqlPolicyRepo
from finbot.adapters.db.tables import sanctions_entries
from finbot.adapters.db.vendor_repo import SqlVendorRepo
from finbot.agents.sanctions import SanctionedParty, sample_parties
from finbot.domain.errors import NotFound
from finbot.domain.invoices import Invoice, InvoiceSummary, PurchaseOrder
from finbot.domain.ledger import Balances, Transfer
from finbot.domain.policy import Policy, policy_from_json
from finbot.domain.vendors import Message, Note, Vendor
from finbot.privacy.keys import KeyRing


class SqlLedgerView:
    def __init__(self, read_only_engine: Engine) -> None:
        self._queries = LedgerQueries(read_only_engine)

    def balances(self, account_code: str) -> Balances | None:
        try:
            return self._queries.account(account_code).balances
        except NotFound:
            return None

    def recent_transfers(self, account_code: str, *, limit: int = 20) -> list[Transfer]:
        try:
            account = self._queries.account(account_code)
        except NotFound:
            return []
        return self._queries.history(account, limit=min(limit, 200), newest_first=True)


class SqlPolicyView:
    def __init__(self, read_only_engine: Engine) -> None:
        self._engine = read_only_engine

    def current(self) -> Policy:
        with self._engine.connect() as conn:
            latest = SqlPolicyRepo(conn).latest()
        if latest is None:
            raise NotFound("no policy has been published", field="policy")
        return policy_from_json(latest[0], latest[2])


class SqlVendorView:
    """Vendors, purchase orders, notes and messages, read on the read-only engine (the
    key ring opens vendors' sealed details)."""

    def __init__(self, read_only_engine: Engine, keys: KeyRing | None = None) -> None:
        self._engine = read_only_engine
        self._keys = keys

    def vendor(self, vendor_id: str) -> Vendor | None:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn, self._keys).get(vendor_id)

    def vendors(self, *, tenant: str | None = None, limit: int = 200) -> list[Vendor]:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn, self._keys).all(tenant=tenant, limit=min(limit, 1000))

    def purchase_order(self, po_number: str) -> PurchaseOrder | None:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn).po(po_number)

    def notes(self, vendor_id: str, *, limit: int = 20) -> list[Note]:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn).notes(vendor_id, limit=min(limit, 100))

    def bursts(self, vendor_id: str, *, since_us: int, until_us: int) -> int:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn).bursts(vendor_id, since_us=since_us, until_us=until_us)

    def messages(self, vendor_id: str, *, conversation_id: str | None = None,
                 limit: int = 50) -> list[Message]:
        with self._engine.connect() as conn:
            return SqlVendorRepo(conn).messages(vendor_id, conversation_id=conversation_id,
                                                limit=min(limit, 200))


class SqlInvoiceView:
    """Invoices, read on the read-only engine."""

    def __init__(self, read_only_engine: Engine) -> None:
        self._engine = read_only_engine

    def invoice(self, invoice_id: str) -> Invoice | None:
        with self._engine.connect() as conn:
            return SqlInvoiceRepo(conn).get(invoice_id)

    def of_vendor(self, vendor_id: str, *, since_us: int = 0, limit: int = 200,
                  excluding: str | None = None) -> list[Invoice]:
        with self._engine.connect() as conn:
            return SqlInvoiceRepo(conn).of_vendor(vendor_id, since_us=since_us,
                                                  limit=min(limit, 500), excluding=excluding)

    def history(self, vendor_id: str, *, since_us: int = 0, until_us: int | None = None,
                limit: int = 500, excluding: str | None = None) -> list[InvoiceSummary]:
        with self._engine.connect() as conn:
            return SqlInvoiceRepo(conn).history(vendor_id, since_us=since_us, until_us=until_us,
                                                limit=min(limit, 2000), excluding=excluding)


class SqlSanctionsView:
    """The imported sanctions list, cached until a newer import; the shipped sample while
    nothing has been imported."""

    def __init__(self, read_only_engine: Engine) -> None:
        self._engine = read_only_engine
        self._cached: tuple[int, list[SanctionedParty]] | None = None

    def parties(self) -> list[SanctionedParty]:
        with self._engine.connect() as conn:
            stamp = conn.execute(select(func.max(sanctions_entries.c.imported_at))).scalar()
            if stamp is None:
                return sample_parties()
            if self._cached is None or self._cached[0] != stamp:
                rows = conn.execute(select(sanctions_entries)).mappings()
                self._cached = (int(stamp), [SanctionedParty(
                    int(r["entry_id"]), r["name"], r["kind"], tuple(json.loads(r["programs"])),
                    tuple(json.loads(r["aliases"]))) for r in rows])
        return self._cached[1]
