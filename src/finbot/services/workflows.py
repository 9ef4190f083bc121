"""What vendors do (register, submit invoices, write notes, change bank details) and how
the orchestrator reacts to events: each use case commits its change and the event
announcing it; the orchestrator's handler turns events into the workflow's next durable
step, in the consumer's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any

from finbot.domain.clock import now_us
from finbot.domain.decisions import Outcome, Stage
from finbot.domain.errors import Conflict, InvalidInput, NotFound
from finbot.domain.events import Event
from finbot.domain.invoices import Invoice, InvoiceStatus, PurchaseOrder
from finbot.domain.money import Money
from finbot.domain.payments import SagaState
from finbot.domain.vendors import Author, Note, Vendor, VendorStatus
from finbot.domain.workflows import (
    FIRST_STEP,
    PAID,
    REJECTED_BY_REVIEW,
    Step,
    Transition,
    after,
    moves_forward,
    workflow_id,
)
from finbot.services.events import Handler, Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying
from finbot.services.screening import screen_in

ORCHESTRATED = frozenset({"vendor.registered", "invoice.submitted", "decision.recorded",
                          "escalation.approved", "review.recorded", "payment.settled"})
"""The event types the orchestrator consumes."""


class VendorWork:
    """The vendor-facing use cases: each one transaction with its event."""

    def __init__(self, uow: UowFactory, *, outbox: Outbox | None = None,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox or Outbox(clock=clock)
        self._clock = clock

    def register_vendor(self, vendor: Vendor, *, members: Collection[str] = ()) -> Vendor:
        """Record a new vendor (pending) with the users who act for it (``members``) and
        announce it; onboarding follows."""
        vendor = _stamped_vendor(vendor, self._clock())

        def register() -> Vendor:
            with self._uow() as uow:
                if uow.vendors.get(vendor.vendor_id) is not None:
                    raise Conflict(f"vendor {vendor.vendor_id!r} is already registered",
                                   field="vendor_id")
                uow.vendors.add(vendor)
                screen_in(uow, self._outbox, surface="vendor_profile",
                          subject_id=vendor.vendor_id, vendor_id=vendor.vendor_id,
                          tenant=vendor.tenant, texts=(vendor.profile, vendor.website))
                for user_id in members:
                    uow.reviews.add_member(user_id, vendor.vendor_id, vendor.created_at_us)
                self._outbox.emit_in(uow, "vendor.registered", vendor.vendor_id,
                                     {"vendor_id": vendor.vendor_id}, tenant=vendor.tenant)
                uow.commit()
            return vendor
        return retrying(register)

    def submit_invoice(self, invoice: Invoice) -> Invoice:
        """Record a submitted invoice and announce it; its workflow follows. Resubmitting
        the same id with the same content returns the first; different content conflicts."""
        def submit() -> Invoice:
            with self._uow() as uow:
                vendor = uow.vendors.get(invoice.vendor_id)
                if vendor is None:
                    raise NotFound(f"no vendor {invoice.vendor_id!r}", field="vendor_id")
                stored = self.submit_invoice_in(uow, invoice, vendor)
                uow.commit()
            return stored
        return retrying(submit)

    def submit_invoice_in(self, uow: UnitOfWork, invoice: Invoice, vendor: Vendor) -> Invoice:
        """``submit_invoice`` for ``vendor`` (as the caller read it) inside the caller's
        transaction, which the caller commits (with whatever else belongs in the same
        commit, such as the request's idempotency key). An id another vendor's invoice
        holds is reported as taken, without saying whose."""
        stored = _stamped_invoice(invoice, vendor, self._clock())
        if not uow.invoices.add(stored):  # the id is taken: a repeat, or someone else's
            existing = uow.invoices.get(invoice.invoice_id)
            if existing is None or existing.vendor_id != invoice.vendor_id:
                raise NotFound(f"invoice id {invoice.invoice_id!r} is taken; choose another",
                               code="invoice_id_taken", field="invoice_id")
            return _same_invoice(existing, invoice)
        screen_in(uow, self._outbox, surface="invoice", subject_id=stored.invoice_id,
                  vendor_id=stored.vendor_id, tenant=stored.tenant,
                  texts=(stored.text, *(line.description for line in stored.lines)))
        self._outbox.emit_in(uow, "invoice.submitted", stored.invoice_id, {
            "invoice_id": stored.invoice_id, "vendor_id": stored.vendor_id,
            "amount": str(stored.amount), "currency": stored.currency}, tenant=stored.tenant)
        return stored

    def add_purchase_order(self, po: PurchaseOrder) -> None:
        Money.of(po.amount, po.currency)
        with self._uow() as uow:
            vendor = uow.vendors.get(po.vendor_id)
            if vendor is None:
                raise NotFound(f"no vendor {po.vendor_id!r}", field="vendor_id")
            if uow.vendors.po(po.po_number) is not None:
                raise Conflict(f"purchase order {po.po_number!r} exists", field="po_number")
            uow.vendors.add_po(po, tenant=vendor.tenant, now_us=self._clock())
            uow.commit()

    def add_note(self, vendor_id: str, text: str, *, author: Author, author_id: str) -> Note:
        """Remember a note about a vendor with who wrote it (a vendor's note stays marked
        as the vendor's whatever it says)."""
        note = Note(vendor_id, author, author_id, text, self._clock())
        with self._uow() as uow:
            vendor = uow.vendors.get(vendor_id)
            if vendor is None:
                raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
            uow.vendors.add_note(note)
            if author is Author.VENDOR:
                screen_in(uow, self._outbox, surface="vendor_note", subject_id=vendor_id,
                          vendor_id=vendor_id, tenant=vendor.tenant, texts=(text,))
            uow.commit()
        return note

    def change_bank_details(self, vendor_id: str, *, iban: str = "", bic: str = "",
                            routing_number: str = "", account_number: str = "") -> None:
        """New bank details; the change date starts the gate's cooling-off period."""
        if not iban and not account_number:
            raise InvalidInput("new bank details need an IBAN or an account number",
                               field="iban")
        with self._uow() as uow:
            if uow.vendors.get(vendor_id) is None:
                raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
            uow.vendors.change_bank(vendor_id, iban=iban, bic=bic,
                                    routing_number=routing_number,
                                    account_number=account_number, now_us=self._clock())
            self._outbox.emit_in(uow, "vendor.bank_changed", vendor_id,
                                 {"vendor_id": vendor_id})
            uow.commit()


def orchestrate(*, outbox: Outbox, clock: Callable[[], int] = now_us) -> Handler:
    """The orchestrator's handler: the next step of each workflow, as events arrive."""
    def handle(uow: UnitOfWork, event: Event) -> None:
        payload = event.payload
        if event.type == "vendor.registered":
            _schedule(uow, "onboarding", str(payload["vendor_id"]), event.tenant, clock())
        elif event.type == "invoice.submitted":
            _schedule(uow, "invoice", str(payload["invoice_id"]), event.tenant, clock())
        elif event.type == "decision.recorded" and event.version >= 2:
            _advance(uow, outbox, str(payload["decision_id"]), str(payload["outcome"]), clock(),
                     stage=Stage(payload["stage"]))
        elif event.type == "escalation.approved":
            _advance(uow, outbox, str(payload["decision_id"]), Outcome.APPROVE, clock())
        elif event.type == "review.recorded" and payload.get("status") == "rejected":
            _advance(uow, outbox, str(payload["decision_id"]), None, clock())
        elif event.type == "payment.settled" and payload["state"] == SagaState.COMPLETED:
            _paid(uow, outbox, str(payload["decision_id"]), clock())
    return handle


def _paid(uow: UnitOfWork, outbox: Outbox, decision_id: str, now: int) -> None:
    """The invoice whose payment decision was paid is paid (a payment made outside a
    workflow is not the orchestrator's)."""
    step = _workflow_step(uow, decision_id)
    if step is not None and step.kind == "invoice" and _stage_of(uow, decision_id):
        _set_status(uow, outbox, step, PAID, now)


def _schedule(uow: UnitOfWork, kind: Any, subject_id: str, tenant: str, now: int) -> None:
    uow.workflows.schedule(Step(workflow_id(kind, subject_id), FIRST_STEP[kind], subject_id,
                                tenant), now_us=now)


def _advance(uow: UnitOfWork, outbox: Outbox, decision_id: str, outcome: Outcome | str | None,
             now: int, *, stage: Stage | None = None) -> None:
    """Move the workflow a step decision belongs to; decisions made outside a workflow
    (a payment decided by hand, a drill) are not the orchestrator's. ``stage``: the
    decision's, as its decision.recorded event carries it (written in the record's own
    transaction); otherwise it is read from the record."""
    step = _workflow_step(uow, decision_id)
    stage = stage or (_stage_of(uow, decision_id) if step is not None else None)
    if step is None or stage is None:
        return
    move = REJECTED_BY_REVIEW if outcome is None else after(stage, outcome)
    # A move that opens the next step for the first time is news even where its status
    # ranks lower (an escalation approved: escalated -> validated); any other one must not
    # take the subject back.
    opens = move.next_step is not None and uow.workflows.get(
        step.workflow_id, move.next_step) is None
    _set_status(uow, outbox, step, move, now, forward_only=not opens)
    if move.next_step is not None:
        uow.workflows.schedule(Step(step.workflow_id, move.next_step, step.subject_id,
                                    step.tenant), now_us=now)


def _workflow_step(uow: UnitOfWork, decision_id: str) -> Step | None:
    """The workflow step ``decision_id`` decides (its id is ``workflow:step``), if any."""
    workflow, _, name = decision_id.rpartition(":")
    return uow.workflows.get(workflow, name) if workflow else None


def _stage_of(uow: UnitOfWork, decision_id: str) -> Stage | None:
    """The stage of the logged decision ``decision_id``; None if there is none."""
    record = uow.audit.by_id(decision_id)
    if record is None or record.kind != "decision":
        return None
    stage = record.data.get("stage")
    return Stage(stage) if stage is not None else None


def _set_status(uow: UnitOfWork, outbox: Outbox, step: Step, move: Transition,
                now: int, *, forward_only: bool = True) -> None:
    if step.kind == "onboarding":
        status = VendorStatus(move.status)
        vendor = uow.vendors.get(step.subject_id)
        if vendor is None or (forward_only and not moves_forward(vendor.status.value,
                                                                 status.value)):
            return
        uow.vendors.set_status(step.subject_id, status)
        outbox.emit_in(uow, "vendor.status_changed", step.subject_id, {
            "vendor_id": step.subject_id, "status": status.value}, tenant=step.tenant)
        return
    invoice = uow.invoices.get(step.subject_id)
    if invoice is None or (forward_only and not moves_forward(invoice.status.value,
                                                              move.status)):
        return
    invoice_status = InvoiceStatus(move.status)
    uow.invoices.set_status(invoice.invoice_id, invoice_status, now)
    outbox.emit_in(uow, "invoice.status_changed", invoice.invoice_id, {
        "invoice_id": invoice.invoice_id, "vendor_id": invoice.vendor_id,
        "status": invoice_status.value}, tenant=invoice.tenant)


def _stamped_vendor(vendor: Vendor, now: int) -> Vendor:
    return replace(vendor, status=VendorStatus.PENDING, created_at_us=vendor.created_at_us or now,
                   vendor_id=vendor.vendor_id or f"v-{uuid.uuid4().hex[:12]}")


def _stamped_invoice(invoice: Invoice, vendor: Vendor, now: int) -> Invoice:
    return replace(invoice, status=InvoiceStatus.SUBMITTED, tenant=vendor.tenant,
                   submitted_at_us=invoice.submitted_at_us or now)


def _same_invoice(existing: Invoice, wanted: Invoice) -> Invoice:
    fields: Mapping[str, Any] = {"number": wanted.number, "amount": wanted.amount,
                                 "currency": wanted.currency, "vendor_id": wanted.vendor_id}
    if any(getattr(existing, name) != value for name, value in fields.items()):
        raise Conflict(f"invoice {existing.invoice_id!r} was submitted with other details",
                       field="invoice_id")
    return existing
