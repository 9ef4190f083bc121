"""Demo data: a company, a handful of vendors, their invoices accrued and some paid.

Every id is derived from the vendor and invoice number, so seeding twice changes nothing
(the ledger answers ``exists``) and a half-finished seed completes on the next run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from finbot.domain.errors import Conflict
from finbot.domain.ledger import (
    AccountFlag,
    AccountType,
    TransferKind,
    TransferRequest,
    currency_account_code,
)
from finbot.services.auth import AuthService
from finbot.services.ledger import LedgerService

COMPANY_ACCOUNTS = (
    ("company:bank", "Operating bank account", AccountType.ASSET, AccountFlag.NONE),
    ("company:equity", "Owner's equity", AccountType.EQUITY, AccountFlag.NONE),
    ("company:expenses", "Vendor expenses", AccountType.EXPENSE, AccountFlag.NONE),
)
DEMO_PENDING_TIMEOUT_S = 30 * 24 * 3600
DEMO_VENDORS = (
    "Acme Office Supplies", "Northwind Logistics", "Globex Cloud Services",
    "Initech Consulting", "Umbrella Facilities", "Stark Industrial Parts",
    "Wayne Security Services", "Hooli Software Licences",
)


@dataclass(frozen=True)
class SeedReport:
    """What ``seed_demo`` asked for and what the ledger newly recorded."""

    accounts: int
    transfers_submitted: int
    transfers_new: int


def vendor_account_code(index: int, currency: str = "USD") -> str:
    return f"vendor:{index + 1:03d}:payable:{currency}"


def open_company(ledger: LedgerService, *, currency: str = "USD") -> None:
    """Open the company's bank, equity and expense accounts in ``currency`` (idempotent):
    ``company:bank`` and so on in US dollars, ``company:bank:EUR`` in euros."""
    for code, name, type_, flags in COMPANY_ACCOUNTS:
        name = name if currency == "USD" else f"{name} in {currency}"
        ledger.open_account(company_account(code, currency), name=name, type=type_,
                            currency=currency, flags=flags)


DEMO_FUNDS = {"USD": Decimal("250000.00"), "EUR": Decimal("200000.00")}


def demo_currency(index: int) -> str:
    """Every fourth demo vendor invoices in euros."""
    return "EUR" if index % 4 == 3 else "USD"


def seed_demo(ledger: LedgerService, *, vendors: int = len(DEMO_VENDORS),
              invoices_per_vendor: int = 6, seed: int = 7) -> SeedReport:
    """Open the company's accounts in each currency and the vendors' payables, fund the
    banks, accrue and pay invoices."""
    rng = random.Random(seed)  # noqa: S311 - demo amounts, not security
    requests = []
    for currency, funds in DEMO_FUNDS.items():
        open_company(ledger, currency=currency)
        bank, equity = (company_account(c, currency) for c in ("company:bank", "company:equity"))
        requests.append(TransferRequest(f"demo:funding:{currency}", bank, equity, funds,
                                        currency, reference="Opening capital"))
    for i in range(vendors):
        name, currency = DEMO_VENDORS[i % len(DEMO_VENDORS)], demo_currency(i)
        ledger.open_account(vendor_account_code(i, currency), name=f"{name} (payable)",
                            type=AccountType.LIABILITY, currency=currency,
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    for i in range(vendors):
        requests += _vendor_invoices(rng, i, invoices_per_vendor, demo_currency(i))
    results = ledger.submit(requests, linked=True)
    return SeedReport(len(COMPANY_ACCOUNTS) * len(DEMO_FUNDS) + vendors, len(results),
                      sum(1 for r in results if r.code.value == "ok"))


def company_account(code: str, currency: str) -> str:
    """The demo company's ``code`` account in ``currency`` (US dollars are the base)."""
    return code if currency == "USD" else currency_account_code(code, currency)


def _vendor_invoices(rng: random.Random, vendor: int, count: int,
                     currency: str) -> list[TransferRequest]:
    payable = vendor_account_code(vendor, currency)
    bank, expenses = (company_account(c, currency) for c in ("company:bank", "company:expenses"))
    requests: list[TransferRequest] = []
    for n in range(1, count + 1):
        amount = Decimal(rng.randint(15_000, 950_000)).scaleb(-2)
        invoice = f"demo:v{vendor + 1:03d}:inv{n:03d}"
        requests.append(TransferRequest(f"{invoice}:accrue", expenses, payable,
                                        amount, currency, reference=f"Invoice {n}"))
        if n % 3 == 0:
            continue  # left unpaid: the vendor still has an open balance
        requests.append(TransferRequest(f"{invoice}:reserve", payable, bank, amount,
                                        currency, kind=TransferKind.PENDING,
                                        timeout_s=DEMO_PENDING_TIMEOUT_S,
                                        reference=f"Payment of invoice {n}"))
        if n % 3 == 1:
            requests.append(TransferRequest(f"{invoice}:settle", kind=TransferKind.POST_PENDING,
                                            pending_id=f"{invoice}:reserve"))
    return requests


DEMO_USERS = (("vendor@demo.finbot", "vendor"), ("reviewer@demo.finbot", "reviewer"),
              ("reviewer2@demo.finbot", "reviewer"), ("admin@demo.finbot", "admin"),
              ("auditor@demo.finbot", "auditor"), ("player@demo.finbot", "player"))
"""The demo's people: a vendor user who will onboard their first vendor, two reviewers
(large payments need four eyes), an admin, an auditor and an arena player."""


def seed_demo_users(auth: AuthService, *, password: str) -> list[str]:
    """Create the demo users that do not exist yet (all with ``password``); their emails."""
    created = []
    for email, role in DEMO_USERS:
        try:
            auth.create_user(email, password, roles=[role],
                             display_name=f"Demo {role}")
        except Conflict:
            continue
        created.append(email)
    return created
