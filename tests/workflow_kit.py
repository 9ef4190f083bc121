"""What the workflow tests share: a small fraud model, a company's accounts, vendors and
invoices that pass every check, and a loop that runs the orchestrator until it is idle."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import select

from finbot.adapters.db.tables import outbox
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.clock import DAY_US, daytime_zone, now_us
from finbot.domain.invoices import Invoice, InvoiceLine, PurchaseOrder
from finbot.domain.ledger import TransferRequest
from finbot.domain.vendors import Vendor
from finbot.entrypoints.workers import run_until_idle as idle
from finbot.fraud import generate, train
from finbot.fraud.scorer import Scorer
from finbot.fraud.training import version_for
from finbot.policy.shipped import shipped_policy
from finbot.services.demo import open_company as open_company_accounts

_YEAR_US = 400 * DAY_US


@cache
def small_scorer() -> Scorer:
    """A fraud model trained once per test session on a small seeded set (about a second)."""
    trained = train(generate(vendors=60, invoices=1500, fraud_rate=0.03, seed=3), seed=3)
    return Scorer(trained.model_string, version=version_for(trained.model_hash))


def open_company(app: App, *, funds: str = "500000.00") -> None:
    app.policies.publish(shipped_policy())
    open_company_accounts(app.ledger)
    app.ledger.transfer(TransferRequest("funding", "company:bank", "company:equity", funds,
                                        "USD"))


@contextmanager
def company_with(settings: Settings, *vendors: Vendor) -> Iterator[App]:
    """The app over the test's database with the company's accounts open and ``vendors``
    onboarded; closed on the way out."""
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer)
    try:
        open_company(app)
        for vendor in vendors:
            app.vendor_work.register_vendor(vendor)
        run_until_idle(app)
        yield app
    finally:
        app.close()


def clean_vendor(vendor_id: str = "v-acme", **changes: object) -> Vendor:
    vendor = Vendor(vendor_id, "Acme Office Supplies Inc", "US", tax_id="04-2103594",
                    routing_number="111000025", account_number="123456789",
                    industry="office supplies", website="https://acme.example",
                    profile="We sell paper, toner and desks to offices.",
                    documents=("certificate_of_incorporation", "bank_letter", "w9"),
                    timezone=daytime_zone(), created_at_us=now_us() - _YEAR_US)
    return replace(vendor, **changes)  # type: ignore[arg-type]


def clean_invoice(invoice_id: str = "inv-1", *, vendor_id: str = "v-acme",
                  number: str = "INV-1001", quantity: str = "12", price: str = "100.00",
                  po_number: str | None = "PO-1", text: str = "Office supplies, November",
                  currency: str = "USD") -> Invoice:
    amount = Decimal(quantity) * Decimal(price)
    today = date.today()
    return Invoice(invoice_id, vendor_id, number, amount, currency, today,
                   today + timedelta(days=30), po_number=po_number,
                   lines=(InvoiceLine("Toner cartridges", Decimal(quantity), Decimal(price),
                                      amount),), text=text)


def two_vendors_with_an_invoice_each(app: App) -> None:
    """Vendors v-a (invoice A-1) and v-b (invoice B-7), for tenant-isolation tests."""
    app.vendor_work.register_vendor(clean_vendor("v-a"))
    app.vendor_work.register_vendor(clean_vendor("v-b", legal_name="Other Corp"))
    app.vendor_work.submit_invoice(clean_invoice("inv-a", vendor_id="v-a", number="A-1",
                                                 po_number=None))
    app.vendor_work.submit_invoice(clean_invoice("inv-b", vendor_id="v-b", number="B-7",
                                                 po_number=None))


def purchase_order(po_number: str = "PO-1", *, vendor_id: str = "v-acme",
                   amount: str = "50000.00", currency: str = "USD") -> PurchaseOrder:
    return PurchaseOrder(po_number, vendor_id, Decimal(amount), currency, Decimal(amount))


def run_until_idle(app: App, *, timeout_s: float = 30.0) -> None:
    """Drain every consumer and due step, and run upkeep (payments), until no step is due
    and every consumer has taken every event written so far (see ``workers.settled``)."""
    try:
        idle(app, timeout_s=timeout_s)
    except TimeoutError as busy:
        raise AssertionError(str(busy)) from None


def stored_fraud_model(app: App) -> str:
    """Train a small fraud model into the app's registry (about a second; once per
    registry) and return its version, for pages that list the registry."""
    from finbot.fraud.registry import ModelRegistry, latest_or_default

    registry = ModelRegistry(app.settings.models_dir)
    latest_or_default(registry, created_at="2026-01-01T00:00:00+00:00", training={
        "vendors": 60, "invoices": 1500, "fraud_rate": 0.03, "seed": 3})
    return registry.latest().version


def announced(app: App, type_: str) -> list[dict[str, Any]]:
    """Every ``type_`` event's payload in the order written, read from the outbox table
    itself (the consumers' reader on PostgreSQL waits for every older transaction)."""
    query = select(outbox.c.payload).where(outbox.c.type == type_).order_by(outbox.c.id)
    with app.engine.connect() as conn:
        return [json.loads(row.payload) for row in conn.execute(query)]
