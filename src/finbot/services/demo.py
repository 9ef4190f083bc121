"""Demo data: a company, a handful of vendors, their invoices accrued and some paid.

Every id is derived from the vendor and invoice number, so seeding twice changes nothing
(the ledger answers ``exists``) and a half-finished seed completes on the next run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from finbot.domain.ledger import AccountFlag, AccountType, TransferKind, TransferRequest
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


def vendor_account_code(index: int) -> str:
    return f"vendor:{index + 1:03d}:payable"


def open_company(ledger: LedgerService, *, currency: str = "USD") -> None:
    """Open the company's bank, equity and expense accounts (idempotent)."""
    for code, name, type_, flags in COMPANY_ACCOUNTS:
        ledger.open_account(code, name=name, type=type_, currency=currency, flags=flags)


def seed_demo(ledger: LedgerService, *, vendors: int = len(DEMO_VENDORS),
              invoices_per_vendor: int = 6, currency: str = "USD",
              seed: int = 7) -> SeedReport:
    """Open the company's and vendors' accounts, fund the bank, accrue and pay invoices."""
    rng = random.Random(seed)  # noqa: S311 - demo amounts, not security
    open_company(ledger, currency=currency)
    for i in range(vendors):
        name = DEMO_VENDORS[i % len(DEMO_VENDORS)]
        ledger.open_account(vendor_account_code(i), name=f"{name} (payable)",
                            type=AccountType.LIABILITY, currency=currency,
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    requests = [TransferRequest("demo:funding", "company:bank", "company:equity",
                                Decimal("250000.00"), currency, reference="Opening capital")]
    for i in range(vendors):
        requests += _vendor_invoices(rng, i, invoices_per_vendor, currency)
    results = ledger.submit(requests, linked=True)
    return SeedReport(len(COMPANY_ACCOUNTS) + vendors, len(results),
                      sum(1 for r in results if r.code.value == "ok"))


def _vendor_invoices(rng: random.Random, vendor: int, count: int,
                     currency: str) -> list[TransferRequest]:
    payable = vendor_account_code(vendor)
    requests: list[TransferRequest] = []
    for n in range(1, count + 1):
        amount = Decimal(rng.randint(15_000, 950_000)).scaleb(-2)
        invoice = f"demo:v{vendor + 1:03d}:inv{n:03d}"
        requests.append(TransferRequest(f"{invoice}:accrue", "company:expenses", payable,
                                        amount, currency, reference=f"Invoice {n}"))
        if n % 3 == 0:
            continue  # left unpaid: the vendor still has an open balance
        requests.append(TransferRequest(f"{invoice}:reserve", payable, "company:bank", amount,
                                        currency, kind=TransferKind.PENDING,
                                        timeout_s=DEMO_PENDING_TIMEOUT_S,
                                        reference=f"Payment of invoice {n}"))
        if n % 3 == 1:
            requests.append(TransferRequest(f"{invoice}:settle", kind=TransferKind.POST_PENDING,
                                            pending_id=f"{invoice}:reserve"))
    return requests
