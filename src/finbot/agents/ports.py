"""What an agent may use: read-only views, and nothing else.

Agents receive an ``AgentTools`` and no other handle on the system. Every view here only
reads; the adapters behind them run on a database engine that refuses writes, and an
import contract keeps this package from importing services, execution, adapters or a
database driver. A manipulated agent can therefore propose anything, but can change
nothing: only the gate's decision and the execution service move money.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from finbot.domain.invoices import Invoice, InvoiceSummary, PurchaseOrder
from finbot.domain.ledger import Balances, Transfer
from finbot.domain.policy import Policy
from finbot.domain.vendors import Message, Note, Vendor

if TYPE_CHECKING:
    from finbot.agents.sanctions import SanctionedParty


class LedgerView(Protocol):
    """Balances and recent transfers of one account, as of now."""

    def balances(self, account_code: str) -> Balances | None: ...
    def recent_transfers(self, account_code: str, *, limit: int = 20) -> list[Transfer]: ...


class PolicyView(Protocol):
    """The policy the gate will judge with (agents may reason about the limits)."""

    def current(self) -> Policy: ...


class VendorView(Protocol):
    """Vendors as registered, their purchase orders, notes and conversations."""

    def vendor(self, vendor_id: str) -> Vendor | None: ...
    def vendors(self, *, tenant: str | None = None, limit: int = 200) -> list[Vendor]: ...
    def purchase_order(self, po_number: str) -> PurchaseOrder | None: ...
    def notes(self, vendor_id: str, *, limit: int = 20) -> list[Note]: ...
    def messages(self, vendor_id: str, *, conversation_id: str | None = None,
                 limit: int = 50) -> list[Message]: ...


class InvoiceView(Protocol):
    """Invoices as submitted, and each vendor's earlier ones (whole, or as summaries for
    the history checks)."""

    def invoice(self, invoice_id: str) -> Invoice | None: ...
    def of_vendor(self, vendor_id: str, *, since_us: int = 0, limit: int = 200,
                  excluding: str | None = None) -> list[Invoice]: ...
    def history(self, vendor_id: str, *, since_us: int = 0, until_us: int | None = None,
                limit: int = 500, excluding: str | None = None) -> list[InvoiceSummary]: ...


class SanctionsView(Protocol):
    """The sanctions list as last imported (the shipped sample until one is)."""

    def parties(self) -> list[SanctionedParty]: ...


@dataclass(frozen=True)
class AgentTools:
    """Everything an agent is given. Adding a field here is adding a capability: keep it
    a read."""

    ledger: LedgerView
    policy: PolicyView
    vendors: VendorView
    invoices: InvoiceView
    sanctions: SanctionsView
