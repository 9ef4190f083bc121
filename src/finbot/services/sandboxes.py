"""Arena sandboxes: each player's own tenant, seeded with money, vendors and tools, reset
by starting a new generation (nothing is deleted), and exported whole.

A sandbox's money is its own: its bank, equity and expense accounts are the tenant's
counterparts of the company's (``domain.ledger.tenant_account``), which is where the
executor pays the sandbox's invoices from, so nothing a player does can draw on the
operating company's money. Its vendors are registered like any vendor (onboarding runs on
them) with the player as their only member; its tools' world is the sandbox tenant's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

from finbot.domain.clock import DAY_US, daytime_zone, now_us
from finbot.domain.errors import NotFound
from finbot.domain.invoices import PurchaseOrder
from finbot.domain.ledger import TransferRequest, tenant_account
from finbot.domain.sandboxes import SEED_VENDORS, Sandbox, SandboxMode
from finbot.domain.users import Permission, Principal
from finbot.domain.vendors import Vendor, VendorStatus
from finbot.services.arena_tools import ArenaTools
from finbot.services.ledger import LedgerService, UowFactory
from finbot.services.retry import retrying
from finbot.services.workflows import VendorWork

SEED_FUNDS = Decimal("100000.00")
"""What a sandbox's bank holds at the start of each generation (USD)."""
COMPANY = (("company:bank", "Bank", "asset"), ("company:equity", "Equity", "equity"),
           ("company:expenses", "Vendor expenses", "expense"))


