"""The execution gate: a payment runs only for an approved, matching decision in the log.

Defence in depth: the decision is read back from the audit chain (not taken from the
caller), must be live (or rules-only fallback, or training inside an arena sandbox's
own accounts) and either APPROVE or an escalation that
human reviewers approved in the log, must name the same payee, amount and currency, and the
amount must still be within the hard single-payment limit the deciding policy recorded.
A decision that has been rolled back (``finbot rollback``) never executes again.
"""

from __future__ import annotations

from finbot.domain.decisions import Mode
from finbot.domain.errors import ExecutionRefused, FinbotError
from finbot.domain.money import Money
from finbot.domain.payments import Saga
from finbot.domain.reviews import settles_as_approved
from finbot.domain.users import SANDBOX_PREFIX
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
    if rolled_back(uow, saga.decision_id):
        raise ExecutionRefused(f"decision {saga.decision_id!r} was rolled back",
                               field="decision_id")
    data = record.data
    if data.get("stage", "payment") != "payment":
        raise ExecutionRefused(f"decision {saga.decision_id!r} is a {data['stage']} check, "
                               "not a payment decision", field="decision_id")
    if data.get("drill"):
        raise ExecutionRefused(f"decision {saga.decision_id!r} was a drill", field="decision_id")
    if data.get("mode") not in _EXECUTING_MODES or data.get("outcome") not in (
            "APPROVE", "ESCALATE"):
        raise ExecutionRefused(f"decision {saga.decision_id!r} is {data.get('mode')} "
                               f"{data.get('outcome')}, not a live APPROVE",
                               field="decision_id")
    if data["mode"] == Mode.TRAINING:
        _check_sandboxed(saga, data.get("payment") or {})
    if data["outcome"] == "ESCALATE":
        _check_reviewed(uow, saga.decision_id, data.get("review") or {})
    _check_payment(saga, data.get("payment") or {}, data.get("policy") or {})


_EXECUTING_MODES = frozenset(m.value for m in Mode if m.executes)


def rolled_back(uow: UnitOfWork, decision_id: str) -> bool:
    """Whether a rollback has begun on ``decision_id`` (its first step is in the log)."""
    return any(r.kind == "rollback" for r in uow.audit.for_decision(decision_id))


def _check_sandboxed(saga: Saga, payment: dict[str, object]) -> None:
    """A training decision pays only from its own arena sandbox's accounts."""
    tenant = str(payment.get("tenant", ""))
    if not tenant.startswith(SANDBOX_PREFIX) or not saga.source_account.startswith(
            f"{tenant}:"):
        raise ExecutionRefused(f"decision {saga.decision_id!r} was made in training mode; it "
                               "pays only inside its arena sandbox", field="decision_id")


def _check_reviewed(uow: UnitOfWork, decision_id: str, queued: dict[str, object]) -> None:
    """An escalation executes only once the log holds enough distinct approving reviews
    and no rejection."""
    required = queued.get("required_approvals")
    if not isinstance(required, int):
        raise ExecutionRefused(f"escalated decision {decision_id!r} was never queued for "
                               "review", field="decision_id")
    verdicts = [(str(r.data.get("reviewer")), str(r.data.get("verdict")))
                for r in uow.audit.for_decision(decision_id) if r.kind == "review"]
    if not settles_as_approved(verdicts, required):
        raise ExecutionRefused(f"escalated decision {decision_id!r} has not been approved by "
                               f"{required} reviewer(s)", field="decision_id")


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
