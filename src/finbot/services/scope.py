"""What one caller may see and do: every read and write the API makes goes through the
caller's ``Scope``, the one place tenant isolation, vendor membership and permissions are
enforced, so a route cannot forget them.

A record of another tenant, or a vendor a vendor user does not belong to, is reported as
not found, the same answer as for an id that does not exist, so other tenants' ids cannot
be probed. A role without the permission an action needs gets Forbidden.

The ledger belongs to the deployment's home tenant; a vendor's own payable accounts
(``vendor:<id>:…``) belong to the vendor's tenant and are visible to its members.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from finbot.agents.runner import ChatTurn
from finbot.arena.findings import Finding
from finbot.domain.audit import AuditRecord, DecisionSearch
from finbot.domain.breakers import StoredBreaker
from finbot.domain.clock import now_us
from finbot.domain.decisions import Outcome, Stage
from finbot.domain.errors import ConfigurationError, Forbidden, NotFound
from finbot.domain.invoices import Invoice, InvoiceStatus
from finbot.domain.ledger import Account, Transfer
from finbot.domain.payments import Saga, SagaStep, accrual_id
from finbot.domain.policy import Policy
from finbot.domain.reviews import Review, ReviewItem
from finbot.domain.timeline import Entry, PaymentLine, decided, paid, payment_line, submitted
from finbot.domain.users import Permission, Principal, sandbox_tenant
from finbot.domain.vendors import Author, Message, Note, Vendor
from finbot.domain.workflows import workflow_id
from finbot.services.assistant import VendorAssistant
from finbot.services.audit import AuditLog, ChainReport
from finbot.services.breakers import BreakerService, BreakerStatus
from finbot.services.ledger import UowFactory
from finbot.services.models import AgentModel, ModelCatalogue
from finbot.services.policies import PolicyStore, PolicyVersion
from finbot.services.ports import UnitOfWork
from finbot.services.privacy import Erasure, PrivacyService
from finbot.services.retry import retrying
from finbot.services.reviews import QueueDepth, ReviewService
from finbot.services.workflows import VendorWork

if TYPE_CHECKING:
    from finbot.fraud.metadata import ModelInfo

P = Permission
_Part = TypeVar("_Part")


class LedgerReads(Protocol):
    def accounts(self) -> list[Account]: ...
    def account(self, code: str) -> Account: ...
    def posted_balance_at(self, account: Account, at_us: int) -> int: ...
    def history(self, account: Account | None = None, *, after_seq: int = 0,
                limit: int = 100, newest_first: bool = False) -> list[Transfer]: ...


@dataclass(frozen=True)
class Trail:
    """A decision as staff see it: the record, its reviews and the queue item if any."""

    record: AuditRecord
    reviews: list[Review]
    item: ReviewItem | None


@dataclass(frozen=True)
class InvoiceTrail:
    """An invoice as staff see it: its decisions, payments and ledger transfers. Transfers
    and account codes are empty unless the caller reads the ledger (``ledger``)."""

    invoice: Invoice
    decisions: list[Trail]
    payments: list[tuple[Saga, list[SagaStep]]]
    transfers: list[Transfer]
    accounts: dict[int, str]
    ledger: bool


@dataclass(frozen=True)
class Overview:
    invoices_by_status: dict[str, int]
    queue: QueueDepth
    events: dict[str, int]
    breakers: list[BreakerStatus]


class Scope:
    """One principal's view of FinBot for one request."""

    def __init__(self, principal: Principal, *, uow: UowFactory, ledger: LedgerReads,
                 work: VendorWork, reviews: ReviewService, policies: PolicyStore,
                 breakers: BreakerService, assistant: VendorAssistant,
                 home_tenant: str = "default",
                 audit: AuditLog | None = None, models: ModelCatalogue | None = None,
                 privacy: PrivacyService | None = None) -> None:
        """``audit`` and ``models`` serve the staff portal's chain check and model pages,
        ``privacy`` its vendor erasure."""
        self.principal = principal
        self._uow = uow
        self._ledger = ledger
        self._work = work
        self._reviews = reviews
        self._policies = policies
        self._breakers = breakers
        self._home = home_tenant
        self._assistant = assistant
        self._audit = audit
        self._models = models
        self._privacy = privacy

    # vendors ---------------------------------------------------------------------------

    def vendor(self, vendor_id: str) -> Vendor:
        """A vendor the caller may read; NotFound for any other."""
        with self._uow() as uow:
            return self._visible_vendor(uow, vendor_id)

    def vendors(self, *, after: str = "", limit: int = 50) -> list[Vendor]:
        with self._uow() as uow:
            return uow.vendors.page(tenant=self.principal.tenant, vendor_ids=self._only(),
                                    after=after, limit=limit)

    def register_vendor(self, vendor: Vendor) -> Vendor:
        """A vendor user registers a vendor of their tenant and becomes its member."""
        self.principal.require(P.OWN_VENDORS)
        return self._work.register_vendor(
            replace(vendor, tenant=self.principal.tenant),
            members=(self.principal.user_id,))

    def add_note(self, vendor_id: str, text: str) -> Note:
        """A vendor user writes to accounts payable about one of their vendors."""
        with self._uow() as uow:
            self._acting_for(uow, vendor_id)
        return self._work.add_note(vendor_id, text, author=Author.VENDOR,
                                   author_id=self.principal.user_id)

    def notes(self, vendor_id: str, *, limit: int = 50) -> list[Note]:
        """A vendor's notes, oldest first. A vendor user reads only what vendors wrote: an
        agent's note holds what the gate recorded and a reviewer's their rationale, which
        would teach a vendor where the limits are."""
        with self._uow() as uow:
            self._visible_vendor(uow, vendor_id)
            notes = uow.vendors.notes(vendor_id, limit=limit)
        if self.principal.can(P.ALL_VENDORS):
            return notes
        return [note for note in notes if note.author is Author.VENDOR]

    def change_bank_details(self, vendor_id: str, **details: str) -> None:
        with self._uow() as uow:
            self._acting_for(uow, vendor_id)
        self._work.change_bank_details(vendor_id, **details)

    # invoices --------------------------------------------------------------------------

    def invoices(self, *, vendor_id: str | None = None, before: tuple[int, str] | None = None,
                 limit: int = 50) -> list[Invoice]:
        with self._uow() as uow:
            if vendor_id is not None:
                self._visible_vendor(uow, vendor_id)
            only = {vendor_id} if vendor_id is not None else self._only()
            return uow.invoices.page(tenant=self.principal.tenant, vendor_ids=only,
                                     before=before, limit=limit)

    def submit_invoice(self, invoice: Invoice) -> Invoice:
        """A vendor user submits an invoice of one of their vendors."""
        def submit() -> Invoice:
            with self._uow() as uow:
                stored = self.submit_invoice_in(uow, invoice)
                uow.commit()
            return stored
        return retrying(submit)

    def submit_invoice_in(self, uow: UnitOfWork, invoice: Invoice) -> Invoice:
        """``submit_invoice`` in the caller's transaction, which the caller commits (the
        submission and the request's idempotency key in one commit)."""
        vendor = self._acting_for(uow, invoice.vendor_id)
        return self._work.submit_invoice_in(uow, invoice, vendor)

    def timeline(self, invoice_id: str) -> tuple[Invoice, list[Entry]]:
        """The invoice and its history in plain words, oldest first."""
        with self._uow() as uow:
            invoice = self._visible_invoice(uow, invoice_id)
            entries = [submitted(invoice.submitted_at_us)]
            for step in uow.workflows.of_workflow(workflow_id("invoice", invoice_id)):
                entry = _step_entry(uow, step.decision_id)
                if entry is not None:
                    entries.append(entry)
        if invoice.status is InvoiceStatus.PAID:
            entries.append(paid(max(e.at_us for e in entries)))
        return invoice, sorted(entries, key=lambda e: e.at_us)

    # the vendor portal: payments, conversations and the assistant ----------------------

    def payments(self, *, limit: int = 100) -> list[PaymentLine]:
        """The caller's invoices approved, scheduled or paid, latest change first, with
        when each should be paid or when it was."""
        with self._uow() as uow:
            rows = uow.invoices.in_payment(tenant=self.principal.tenant,
                                           vendor_ids=self._only(), limit=limit)
        return [payment_line(invoice, status_changed_at_us=at) for invoice, at in rows]

    def messages(self, vendor_id: str, *, limit: int = 50) -> list[Message]:
        """A vendor's latest messages, oldest first: the platform's notifications, the
        vendor's questions and the assistant's answers."""
        with self._uow() as uow:
            self._visible_vendor(uow, vendor_id)
            return uow.vendors.messages(vendor_id, limit=limit)

    def start_chat(self, vendor_id: str) -> str:
        """A new conversation with the vendor assistant, for a member of ``vendor_id``."""
        with self._uow() as uow:
            self._acting_for(uow, vendor_id)
        return self._assistant.start(vendor_id)

    def ask_assistant(self, vendor_id: str, text: str, *,
                      conversation_id: str) -> Iterator[str | ChatTurn]:
        """Ask the vendor assistant as ``vendor_id`` (members only, so nobody chats as
        another vendor): the question is stored at once, then the reply streams (text
        deltas, then the whole turn)."""
        with self._uow() as uow:
            self._acting_for(uow, vendor_id)
        return self._assistant.ask(vendor_id, text, conversation_id=conversation_id)

    # decisions and reviews -------------------------------------------------------------

    def decision(self, decision_id: str) -> Trail:
        """A decision record with its reviews, for staff who read decisions."""
        self.principal.require(P.DECISIONS_READ)
        with self._uow() as uow:
            record = uow.audit.by_id(decision_id)
            if record is None or record.kind not in _REVIEWABLE or not self._sees_vendor(
                    uow, _vendor_of(record)):
                raise NotFound(f"no decision {decision_id!r}", field="decision_id")
            return Trail(record, uow.reviews.reviews_of(decision_id),
                         uow.reviews.get(decision_id))

    def review_queue(self, *, after: tuple[int, int, str] | None = None,
                     limit: int = 50) -> list[ReviewItem]:
        self.principal.require(P.DECISIONS_READ)
        with self._uow() as uow:
            return uow.reviews.pending_in(self.principal.tenant, limit=limit, after=after)

    def overview(self) -> Overview:
        """The dashboard's figures for the caller's tenant: invoices by status and the
        review queue's depth; the platform's event backlog and breakers for home-tenant
        staff."""
        self.principal.require(P.DECISIONS_READ)
        tenant = self.principal.tenant
        home = tenant == self._home
        with self._uow() as uow:
            statuses = uow.invoices.counts_by_status(tenant=tenant)
            pending, overdue = uow.reviews.counts(now_us(), tenant=tenant)
            backlog = uow.outbox.stats() if home else {}
        return Overview(statuses, QueueDepth(pending, overdue), backlog,
                        self.breakers() if home else [])

    def review(self, decision_id: str, *, verdict: str, rationale: str) -> ReviewItem:
        """The caller's verdict on an escalation of their tenant."""
        self.principal.require(P.REVIEW)
        self.decision(decision_id)
        return self._reviews.review(decision_id, reviewer_id=self.principal.user_id,
                                    verdict=verdict, rationale=rationale)

    # ledger ----------------------------------------------------------------------------

    def accounts(self) -> list[Account]:
        every = self._ledger.accounts()
        visible = self._visible_accounts([a.code for a in every])
        return [a for a in every if a.code in visible]

    def account(self, code: str) -> Account:
        if not self._visible_accounts([code]):
            raise NotFound(f"no account {code!r}", field="code")
        return self._ledger.account(code)

    def transfers(self, *, account: str | None = None, after_seq: int = 0,
                  limit: int = 100) -> list[Transfer]:
        """Transfers after ``after_seq``: of one visible account, or all for ledger readers
        of the home tenant."""
        if account is None:
            self._require_ledger()
            return self._ledger.history(after_seq=after_seq, limit=limit)
        return self._ledger.history(self.account(account), after_seq=after_seq, limit=limit)

    def _require_ledger(self) -> None:
        self._home_staff(P.LEDGER_READ)

    def _visible_accounts(self, codes: Collection[str]) -> set[str]:
        """Those of ``codes`` the caller may read: a vendor's accounts with the vendor (one
        lookup of their tenants), the company's with the home tenant's ledger readers."""
        owners = {code: _vendor_of_account(code) for code in codes}
        vendor_ids = {v for v in owners.values() if v is not None}
        with self._uow() as uow:
            tenants = uow.vendors.tenants_of(vendor_ids) if vendor_ids else {}
        company = self.principal.can(P.LEDGER_READ) and self.principal.tenant == self._home

        def readable(vendor_id: str | None) -> bool:
            if vendor_id is None:
                return company
            tenant = tenants.get(vendor_id)
            return tenant is not None and self.principal.may_see_vendor(vendor_id, tenant)
        return {code for code, vendor_id in owners.items() if readable(vendor_id)}

    # the platform: policy and breakers belong to the home tenant ------------------------

    def policy(self, version: str | None = None) -> tuple[str, str, dict[str, Any]]:
        self._home_staff(P.POLICY_READ)
        return self._policies.document(version)

    def publish_policy(self, data: Mapping[str, Any]) -> Policy:
        self._home_staff(P.POLICY_PUBLISH)
        return self._policies.publish(data, by=self.principal.user_id)

    def breakers(self) -> list[BreakerStatus]:
        self._home_staff(P.DECISIONS_READ)
        return self._breakers.status()

    def set_breaker(self, agent_id: str, *, open_: bool, reason: str) -> StoredBreaker:
        """Trip (``open_``) or reset an agent's breaker by hand, with the reason logged."""
        self._home_staff(P.BREAKERS_MANAGE)
        reason = f"{reason.strip()} (by {self.principal.user_id})"
        if open_:
            return self._breakers.trip(agent_id, reason)
        return self._breakers.reset(agent_id, reason)

    def _home_staff(self, permission: Permission) -> None:
        self.principal.require(permission)
        if self.principal.tenant != self._home:
            raise Forbidden("only the operating tenant manages the platform", field="tenant")

    # the staff portal: invoice trails, decision search, the chain, ledger and models ----

    def invoice_trail(self, invoice_id: str) -> InvoiceTrail:
        """Everything an invoice caused, for staff: each decision with its reviews, each
        payment saga with its steps, and (for the operating tenant's ledger readers) the
        ledger transfers the executor wrote for it."""
        self.principal.require(P.DECISIONS_READ)
        with self._uow() as uow:
            invoice = self._visible_invoice(uow, invoice_id)
            steps = uow.workflows.of_workflow(workflow_id("invoice", invoice_id))
            trails = [Trail(record, uow.reviews.reviews_of(record.record_id),
                            uow.reviews.get(record.record_id))
                      for record in _decision_records(uow, [s.decision_id for s in steps])]
            payments, transfers = decision_money(uow, trails)
            ledger = self._reads_ledger()
            transfers = transfers if ledger else []
        return InvoiceTrail(invoice, trails, payments, transfers,
                            self._account_codes() if ledger else {}, ledger)

    def staff_vendors(self, *, after: str = "", limit: int = 50) -> list[Vendor]:
        """The tenant's vendors, for staff who read every vendor."""
        self.principal.require(P.ALL_VENDORS)
        return self.vendors(after=after, limit=limit)

    def staff_vendor(self, vendor_id: str) -> Vendor:
        self.principal.require(P.ALL_VENDORS)
        return self.vendor(vendor_id)

    def erase_vendor(self, vendor_id: str) -> Erasure:
        """Crypto-shred a vendor of the caller's tenant (admins only), recorded as theirs."""
        self.principal.require(P.VENDORS_ERASE)
        self.vendor(vendor_id)
        return _needed(self._privacy, "erasure").erase_vendor(
            vendor_id, by=self.principal.user_id)

    def sharing_bank_details(self, vendor: Vendor) -> list[str]:
        """The vendors of the caller's tenant sharing ``vendor``'s bank account or tax id."""
        self.principal.require(P.ALL_VENDORS)
        with self._uow() as uow:
            return uow.vendors.sharing_bank_details(vendor)

    def find_decisions(self, search: DecisionSearch, *, before_seq: int | None = None,
                       limit: int = 50) -> list[AuditRecord]:
        """The caller's tenant's decisions matching ``search``, newest first."""
        self.principal.require(P.DECISIONS_READ)
        with self._uow() as uow:
            return uow.audit.decisions(self.principal.tenant, search, before_seq=before_seq,
                                       limit=limit)

    def verify_chain(self) -> ChainReport:
        """Re-hash the whole audit chain (the platform's, so the operating tenant's)."""
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._audit, "the audit log").report()

    def ledger_accounts(self) -> list[Account]:
        """The accounts a ledger reader sees (the company's for the operating tenant)."""
        self.principal.require(P.LEDGER_READ)
        return self.accounts()

    def ledger_account(self, code: str, *, at_us: int | None = None) -> tuple[Account,
                                                                               int | None]:
        """A visible account for a ledger reader, with its posted balance (minor units)
        just after ``at_us`` when asked."""
        self.principal.require(P.LEDGER_READ)
        account = self.account(code)
        at = None if at_us is None else self._ledger.posted_balance_at(account, at_us)
        return account, at

    def policy_versions(self) -> list[PolicyVersion]:
        self._home_staff(P.POLICY_READ)
        return self._policies.versions()

    def fraud_models(self) -> list[ModelInfo]:
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._models, "the model catalogue").fraud_models()

    def fraud_model(self, version: str) -> tuple[ModelInfo, str]:
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._models, "the model catalogue").fraud_model(version)

    def agent_models(self) -> list[AgentModel]:
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._models, "the model catalogue").agents()

    def agent_cards(self) -> list[str]:
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._models, "the model catalogue").agent_cards()

    def agent_card(self, key: str) -> str:
        self._home_staff(P.DECISIONS_READ)
        return _needed(self._models, "the model catalogue").agent_card(key)

    def _reads_ledger(self) -> bool:
        return self.principal.can(P.LEDGER_READ) and self.principal.tenant == self._home

    def _account_codes(self) -> dict[int, str]:
        return {account.id: account.code for account in self._ledger.accounts()}

    # the arena: the watch's findings -----------------------------------------------------

    def arena_findings(self, *, before: tuple[int, str] | None = None,
                       limit: int = 50) -> list[Finding]:
        """Arena findings, newest first: staff read their tenant's, an arena player only
        their own sandbox's (never the findings about the tenant's real vendors); a vendor
        user none (Forbidden)."""
        if self.principal.can(P.DECISIONS_READ):
            tenant = self.principal.tenant
        elif self.principal.can(P.ARENA_PLAY):
            tenant = sandbox_tenant(self.principal.user_id)
        else:
            raise Forbidden("arena findings are for staff and arena players", field="role")
        with self._uow() as uow:
            return uow.findings.page(tenant, before=before, limit=limit)

    def most_serious_findings(self, *, limit: int = 10) -> list[Finding]:
        """The tenant's latest findings, critical first, for the staff dashboard."""
        self.principal.require(P.DECISIONS_READ)
        with self._uow() as uow:
            return uow.findings.most_serious(self.principal.tenant, limit=limit)

    # the checks ------------------------------------------------------------------------

    def _only(self) -> Collection[str] | None:
        """The vendor ids a vendor user is limited to; None for staff of the tenant."""
        if self.principal.can(P.ALL_VENDORS):
            return None
        return self.principal.vendors if self.principal.can(P.OWN_VENDORS) else ()

    def _sees_vendor(self, uow: UnitOfWork, vendor_id: str | None) -> bool:
        tenant = uow.vendors.tenants_of([vendor_id]).get(vendor_id) if vendor_id else None
        return tenant is not None and self.principal.may_see_vendor(vendor_id or "", tenant)

    def _visible_vendor(self, uow: UnitOfWork, vendor_id: str) -> Vendor:
        vendor = uow.vendors.get(vendor_id)
        if vendor is None or not self.principal.may_see_vendor(vendor_id, vendor.tenant):
            raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
        return vendor

    def _visible_invoice(self, uow: UnitOfWork, invoice_id: str) -> Invoice:
        invoice = uow.invoices.get(invoice_id)
        if invoice is None or not self.principal.may_see_vendor(invoice.vendor_id,
                                                                invoice.tenant):
            raise NotFound(f"no invoice {invoice_id!r}", field="invoice_id")
        return invoice

    def _acting_for(self, uow: UnitOfWork, vendor_id: str) -> Vendor:
        """The vendor the caller acts for: acting takes membership (staff read vendors,
        they do not act)."""
        self.principal.require(P.OWN_VENDORS)
        vendor = self._visible_vendor(uow, vendor_id)
        if vendor.vendor_id not in self.principal.vendors:
            raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
        return vendor