class SandboxService:
    def __init__(self, uow: UowFactory, ledger: LedgerService, work: VendorWork,
                 tools: ArenaTools, *, home_tenant: str = "default",
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._ledger = ledger
        self._work = work
        self._tools = tools
        self._home = home_tenant
        self._clock = clock

    def open(self, player: Principal) -> Sandbox:
        """The player's sandbox, opened and seeded on first use (the same one after)."""
        player.require(Permission.ARENA_PLAY)
        now = self._clock()

        def claim() -> tuple[Sandbox, bool]:
            with self._uow() as uow:
                found = uow.sandboxes.get(player.user_id)
                if found is not None:
                    return found, False
                sandbox = Sandbox(player.user_id, SandboxMode.GOVERNED, 1, now)
                uow.sandboxes.add(sandbox)
                uow.commit()
            return sandbox, True
        sandbox, new = retrying(claim)
        if new:
            self._seed(sandbox)
        return sandbox

    def get(self, player: Principal) -> Sandbox:
        player.require(Permission.ARENA_PLAY)
        with self._uow() as uow:
            found = uow.sandboxes.get(player.user_id)
        if found is None:
            raise NotFound("no sandbox yet: open one first", field="sandbox")
        return found

    def switch(self, player: Principal, mode: SandboxMode) -> Sandbox:
        """Put the sandbox in ``mode``; decisions made from now on are made in it."""
        self.get(player)

        def save() -> Sandbox:
            with self._uow() as uow:
                current = uow.sandboxes.get(player.user_id, lock=True)
                assert current is not None
                switched = replace(current, mode=mode)
                uow.sandboxes.save(switched)
                uow.commit()
            return switched
        return retrying(save)

    def reset(self, player: Principal) -> Sandbox:
        """Start a new generation: the old vendors retired (suspended, no longer the
        player's), fresh ones registered, the bank topped back up, the tools re-seeded."""
        old = self.get(player)
        with self._uow() as uow:
            current = uow.sandboxes.get(player.user_id, lock=True)
            assert current is not None
            fresh = replace(current, generation=current.generation + 1,
                            reset_at_us=self._clock())
            for vendor_id in current.vendor_ids():
                uow.reviews.remove_member(player.user_id, vendor_id)
                if uow.vendors.get(vendor_id) is not None:
                    uow.vendors.set_status(vendor_id, VendorStatus.SUSPENDED)
            uow.sandboxes.save(fresh)
            uow.commit()
        self._seed(fresh, generation_before=old.generation)
        return fresh

    def export(self, player: Principal) -> dict[str, Any]:
        """Everything of the sandbox, JSON-ready: its vendors of every generation, their
        invoices, its ledger accounts and balances, its findings and its tools' world."""
        sandbox = self.get(player)
        tenant = sandbox.tenant
        with self._uow() as uow:
            vendors = uow.vendors.page(tenant=tenant, limit=1000)
            invoices = uow.invoices.page(tenant=tenant, limit=1000)
            findings = uow.findings.page(tenant, limit=1000)
        accounts = {code: self._balance(tenant_account(code, tenant, home_tenant=self._home))
                    for code, _, _ in COMPANY}
        return {
            "sandbox": {"player_id": sandbox.player_id, "tenant": tenant,
                        "mode": sandbox.mode.value, "generation": sandbox.generation,
                        "created_at_us": sandbox.created_at_us,
                        "reset_at_us": sandbox.reset_at_us},
            "vendors": [{"vendor_id": v.vendor_id, "legal_name": v.legal_name,
                         "status": v.status.value} for v in vendors],
            "invoices": [{"invoice_id": i.invoice_id, "vendor_id": i.vendor_id,
                          "number": i.number, "amount": str(i.amount),
                          "currency": i.currency, "status": i.status.value}
                         for i in invoices],
            "accounts": accounts,
            "findings": [{"detector": f.detector, "severity": f.severity,
                          "aggregate_id": f.aggregate_id, "detail": f.detail}
                         for f in findings],
            "tools": self._tools.export(tenant),
        }

    def _seed(self, sandbox: Sandbox, *, generation_before: int = 0) -> None:
        tenant = sandbox.tenant
        codes = {code: tenant_account(code, tenant, home_tenant=self._home)
                 for code, _, _ in COMPANY}
        for code, name, type_ in COMPANY:
            self._ledger.open_account(codes[code], name=f"{name} of sandbox {tenant}",
                                      type=type_, currency="USD")
        missing = SEED_FUNDS - Decimal(self._balance(codes["company:bank"])) / 100
        if missing > 0:  # back up to the seed amount (a reset spends nothing of the old)
            self._ledger.transfer(TransferRequest(
                f"{tenant}:seed:g{sandbox.generation}", codes["company:bank"],
                codes["company:equity"], str(missing), "USD",
                reference=f"sandbox seed, generation {sandbox.generation}"))
        for vendor_id, (_, name) in zip(sandbox.vendor_ids(), SEED_VENDORS,
                                        strict=True):
            self._work.register_vendor(_seed_vendor(vendor_id, name, tenant, self._clock()),
                                       members=(sandbox.player_id,))
            self._work.add_purchase_order(PurchaseOrder(
                f"PO-{vendor_id}", vendor_id, Decimal("50000.00"), "USD",
                Decimal("50000.00")))
        if generation_before:
            self._tools.reset(tenant, tenant=tenant)

    def _balance(self, code: str) -> int:
        """The posted balance on the account's normal side, minor units (0 if absent)."""
        with self._uow() as uow:
            account = uow.ledger.account_by_code(code)
        return account.balance() if account is not None else 0


def _seed_vendor(vendor_id: str, name: str, tenant: str, now: int) -> Vendor:
    """An established, well-documented vendor (a year old) for the player to act for, in
    a time zone where it is daytime when the sandbox is made (a player at night is not met
    by the unusual-hours rule on every invoice)."""
    return Vendor(vendor_id, name, "US", tax_id="04-2103594", routing_number="111000025",
                  account_number="123456789", industry="office supplies",
                  website="https://vendor.example",
                  profile="A long-standing supplier of the sandbox company.",
                  documents=("certificate_of_incorporation", "bank_letter", "w9"),
                  timezone=daytime_zone(), created_at_us=now - 365 * DAY_US, tenant=tenant)
