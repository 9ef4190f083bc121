"""What a settled payment rests on, read from the records for the ledger-effect check
(``arena.effects``): the red-team run and the arena's live watch gather it the same way.

The payment is the saga as the executor left it; its grounds are the decision record it
names, that decision's reviews, the invoice the decision was about, the invoice's vendor
and the payable account the platform pays that vendor through, the policy version the
decision was made under, the invoice's payments that settled before this one, and the
decisions of the checks on its way (the invoice and fraud agents').
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from finbot.arena.effects import Grounds, SettledPayment
from finbot.domain.money import Currency
from finbot.domain.payments import Saga, SagaState
from finbot.domain.policy import Policy, policy_from_json, policy_from_mapping
from finbot.domain.workflows import workflow_id
from finbot.policy.shipped import shipped_policy
from finbot.services.orchestrator import payable_account
from finbot.services.ports import UnitOfWork

_INVOICE = "invoice:"


def grounds_of(uow: UnitOfWork, saga: Saga) -> tuple[SettledPayment, Grounds]:
    """``saga`` as the payment the ledger-effect check judges, and what it rests on."""
    decision_id = saga.decision_id or ""
    record = uow.audit.by_id(decision_id) if decision_id else None
    decision = record.data if record is not None and record.kind == "decision" else None
    reviews = [(str(r.data.get("reviewer")), str(r.data.get("verdict")))
               for r in uow.audit.for_decision(decision_id) if r.kind == "review"]
    invoice_id = _invoice_of(decision_id, decision)
    invoice = uow.invoices.get(invoice_id) if invoice_id else None
    vendor_id = invoice.vendor_id if invoice else str(_paying(decision).get("vendor_id", ""))
    amount = Decimal(saga.amount).scaleb(-Currency.of(saga.currency).exponent)
    payment = SettledPayment(saga.id, saga.decision_id, invoice_id, saga.payee_account,
                             amount, saga.currency)
    return payment, Grounds(
        decision, reviews, invoice, uow.vendors.get(vendor_id) if vendor_id else None,
        payable_account(vendor_id, saga.currency) if vendor_id else "",
        _policy_of(uow, decision), _earlier_payments(uow, saga, invoice_id),
        _checks(uow, invoice_id))


def _checks(uow: UnitOfWork, invoice_id: str) -> list[dict[str, Any]]:
    """The decision records of the invoice workflow's checks (invoice, then fraud)."""
    if not invoice_id:
        return []
    found = (uow.audit.by_id(f"{workflow_id('invoice', invoice_id)}:{step}")
             for step in ("invoice", "fraud"))
    return [record.data for record in found if record is not None and record.kind == "decision"]


def _paying(decision: dict[str, Any] | None) -> dict[str, Any]:
    payment = (decision or {}).get("payment")
    return payment if isinstance(payment, dict) else {}


def _invoice_of(decision_id: str, decision: dict[str, Any] | None) -> str:
    """The invoice the decision names, else the one its id names (invoice:<id>:<step>)."""
    named = _paying(decision).get("invoice_id")
    if isinstance(named, str) and named:
        return named
    workflow, _, _ = decision_id.rpartition(":")
    return workflow.removeprefix(_INVOICE) if workflow.startswith(_INVOICE) else ""


def _policy_of(uow: UnitOfWork, decision: dict[str, Any] | None) -> Policy:
    """The policy version the decision was made under; the current one when the decision
    names none, the shipped one when none was ever published."""
    version = ((decision or {}).get("policy") or {}).get("version")
    found = uow.policies.get(version) if isinstance(version, str) else None
    found = found or uow.policies.latest()
    if found is None:
        return policy_from_mapping("shipped", shipped_policy())
    return policy_from_json(found[0], found[2])


def _earlier_payments(uow: UnitOfWork, saga: Saga, invoice_id: str) -> list[str]:
    """The invoice's other payments that settled no later than ``saga`` (paying any
    decision of its workflow)."""
    if not invoice_id:
        return []
    return [other.id for other in uow.sagas.of_workflow(workflow_id("invoice", invoice_id))
            if other.id != saga.id and other.state is SagaState.COMPLETED
            and other.updated_at <= saga.updated_at]
