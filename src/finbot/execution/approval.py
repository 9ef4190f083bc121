"""The execution gate: a payment runs only for an approved, matching decision in the log.

Defence in depth: the decision is read back from the audit chain (not taken from the
caller), must be live and APPROVE, must name the same payee, amount and currency, and the
amount must still be within the hard single-payment limit the deciding policy recorded.
"""

from __future__ import annotations

from finbot.domain.errors import ExecutionRefused, FinbotError
from finbot.domain.money import Money
from finbot.domain.payments import Saga
from finbot.services.ports import UnitOfWork


def check_approved(uow: UnitOfWork, saga: Saga) -> None:
    """Raise ExecutionRefused unless the saga's decision allows exactly this payment."""
    if not saga.decision_id:
        raise ExecutionRefused("a payment needs the id of an approved decision",
                               field="decision_id")
    record = uow.audit.by_id(saga.decision_id)
    if record is None or record.kind != "decision":
        raise ExecutionRefused(f"decision {saga.decision_id!r} is not in the log",
                               field="decision_id")
    data = record.data
    if data.get("mode") != "live" or data.get("outcome") != "APPROVE":
        raise ExecutionRefused(f"decision {saga.decision_id!r} is {data.get('mode')} "
                               f"{data.get('outcome')}, not a live APPROVE",
                               field="decision_id")
    _check_payment(saga, data.get("payment") or {}, data.get("policy") or {})


def _check_payment(saga: Saga, payment: dict[str, object], policy: dict[str, object]) -> None:
    try:
        approved = Money.of(str(payment.get("amount")), str(payment.get("currency")))
        limit = Money.of(str(policy.get("max_single_payment")), saga.currency)
    except FinbotError:
        raise ExecutionRefused("the decision's payment is unreadable",
                               field="decision_id") from None
    if approved.currency.code != saga.currency or approved.minor != saga.amount:
        raise ExecutionRefused(f"the decision approved {approved}, not this payment",
                               field="amount")
    if payment.get("payee_account") != saga.payee_account:
        raise ExecutionRefused("the decision approved a payment to another payee",
                               field="payee_account")
    if saga.amount > limit.minor:
        raise ExecutionRefused(f"{approved} is over the hard limit of {limit}", field="amount")