def _vendor_of_account(code: str) -> str | None:
    """The vendor a ``vendor:<id>:…`` account belongs to; None for the company's."""
    kind, _, rest = code.partition(":")
    return rest.split(":", 1)[0] if kind == "vendor" else None


_REVIEWABLE = frozenset({"decision", "rollback"})
"""The records a review item can stand on: a decision, or a rolled-back case re-queued for a
person to decide again (``finbot rollback``)."""


def _vendor_of(record: AuditRecord) -> str | None:
    payment = record.data.get("payment") or {}
    vendor = payment.get("vendor_id") if isinstance(payment, dict) else None
    vendor = vendor or record.data.get("vendor_id")
    return vendor if isinstance(vendor, str) else None


def _step_entry(uow: UnitOfWork, decision_id: str) -> Entry | None:
    record = uow.audit.by_id(decision_id)
    if record is None or record.kind != "decision":
        return None
    data = record.data
    item = uow.reviews.get(decision_id)
    reviewed = item.status.value if item is not None and item.status.settled else None
    return decided(Stage(data["stage"]), Outcome(data["outcome"]), at_us=record.created_at,
                   decision_id=decision_id, reviewed=reviewed)


# the staff portal's helpers --------------------------------------------------------------

def _needed(part: _Part | None, name: str) -> _Part:
    if part is None:
        raise ConfigurationError(f"this scope was built without {name}")
    return part


