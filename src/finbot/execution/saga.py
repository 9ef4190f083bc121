"""The execution service: runs an approved payment as a persisted, resumable saga.

reserve (pending transfer on the vendor's payable) -> send through the rail -> post the
reservation on success, void it on failure. Each ledger step commits in the same
transaction as the saga's state change and a step-log line saying how to undo it, so a
process killed anywhere leaves a state whose next step is safe to run again: ledger ids
and the rail's idempotency key derive from the payment id, and an unknown rail outcome
is asked about, never guessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from structlog.contextvars import bound_contextvars

from finbot.domain import checks
from finbot.domain.clock import now_us
from finbot.domain.errors import Conflict, ExecutionRefused, InvalidInput, NotFound, SagaError
from finbot.domain.events import AGENTS
from finbot.domain.ledger import TransferKind, TransferRequest
from finbot.domain.money import Currency, Money
from finbot.domain.payments import COMPENSATIONS, Saga, SagaState, SagaStep
from finbot.domain.posting import Group
from finbot.domain.vendors import DEFAULT_TENANT
from finbot.execution.approval import check_approved
from finbot.execution.rail import PaymentRail, RailOutcome, RailResult
from finbot.observability.tracing import continued, in_trace, span
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.idempotency import IdempotencyService, StoredResponse
from finbot.services.ledger import LedgerService, UowFactory
from finbot.services.ports import TransientConflict, UnitOfWork
from finbot.services.retry import retrying

S = SagaState
logger = logging.getLogger(__name__)
Checkpoint = Callable[[str], None]
RESERVATION_TIMEOUT_S = 7 * 24 * 3600


def _no_checkpoint(_: str) -> None:
    return None


class PaymentExecutor:
    """Starts, advances and resumes payment sagas."""

    def __init__(self, uow: UowFactory, ledger: LedgerService, rail: PaymentRail, *,
                 idempotency: IdempotencyService | None = None,
                 audit: AuditLog | None = None, outbox: Outbox | None = None,
                 clock: Callable[[], int] = now_us,
                 reservation_timeout_s: int = RESERVATION_TIMEOUT_S,
                 status_checks: int = 3, retry_delay_s: float = 0.05,
                 checkpoint: Checkpoint = _no_checkpoint) -> None:
        self._uow = uow
        self._ledger = ledger
        self._rail = rail
        self._idempotency = idempotency
        self._audit = audit
        self._outbox = outbox
        self._clock = clock
        self._timeout_s = reservation_timeout_s
        self._status_checks = status_checks
        self._delay_s = retry_delay_s
        self._checkpoint = checkpoint

    # -- commands ---------------------------------------------------------------------

    def execute_payment(self, payment_id: str, *, payee_account: str, source_account: str,
                        amount: Any, currency: str, decision_id: str) -> Saga:
        """Pay ``amount`` from ``source_account`` to the vendor whose payable is
        ``payee_account``, as approved by ``decision_id`` in the audit log; the same payment
        id always means the same, single payment."""
        saga = self._start(payment_id, payee_account, source_account, amount, currency,
                           decision_id)
        return self.run(saga.id)

    def execute_with_key(self, key: str, payment_id: str, *, payee_account: str,
                         source_account: str, amount: Any, currency: str,
                         decision_id: str) -> StoredResponse:
        """``execute_payment`` under an Idempotency-Key: replays answer byte for byte."""
        if self._idempotency is None:
            raise SagaError("no idempotency service configured")
        request = {"payment_id": payment_id, "payee_account": payee_account,
                   "source_account": source_account, "amount": str(amount),
                   "currency": currency, "decision_id": decision_id}

        def action() -> tuple[int, Any]:
            saga = self.execute_payment(payment_id, payee_account=payee_account,
                                        source_account=source_account, amount=amount,
                                        currency=currency, decision_id=decision_id)
            return 201, saga_public(saga)
        return self._idempotency.run_long("payments", key, request, action)

    def run(self, saga_id: str) -> Saga:
        """Advance a saga until it is final or waits on the rail; returns where it stands.
        Run outside any trace (the upkeep rounds), it continues its decision's."""
        saga = self.get(saga_id)
        if saga.state.final:
            return saga
        with continued(None if in_trace() else self._decision_trace(saga)), (
                bound_contextvars(payment_id=saga.id, decision_id=saga.decision_id)):
            while not saga.state.final:
                try:
                    if self._advance(saga) is None:
                        return self.get(saga_id)
                except _Overtaken:
                    pass  # another executor moved it: carry on from its state
                saga = self.get(saga_id)
            logger.info("payment settled", extra={"state": saga.state.value})
            return saga

    def _decision_trace(self, saga: Saga) -> str | None:
        """The trace the saga's decision record carried on (its decision.recorded event)."""
        if not saga.decision_id:
            return None
        with self._uow() as uow:
            return uow.outbox.first_trace(AGENTS, saga.decision_id)

    def resume_all(self, *, limit: int = 1000) -> list[Saga]:
        """Finish or compensate every unfinished saga (run at startup and periodically)."""
        with self._uow() as uow:
            pending = uow.sagas.unfinished(limit)
        return [self.run(saga.id) for saga in pending]

    # -- queries ---------------------------------------------------------------------

    def get(self, saga_id: str) -> Saga:
        with self._uow() as uow:
            saga = uow.sagas.get(saga_id)
        if saga is None:
            raise NotFound(f"no payment {saga_id!r}", field="payment_id")
        return saga

    def history(self, saga_id: str) -> list[SagaStep]:
        with self._uow() as uow:
            return uow.sagas.steps(saga_id)

    # -- starting -------------------------------------------------------------------

    def start_in(self, uow: UnitOfWork, payment_id: str, *, payee_account: str,
                 source_account: str, amount: Any, currency: str, decision_id: str) -> Saga:
        """Create the saga inside the caller's transaction (an event handler's, say); the
        background rounds run it after the commit. Same checks as ``execute_payment``."""
        wanted = self._wanted(payment_id, payee_account, source_account, amount, currency,
                              decision_id)
        return self._insert_or_match_in(uow, wanted)

    def _start(self, payment_id: str, payee: str, source: str, amount: Any,
               currency: str, decision_id: str) -> Saga:
        wanted = self._wanted(payment_id, payee, source, amount, currency, decision_id)
        return retrying(lambda: self._insert_or_match(wanted))

    def _wanted(self, payment_id: str, payee: str, source: str, amount: Any,
                currency: str, decision_id: str) -> Saga:
        if checks.check_id(payment_id) is not None:
            raise InvalidInput("a payment id is 1 to 128 printable characters",
                               field="payment_id")
        money = Money.of(amount, currency)
        if money.minor <= 0:
            raise InvalidInput("a payment amount must be positive", code="invalid_amount",
                               field="amount")
        now = self._clock()
        return Saga(payment_id, S.STARTED, payee, source, money.minor, money.currency.code,
                    now, now, decision_id=decision_id)

    def _insert_or_match(self, wanted: Saga) -> Saga:
        with self._uow() as uow:
            saga = self._insert_or_match_in(uow, wanted)
            uow.commit()
        return saga

    def _insert_or_match_in(self, uow: UnitOfWork, wanted: Saga) -> Saga:
        existing = uow.sagas.get(wanted.id)
        if existing is not None:
            return _same_payment(existing, wanted)
        other = uow.sagas.by_decision(wanted.decision_id or "")
        if other is not None:
            raise ExecutionRefused(f"decision {wanted.decision_id!r} was already executed "
                                   f"by payment {other.id!r}", field="decision_id")
        for code in (wanted.payee_account, wanted.source_account):
            account = uow.ledger.account_by_code(code)
            if account is None:
                raise NotFound(f"no account {code!r}", field="account")
            if account.currency != wanted.currency:
                raise InvalidInput(f"account {code!r} holds {account.currency}, "
                                   f"not {wanted.currency}", code="currency_mismatch",
                                   field="currency")
        check_approved(uow, wanted)
        uow.sagas.insert(wanted)
        self._log(uow, wanted, "created", "done", {"compensation": COMPENSATIONS[S.STARTED],
                                                   "decision_id": wanted.decision_id})
        return wanted

    # -- steps ------------------------------------------------------------------------

    def _advance(self, saga: Saga) -> Saga | None:
        """Run the step the saga's state calls for; None when it must wait."""
        step = {S.STARTED: self._reserve, S.RESERVED: self._send, S.SENDING: self._send,
                S.UNKNOWN: self._ask_rail, S.SENT: self._post,
                S.RAIL_FAILED: self._void}[saga.state]
        with span("execution.saga_step", **{"finbot.payment_id": saga.id,
                                            "finbot.saga_state": saga.state.value}):
            return step(saga)

    def _reserve(self, saga: Saga) -> Saga | None:
        self._checkpoint("reserve:before")
        request = TransferRequest(saga.reserve_id, saga.payee_account, saga.source_account,
                                  _major(saga), saga.currency, kind=TransferKind.PENDING,
                                  timeout_s=self._timeout_s, reference=f"payment {saga.id}")
        result = self._ledger_step(saga, request, ok_state=S.RESERVED, failed_state=S.FAILED,
                                   step="reserve", precheck=check_approved)
        self._checkpoint("reserve:after")
        return result

    def _send(self, saga: Saga) -> Saga | None:
        if saga.state is S.RESERVED:
            saga = self._intend_send(saga)
            if saga.state is S.RAIL_FAILED:
                return saga
        self._checkpoint("send:before")
        answer = self._rail.send(key=saga.rail_key, payee=saga.payee_account,
                                 amount_minor=saga.amount, currency=saga.currency)
        self._checkpoint("send:after")
        return self._record_rail(saga, answer, "send")

    def _intend_send(self, saga: Saga) -> Saga:
        """Record the intent to send, re-checking the approval in the same transaction: a
        decision rolled back while its payment was reserved is voided, never sent."""
        with self._uow() as uow:
            refused = _refusal(uow, saga, check_approved)
            if refused is None:
                moved = self._transition(uow, saga, S.SENDING, "send", "intent", {
                    "compensation": COMPENSATIONS[S.SENDING], "key": saga.rail_key})
            else:
                moved = self._transition(uow, saga, S.RAIL_FAILED, "send", "refused", {
                    "reason": refused, "compensation": COMPENSATIONS[S.RAIL_FAILED]},
                    error=refused)
            uow.commit()
        return moved

    def _ask_rail(self, saga: Saga) -> Saga | None:
        for attempt in range(self._status_checks):
            answer = self._rail.status(saga.rail_key)
            if answer.outcome is RailOutcome.NOT_FOUND:  # never reached the rail: safe to send
                answer = self._rail.send(key=saga.rail_key, payee=saga.payee_account,
                                         amount_minor=saga.amount, currency=saga.currency)
            if answer.outcome is not RailOutcome.UNKNOWN:
                return self._record_rail(saga, answer, "status")
            time.sleep(self._delay_s * 2**attempt)
        self._move(saga, S.UNKNOWN, "status", "unknown", {"attempts": saga.attempts + 1},
                   attempts=saga.attempts + 1)
        return None  # still unknown: resume later, never guess

    def _record_rail(self, saga: Saga, answer: RailResult, step: str) -> Saga:
        detail = {"outcome": answer.outcome.value, "reference": answer.reference,
                  "reason": answer.reason}
        if answer.outcome is RailOutcome.ACCEPTED:
            return self._move(saga, S.SENT, step, "done", detail,
                              rail_reference=answer.reference)
        if answer.outcome is RailOutcome.REJECTED:
            return self._move(saga, S.RAIL_FAILED, step, "failed",
                              {**detail, "compensation": COMPENSATIONS[S.RAIL_FAILED]},
                              error=answer.reason)
        return self._move(saga, S.UNKNOWN, step, "unknown", detail, attempts=saga.attempts + 1)

    def _post(self, saga: Saga) -> Saga | None:
        request = TransferRequest(saga.post_id, kind=TransferKind.POST_PENDING,
                                  pending_id=saga.reserve_id, reference=f"payment {saga.id}")
        result = self._ledger_step(saga, request, ok_state=S.COMPLETED,
                                   failed_state=S.NEEDS_ATTENTION, step="post")
        self._checkpoint("post:after")
        return result

    def _void(self, saga: Saga) -> Saga | None:
        request = TransferRequest(saga.void_id, kind=TransferKind.VOID_PENDING,
                                  pending_id=saga.reserve_id, reference=f"payment {saga.id}")
        result = self._ledger_step(saga, request, ok_state=S.FAILED, failed_state=S.FAILED,
                                   step="void", released_ok=True)
        self._checkpoint("void:after")
        return result

    # -- persistence ------------------------------------------------------------------

    def _ledger_step(self, saga: Saga, request: TransferRequest, *, ok_state: SagaState,
                     failed_state: SagaState, step: str, released_ok: bool = False,
                     precheck: Callable[[UnitOfWork, Saga], None] | None = None) -> Saga:
        """The ledger effect and the saga's move commit together, or neither does.
        ``precheck`` runs in the same transaction; if it refuses, the saga fails instead."""
        def attempt() -> Saga:
            with self._uow() as uow:
                if precheck is not None:
                    refused = _refusal(uow, saga, precheck)
                    if refused is not None:
                        moved = self._transition(uow, saga, failed_state, step, "refused",
                                                 {"reason": refused}, error=refused)
                        uow.commit()
                        return moved
                with span("ledger.transfer", **{"finbot.transfer_id": request.id,
                                                "finbot.transfer_kind": str(request.kind)}
                          ) as transfer:
                    code = self._ledger.plan_in(uow, [Group([request])]).results[0][0].code
                    transfer.set_attribute("finbot.ledger_result", code.value)
                released = released_ok and code.value == "pending_transfer_expired"
                ok = code.succeeded or released
                detail = {"transfer": request.id, "code": code.value}
                errors = {} if ok else {"error": code.value}
                moved = self._transition(uow, saga, ok_state if ok else failed_state, step,
                                         "done" if ok else "failed", detail, **errors)
                uow.commit()
            return moved
        return retrying(attempt, give_up_on=_Overtaken)

    def _move(self, saga: Saga, state: SagaState, step: str, status: str,
              detail: dict[str, Any], **changes: Any) -> Saga:
        with self._uow() as uow:
            moved = self._transition(uow, saga, state, step, status, detail, **changes)
            uow.commit()
        return moved

    def _transition(self, uow: UnitOfWork, saga: Saga, state: SagaState, step: str,
                    status: str, detail: dict[str, Any], **changes: Any) -> Saga:
        now = self._clock()
        if not uow.sagas.transition(saga, state=state, updated_at=now, **changes):
            raise _Overtaken(saga.id)
        self._log(uow, saga, step, status, {**detail, "state": state.value})
        fields = {**asdict(saga), **changes, "state": state, "updated_at": now,
                  "version": saga.version + 1}
        moved = Saga(**fields)
        if state.final:
            self._settled_in(uow, moved)
        return moved

    def _settled_in(self, uow: UnitOfWork, saga: Saga) -> None:
        """A payment's final state: recorded in the audit chain and announced."""
        public = saga_public(saga)
        if self._audit is not None:
            self._audit.append_in(uow, "execution", f"execution:{saga.id}", public,
                                  decision_id=saga.decision_id)
        if self._outbox is not None:
            self._outbox.emit_in(uow, "payment.settled", saga.id, {
                "payment_id": saga.id, "decision_id": saga.decision_id or "",
                "state": saga.state.value, "amount": public["amount"],
                "currency": saga.currency}, tenant=_tenant_of(uow, saga))

    def _log(self, uow: UnitOfWork, saga: Saga, step: str, status: str,
             detail: dict[str, Any]) -> None:
        uow.sagas.log(SagaStep(saga.id, step, status, detail, self._clock()))


