"""Approved escalations flow on to execution: the executor's handler for
``escalation.approved``.

The handler starts the payment saga in the consumer's transaction (so the event is marked
handled exactly when the saga exists); the background rounds then run it. What to pay is
read from the decision record in the audit log, never from the event, and the saga start
re-checks the approval there (``check_approved``). The payment id is derived from the
decision, so a redelivered event matches the saga already started.
"""

from __future__ import annotations

from finbot.domain.errors import ExecutionRefused
from finbot.domain.events import Event
from finbot.execution.saga import PaymentExecutor
from finbot.services.events import Handler
from finbot.services.ports import UnitOfWork


def pay_approved_escalations(payments: PaymentExecutor, *, source_account: str) -> Handler:
    """A handler that starts the payment of each approved escalation."""
    def handle(uow: UnitOfWork, event: Event) -> None:
        decision_id = str(event.payload["decision_id"])
        record = uow.audit.by_id(decision_id)
        payment = (record.data.get("payment") or {}) if record is not None else {}
        if not payment.get("payee_account"):
            raise ExecutionRefused(f"decision {decision_id!r} names no payee account",
                                   field="payee_account")
        payments.start_in(uow, f"pay-{decision_id}", payee_account=payment["payee_account"],
                          source_account=source_account, amount=payment["amount"],
                          currency=payment["currency"], decision_id=decision_id)
    return handle
