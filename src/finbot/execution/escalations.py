"""Approved payment decisions flow on to execution: the executor's handler for
``decision.recorded`` (an APPROVE at the payment stage) and ``escalation.approved`` (an
escalated payment that reviewers approved).

A payment leaves from the configured source account when it holds the payment's currency,
else from its counterpart in that currency (``company:bank:EUR`` beside ``company:bank``),
which must have been opened and funded: FinBot never opens a bank account by itself. The
expense and payable accounts are bookkeeping and are opened in the currency on first use.

Each tenant pays from its own money: the operating (home) tenant from the configured
accounts, any other tenant (an arena sandbox, say) from its own counterparts,
``<tenant>:company:bank``, which must have been opened and funded for it. The tenant is
the payee vendor's, read from the vendor record; a tenant with no funded account is
refused, never paid from another tenant's.

The handler starts the payment saga in the consumer's transaction (so the event is marked
handled exactly when the saga exists); the background rounds then run it. What to pay is
read from the decision record in the audit log, never from the event, and the saga start
re-checks the approval there (``check_approved``). The payment id is derived from the
decision, so a redelivered event matches the saga already started. Decisions that are not
payments (onboarding, invoice and fraud checks), drills, shadow decisions and anything
but an APPROVE are not this handler's business and pass untouched, and so are decisions
that were rolled back before their payment started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from finbot.domain.audit import AuditRecord
from finbot.domain.clock import now_us
from finbot.domain.decisions import Mode
from finbot.domain.errors import ExecutionRefused, NotFound
from finbot.domain.events import Event
from finbot.domain.ledger import (
    AccountFlag,
    AccountType,
    ResultCode,
    TransferRequest,
    currency_account_code,
    tenant_account,
)
from finbot.domain.payments import accrual_id
from finbot.domain.posting import Group
from finbot.execution.approval import rolled_back
from finbot.execution.saga import PaymentExecutor
from finbot.observability.tracing import span
from finbot.services.events import Handler
from finbot.services.ledger import LedgerService
from finbot.services.ports import UnitOfWork

logger = logging.getLogger(__name__)


def payment_id_of(decision_id: str) -> str:
    """The payment (saga) id that pays ``decision_id``."""
    return f"pay-{decision_id}"


def pay_approved_decisions(payments: PaymentExecutor, *, source_account: str,
                           ledger: LedgerService | None = None,
                           expense_account: str = "company:expenses",
                           home_tenant: str = "default") -> Handler:
    """A handler that starts the payment of each approved payment decision. A decision
    that pays an invoice first accrues it (expense debited, the vendor's payable credited)
    in the same transaction, opening the payable account on the vendor's first payment."""
    def handle(uow: UnitOfWork, event: Event) -> None:
        decision_id = str(event.payload["decision_id"])
        record = uow.audit.by_id(decision_id)
        if record is None or not _pays(record, event) or uow.sagas.by_decision(decision_id):
            return
        if rolled_back(uow, decision_id):
            return
        payment = record.data.get("payment") or {}
        if not payment.get("payee_account"):
            raise ExecutionRefused(f"decision {decision_id!r} names no payee account",
                                   field="payee_account")
        currency = str(payment["currency"])
        vendor = uow.vendors.get(str(payment.get("vendor_id", "")))
        tenant = vendor.tenant if vendor is not None else home_tenant
        own_source = tenant_account(source_account, tenant, home_tenant=home_tenant)
        source = _in_currency(uow, own_source, currency)
        if source is None:
            raise ExecutionRefused(
                f"no {currency} account to pay from: open and fund "
                f"{currency_account_code(own_source, currency)!r} (an asset account in "
                f"{currency}), then replay the event to the executor (finbot events replay)",
                field="source_account")
        if ledger is not None and payment.get("invoice_id"):
            _accrue(uow, ledger, decision_id, payment,
                    tenant_account(expense_account, tenant, home_tenant=home_tenant))
        payments.start_in(uow, payment_id_of(decision_id),
                          payee_account=payment["payee_account"],
                          source_account=source, amount=payment["amount"],
                          currency=payment["currency"], decision_id=decision_id)
    return handle




def pay_started(payments: PaymentExecutor) -> Callable[[list[Event]], None]:
    """Told of the events the executor's consumer just committed: run the payments they
    started at once, instead of at the next upkeep round (which still finishes whatever
    this leaves, e.g. after a crash). A failure here is the upkeep's to retry."""
    def after(events: list[Event]) -> None:
        for event in events:
            decision_id = event.payload.get("decision_id")
            if not isinstance(decision_id, str) or not _may_start_a_payment(event):
                continue
            try:
                payments.run(payment_id_of(decision_id))
            except NotFound:
                continue  # this event started no payment
            except Exception:  # the upkeep round resumes it
                logger.warning("payment of %s left to the upkeep round", decision_id,
                               exc_info=True)
    return after


def _may_start_a_payment(event: Event) -> bool:
    """What the event says of itself, before any read: an approved escalation, or an
    approving payment decision (the handler's ``_pays`` decides on the record)."""
    payload = event.payload
    return event.type == "escalation.approved" or (
        payload.get("stage", "payment") == "payment" and payload.get("outcome") == "APPROVE")


def _pays(record: AuditRecord, event: Event) -> bool:
    data = record.data
    if record.kind != "decision" or data.get("stage", "payment") != "payment" or (
            data.get("drill")):
        return False
    if event.type == "escalation.approved":
        return True
    return (event.version >= 2 and data.get("outcome") == "APPROVE"
            and Mode(data.get("mode", "shadow")).executes)


def _in_currency(uow: UnitOfWork, code: str, currency: str) -> str | None:
    """``code`` when it holds ``currency``, else its counterpart in ``currency`` if open."""
    for candidate in (code, currency_account_code(code, currency)):
        account = uow.ledger.account_by_code(candidate)
        if account is not None and account.currency == currency:
            return candidate
    return None


def _accrue(uow: UnitOfWork, ledger: LedgerService, decision_id: str,
            payment: Mapping[str, Any], expense_account: str) -> None:
    payable, currency = str(payment["payee_account"]), str(payment["currency"])
    if uow.ledger.account_by_code(payable) is None:
        uow.ledger.insert_account(code=payable, name=f"Payable to {payment['vendor_id']} "
                                  f"in {currency}", type=AccountType.LIABILITY,
                                  currency=currency,
                                  flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS,
                                  now_us=now_us())
    expense = _in_currency(uow, expense_account, currency)
    if expense is None:
        expense = currency_account_code(expense_account, currency)
        uow.ledger.insert_account(code=expense, name=f"Vendor expenses in {currency}",
                                  type=AccountType.EXPENSE, currency=currency,
                                  flags=AccountFlag.NONE, now_us=now_us())
    request = TransferRequest(accrual_id(decision_id), expense, payable,
                              str(payment["amount"]), currency,
                              reference=f"invoice {payment['invoice_id']}")
    with span("ledger.transfer", **{"finbot.transfer_id": request.id,
                                    "finbot.transfer_kind": "accrual"}) as transfer:
        [[result]] = ledger.plan_in(uow, [Group([request])]).results
        transfer.set_attribute("finbot.ledger_result", result.code.value)
    if result.code not in (ResultCode.OK, ResultCode.EXISTS):
        raise ExecutionRefused(f"the invoice could not be accrued: {result.code.value}",
                               field="amount")