def _tenant_of(uow: UnitOfWork, saga: Saga) -> str:
    """The tenant of the vendor the saga pays (from its decision); the default tenant's
    for a payment with no decision or vendor behind it."""
    record = uow.audit.by_id(saga.decision_id) if saga.decision_id else None
    vendor_id = str((record.data.get("payment") or {}).get("vendor_id", "")) if record else ""
    return uow.vendors.tenants_of([vendor_id]).get(vendor_id, DEFAULT_TENANT)


class _Overtaken(TransientConflict):
    """Another executor advanced this saga first; re-read it and carry on from there."""


def _refusal(uow: UnitOfWork, saga: Saga,
             check: Callable[[UnitOfWork, Saga], None]) -> str | None:
    try:
        check(uow, saga)
    except ExecutionRefused as refused:
        return f"execution_refused: {refused.message}"
    return None


def _same_payment(existing: Saga, wanted: Saga) -> Saga:
    for name in ("payee_account", "source_account", "amount", "currency", "decision_id"):
        if getattr(existing, name) != getattr(wanted, name):
            raise Conflict(f"payment {wanted.id!r} exists with a different {name}",
                           code="payment_exists_with_different_parameters", field=name)
    return existing


def _major(saga: Saga) -> str:
    return str(Money(saga.amount, Currency.of(saga.currency)).amount)


def saga_public(saga: Saga) -> dict[str, Any]:
    """The JSON view of a saga (used by the CLI and idempotent responses)."""
    return {"payment_id": saga.id, "state": saga.state.value, "amount": _major(saga),
            "currency": saga.currency, "payee_account": saga.payee_account,
            "source_account": saga.source_account, "rail_reference": saga.rail_reference,
            "decision_id": saga.decision_id, "error": saga.error}
