"""Rolling back a model version (``finbot rollback``): show what its decisions set in
motion, then undo it, invoice by invoice, with compensating steps that can be run again.

Each case (an invoice the version decided on) goes halt → reverse → requeue → done, one
transaction per step, each with a ``rollback`` audit record ``rollback:<case>:<step>`` filed
under the case's payment decision and a ``rollback.progressed`` event. The records are the
progress: a step whose record exists is skipped, so a second run does nothing new and an
interrupted one continues where it stopped. *halt* makes the decision unexecutable (the
execution gate refuses a rolled-back decision) and runs its saga to a final state: one not
yet at the rail voids its reservation, one at the rail finishes. *reverse* undoes the money:
a payment the rail recalls is reversed (a reversal of the saga's post transfer, crediting
the vendor's payable back from the bank); one it cannot recall stays paid, and the vendor
owes it back: a recovery receivable (``company:recoveries:<CUR>``, an asset) is debited in
place of the bank. Either way the invoice's accrual is reversed, so the expense is gone
until a person decides again. *requeue* puts the invoice in the review queue under
``rollback:<case>``. The final record ``rollback:<case>`` marks the case rolled back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from finbot.domain.audit import AuditRecord
from finbot.domain.clock import now_us
from finbot.domain.errors import NotFound, SagaError
from finbot.domain.ledger import (
    AccountFlag,
    AccountType,
    TransferKind,
    TransferRequest,
    currency_account_code,
    tenant_account,
)
from finbot.domain.money import Currency, Money
from finbot.domain.payments import Saga, SagaState, accrual_id
from finbot.domain.policy import ReviewRules
from finbot.domain.posting import Group
from finbot.domain.reviews import new_item
from finbot.domain.rollback import (
    BlastRadius,
    Case,
    CaseReport,
    Decided,
    VersionSelector,
    find_cases,
    is_decision,
    rollback_id,
    standing,
    step_id,
)
from finbot.domain.vendors import DEFAULT_TENANT
from finbot.execution.rail import PaymentRail, RailOutcome, RailResult
from finbot.execution.saga import PaymentExecutor
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.ledger import LedgerService, UowFactory
from finbot.services.policies import PolicyStore
from finbot.services.ports import UnitOfWork

Checkpoint = Callable[[str], None]
Effect = Callable[[UnitOfWork], dict[str, Any]]


def _no_checkpoint(_: str) -> None:
    return None


class RollbackService:
    """Finds a version's blast radius and rolls it back (see the module docstring)."""

    def __init__(self, uow: UowFactory, ledger: LedgerService, payments: PaymentExecutor,
                 rail: PaymentRail, audit: AuditLog, outbox: Outbox, policies: PolicyStore,
                 *, home_tenant: str = DEFAULT_TENANT,
                 recovery_account: str = "company:recoveries",
                 clock: Callable[[], int] = now_us,
                 checkpoint: Checkpoint = _no_checkpoint) -> None:
        self._uow = uow
        self._ledger = ledger
        self._payments = payments
        self._rail = rail
        self._audit = audit
        self._outbox = outbox
        self._policies = policies
        self._home = home_tenant
        self._recovery = recovery_account
        self._clock = clock
        self._checkpoint = checkpoint

    def blast_radius(self, selector: str, *, since_us: int | None = None) -> BlastRadius:
        """Every decision the version made (since ``since_us``) and each case's standing;
        NotFound when it made none. Reads the whole log once."""
        chosen = VersionSelector.parse(selector)
        with self._uow() as uow:
            decided = [Decided.of(r) for r in uow.audit.records() if is_decision(r)]
            mine, cases = find_cases(decided, chosen, since_us=since_us)
            reports = [self._report(uow, case) for case in cases]
        if not mine:
            since = "" if since_us is None else " in that time"
            raise NotFound(f"model version {chosen.text!r} made no decisions{since}",
                           code="no_decisions", field="model_version")
        return BlastRadius(chosen.text, since_us, mine, reports)

    def execute(self, selector: str, *, since_us: int | None = None) -> BlastRadius:
        """Roll back every case not rolled back yet; returns the blast radius after."""
        radius = self.blast_radius(selector, since_us=since_us)
        policy = self._policies.current()  # the review rules, read before anything changes
        for report in radius.cases:
            if report.standing != "rolled_back":
                rules = policy.limits_for(report.case.anchor.currency).review
                self._roll_back(radius.selector, report.case, rules)
        return self.blast_radius(selector, since_us=since_us)

    # -- one case ---------------------------------------------------------------------

    def _roll_back(self, selector: str, case: Case, rules: ReviewRules) -> None:
        self._step(selector, case, "halt", lambda uow: {
            "decisions": [d.decision_id for d in case.tainted]})
        saga = self._finish_payment(case)
        if saga is not None and saga.state not in (SagaState.COMPLETED, SagaState.FAILED):
            return  # the rail has not answered, or the payment needs a person: not yet
        recall = self._recall(case, saga)
        reversed_ = self._step(selector, case, "reverse",
                               lambda uow: self._reverse_in(uow, case, saga, recall))
        self._step(selector, case, "requeue",
                   lambda uow: self._requeue_in(uow, selector, case, rules))
        self._complete(selector, case, str(reversed_.get("settled_as")))

    def _finish_payment(self, case: Case) -> Saga | None:
        """The case's saga after running it to a final state where it can get there: the
        halt record makes a payment that has not reached the rail fail (void)."""
        if case.payment is None:
            return None
        with self._uow() as uow:
            saga = uow.sagas.by_decision(case.payment.decision_id)
        return None if saga is None else self._payments.run(saga.id)

    def _recall(self, case: Case, saga: Saga | None) -> RailResult | None:
        """Ask the rail for a paid-out payment back (idempotent at the rail); not while a
        database transaction is open, and not once the reversal is recorded."""
        if saga is None or saga.state is not SagaState.COMPLETED or self._done(
                step_id(case.case_id, "reverse")):
            return None
        return self._rail.recall(saga.rail_key)

    def _reverse_in(self, uow: UnitOfWork, case: Case, saga: Saga | None,
                    recall: RailResult | None) -> dict[str, Any]:
        requests, settled_as = self._payment_reversal(uow, case, saga, recall)
        accrual = accrual_id(case.payment.decision_id) if case.payment else None
        if accrual is not None and uow.ledger.transfers_by_id({accrual}):
            requests.append(TransferRequest(
                step_id(case.case_id, "accrual"), kind=TransferKind.REVERSAL,
                reversal_of=accrual, reference=f"rollback of {accrual}",
                metadata={"reverses": accrual}))
        if requests:
            [results] = self._ledger.plan_in(uow, [Group(requests, True)]).results
            refused = [r for r in results if not r.ok]
            if refused:
                raise SagaError(f"rollback of {case.case_id}: transfer {refused[0].id} "
                                f"refused ({refused[0].code.value})")
        return {"settled_as": settled_as, "transfers": [r.id for r in requests],
                "rail": None if recall is None else {"outcome": recall.outcome.value,
                                                     "reason": recall.reason}}

    def _payment_reversal(self, uow: UnitOfWork, case: Case, saga: Saga | None,
                          recall: RailResult | None) -> tuple[list[TransferRequest], str]:
        """Undo a paid-out payment: reversed when recalled, else owed back by the vendor."""
        if saga is None or saga.state is not SagaState.COMPLETED:
            return [], "nothing_paid" if saga is None else f"payment_{saga.state.value}"
        if recall is not None and recall.outcome is RailOutcome.ACCEPTED:
            return [TransferRequest(step_id(case.case_id, "post"), kind=TransferKind.REVERSAL,
                                    reversal_of=saga.post_id,
                                    reference=f"recalled {saga.post_id}",
                                    metadata={"reverses": saga.post_id,
                                              "rail_reference": recall.reference})], "recalled"
        amount = Money(saga.amount, Currency.of(saga.currency)).amount
        return [TransferRequest(step_id(case.case_id, "recovery"),
                                self._recovery_account(uow, case, saga.currency),
                                saga.payee_account, amount, saga.currency,
                                reference=f"recovery of {saga.post_id}",
                                metadata={"reverses": saga.post_id,
                                          "reason": (recall.reason if recall else None)
                                          or "the rail did not recall the payment"})], "recovery"

    def _recovery_account(self, uow: UnitOfWork, case: Case, currency: str) -> str:
        """What vendors owe back, in ``currency``, for the vendor's tenant (opened on first
        use: an asset, a receivable)."""
        own = tenant_account(self._recovery, self._tenant(uow, case), home_tenant=self._home)
        code = currency_account_code(own, currency)
        if uow.ledger.account_by_code(code) is None:
            uow.ledger.insert_account(code=code, name=f"Recoveries owed by vendors in "
                                      f"{currency}", type=AccountType.ASSET,
                                      currency=currency, flags=AccountFlag.NONE,
                                      now_us=self._clock())
        return code

    def _requeue_in(self, uow: UnitOfWork, selector: str, case: Case,
                    rules: ReviewRules) -> dict[str, Any]:
        item_id, anchor = rollback_id(case.case_id), case.anchor
        if uow.reviews.get(item_id) is None:
            item = new_item(rules, decision_id=item_id, vendor_id=anchor.vendor_id,
                            amount=anchor.amount, currency=anchor.currency,
                            reason=f"rolled back: model version {selector} decided "
                                   f"{', '.join(d.decision_id for d in case.tainted)}; "
                                   "a person decides again", now_us=self._clock())
            uow.reviews.enqueue(item)
            self._outbox.emit_in(uow, "review.queued", item_id, {
                "decision_id": item_id, "vendor_id": item.vendor_id,
                "priority": int(item.priority), "due_at": item.due_at_us,
                "required_approvals": item.required_approvals},
                tenant=self._tenant(uow, case))
        return {"review_item": item_id}

    def _complete(self, selector: str, case: Case, settled_as: str) -> None:
        anchor = case.anchor
        with self._uow() as uow:
            if uow.audit.by_id(rollback_id(case.case_id)) is None:
                self._audit.append_in(uow, "rollback", rollback_id(case.case_id), {
                    "model_version": selector, "case_id": case.case_id, "step": "done",
                    "settled_as": settled_as, "vendor_id": anchor.vendor_id,
                    "amount": str(anchor.amount), "currency": anchor.currency,
                    "decisions": [d.decision_id for d in case.tainted]},
                    decision_id=anchor.decision_id)
                self._outbox.emit_in(uow, "rollback.completed", case.case_id, {
                    "case_id": case.case_id, "decision_id": anchor.decision_id,
                    "vendor_id": anchor.vendor_id, "model_version": selector,
                    "amount": str(anchor.amount), "currency": anchor.currency,
                    "settled_as": settled_as}, tenant=self._tenant(uow, case))
                uow.commit()
        self._checkpoint(f"{case.case_id}:done")

    # -- steps --------------------------------------------------------------------------

    def _step(self, selector: str, case: Case, step: str, effect: Effect) -> dict[str, Any]:
        """Run ``effect`` and record the step in one transaction, unless it is recorded;
        returns the step's recorded detail."""
        record_id, anchor = step_id(case.case_id, step), case.anchor
        with self._uow() as uow:
            done = uow.audit.by_id(record_id)
            if done is not None:
                return dict(done.data.get("detail") or {})
            detail = effect(uow)
            self._audit.append_in(uow, "rollback", record_id, {
                "model_version": selector, "case_id": case.case_id, "step": step,
                "detail": detail}, decision_id=anchor.decision_id)
            self._outbox.emit_in(uow, "rollback.progressed", case.case_id, {
                "case_id": case.case_id, "step": step, "decision_id": anchor.decision_id,
                "vendor_id": anchor.vendor_id, "model_version": selector,
                "detail": str(detail.get("settled_as") or detail.get("review_item") or "")},
                tenant=self._tenant(uow, case))
            uow.commit()
        self._checkpoint(f"{case.case_id}:{step}")
        return detail

    def _done(self, record_id: str) -> bool:
        with self._uow() as uow:
            return uow.audit.by_id(record_id) is not None

    def _report(self, uow: UnitOfWork, case: Case) -> CaseReport:
        saga = uow.sagas.by_decision(case.payment.decision_id) if case.payment else None
        final: AuditRecord | None = uow.audit.by_id(rollback_id(case.case_id))
        state = saga.state.value if saga else None
        return CaseReport(case, standing(rolled_back=final is not None, saga_state=state,
                                         outcome=case.payment.outcome if case.payment
                                         else None), state,
                          str(final.data.get("settled_as")) if final else None)

    @staticmethod
    def _tenant(uow: UnitOfWork, case: Case) -> str:
        vendor = case.anchor.vendor_id
        return uow.vendors.tenants_of([vendor]).get(vendor, DEFAULT_TENANT)