def _decision_records(uow: UnitOfWork, decision_ids: list[str]) -> list[AuditRecord]:
    records = [uow.audit.by_id(decision_id) for decision_id in decision_ids]
    return [r for r in records if r is not None and r.kind == "decision"]


def decision_money(uow: UnitOfWork, trails: list[Trail]) -> tuple[
        list[tuple[Saga, list[SagaStep]]], list[Transfer]]:
    """What these decisions did with money: each payment saga with its steps, and the
    ledger transfers the executor wrote for them (an invoice trail, a decision report)."""
    payments = [(saga, uow.sagas.steps(saga.id)) for saga in
                _sagas_of(uow, [t.record.record_id for t in trails])]
    return payments, _transfers_of(uow, trails, payments)


def _sagas_of(uow: UnitOfWork, decision_ids: list[str]) -> list[Saga]:
    sagas = [uow.sagas.by_decision(decision_id) for decision_id in decision_ids]
    return [saga for saga in sagas if saga is not None]


def _transfers_of(uow: UnitOfWork, trails: list[Trail],
                  payments: list[tuple[Saga, list[SagaStep]]]) -> list[Transfer]:
    """The transfers the executor writes for these decisions: the invoice's accrual
    (``accrue:<decision>``) and each saga's reserve, post and void, in ledger order."""
    ids = [accrual_id(t.record.record_id) for t in trails]
    ids += [i for saga, _ in payments for i in (saga.reserve_id, saga.post_id, saga.void_id)]
    found = uow.ledger.transfers_by_id(ids)
    return sorted(found.values(), key=lambda t: (t.seq or 0, t.timestamp))
