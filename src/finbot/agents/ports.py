"""What an agent may use: read-only views, and nothing else.

Agents receive an ``AgentTools`` and no other handle on the system. Every view here only
reads; the adapters behind them run on a database engine that refuses writes, and an
import contract keeps this package from importing services, execution, adapters or a
database driver. A manipulated agent can therefore propose anything, but can change
nothing: only the gate's decision and the execution service move money.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from finbot.domain.invoices import Invoice, InvoiceSummary, PurchaseOrder
from finbot.domain.ledger import Balances, Transfer
from finbot.domain.policy import Policy
from finbot.domain.vendors import Message, Note, Vendor

if TYPE_CHECKING:
    from finbot.agents.sanctions import SanctionedParty

T = TypeVar("T")


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
    def bursts(self, vendor_id: str, *, since_us: int, until_us: int) -> int: ...
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


def remembered(tools: AgentTools) -> AgentTools:
    """The same views, each answer kept for the life of the returned object: one workflow
    step, whose gate facts and tools ask for the same invoice, vendor, purchase order and
    policy several times. Within a step the same question gets the same answer (the gate
    and the agent judge the same invoice and policy); the next step reads afresh. Lists
    are copied out, so a caller cannot change what others see."""
    return AgentTools(ledger=tools.ledger, policy=_Policy(tools.policy),
                      vendors=_Vendors(tools.vendors), invoices=_Invoices(tools.invoices),
                      sanctions=tools.sanctions)


class _Memo:
    def __init__(self) -> None:
        self._kept: dict[tuple[object, ...], object] = {}

    def _once(self, key: tuple[object, ...], read: Callable[[], T]) -> T:
        if key not in self._kept:
            self._kept[key] = read()
        found = self._kept[key]
        return list(found) if isinstance(found, list) else found  # type: ignore[return-value]


class _Policy(_Memo):
    def __init__(self, view: PolicyView) -> None:
        super().__init__()
        self._view = view

    def current(self) -> Policy:
        return self._once(("current",), self._view.current)


class _Vendors(_Memo):
    def __init__(self, view: VendorView) -> None:
        super().__init__()
        self._view = view

    def vendor(self, vendor_id: str) -> Vendor | None:
        return self._once(("vendor", vendor_id), lambda: self._view.vendor(vendor_id))

    def vendors(self, *, tenant: str | None = None, limit: int = 200) -> list[Vendor]:
        return self._once(("vendors", tenant, limit),
                          lambda: self._view.vendors(tenant=tenant, limit=limit))

    def purchase_order(self, po_number: str) -> PurchaseOrder | None:
        return self._once(("po", po_number), lambda: self._view.purchase_order(po_number))

    def notes(self, vendor_id: str, *, limit: int = 20) -> list[Note]:
        return self._once(("notes", vendor_id, limit),
                          lambda: self._view.notes(vendor_id, limit=limit))

    def bursts(self, vendor_id: str, *, since_us: int, until_us: int) -> int:
        return self._once(("bursts", vendor_id, since_us, until_us),
                          lambda: self._view.bursts(vendor_id, since_us=since_us,
                                                    until_us=until_us))

    def messages(self, vendor_id: str, *, conversation_id: str | None = None,
                 limit: int = 50) -> list[Message]:
        return self._once(("messages", vendor_id, conversation_id, limit),
                          lambda: self._view.messages(vendor_id,
                                                      conversation_id=conversation_id,
                                                      limit=limit))


class _Invoices(_Memo):
    def __init__(self, view: InvoiceView) -> None:
        super().__init__()
        self._view = view

    def invoice(self, invoice_id: str) -> Invoice | None:
        return self._once(("invoice", invoice_id), lambda: self._view.invoice(invoice_id))

    def of_vendor(self, vendor_id: str, *, since_us: int = 0, limit: int = 200,
                  excluding: str | None = None) -> list[Invoice]:
        return self._once(("of_vendor", vendor_id, since_us, limit, excluding),
                          lambda: self._view.of_vendor(vendor_id, since_us=since_us,
                                                       limit=limit, excluding=excluding))

    def history(self, vendor_id: str, *, since_us: int = 0, until_us: int | None = None,
                limit: int = 500, excluding: str | None = None) -> list[InvoiceSummary]:
        return self._once(("history", vendor_id, since_us, until_us, limit, excluding),
                          lambda: self._view.history(vendor_id, since_us=since_us,
                                                     until_us=until_us, limit=limit,
                                                     excluding=excluding))
