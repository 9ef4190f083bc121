"""The human review queue: escalations wait here for reviewers, and their verdicts are logged.

Every review commits in one transaction with its audit record and the queue item's new
state, so the log alone says whether an escalation was approved (the execution gate reads
it from there). Reviews are also training labels: ``labels`` pairs each human verdict with
the input the agent saw and what the agent proposed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput, NotFound
from finbot.domain.reviews import Review, ReviewItem, ReviewStatus, Verdict, apply_review
from finbot.domain.vendors import DEFAULT_TENANT, MAX_NOTE_CHARS, Author, Note
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.policies import PolicyStore
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying


@dataclass(frozen=True)
class QueueDepth:
    """How the queue stands: unsettled items and how many are past their SLA."""

    pending: int
    overdue: int


class ReviewService:
    """Records reviewers' verdicts on escalated decisions and reports the queue."""

    def __init__(self, uow: UowFactory, audit: AuditLog, policies: PolicyStore, *,
                 outbox: Outbox | None = None, clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox or Outbox(clock=clock)
        self._audit = audit
        self._policies = policies
        self._clock = clock

    def review(self, decision_id: str, *, reviewer_id: str, verdict: Verdict | str,
               rationale: str) -> ReviewItem:
        """Apply one reviewer's verdict; raises if they may not, or it is already settled."""
        if not reviewer_id or len(reviewer_id) > 128:
            raise InvalidInput("a reviewer id is 1 to 128 characters", field="reviewer")
        try:
            chosen = Verdict(verdict)
        except ValueError:
            raise InvalidInput(f"a verdict is APPROVE or REJECT, not {verdict!r}",
                               field="verdict") from None
        rules = self._policies.current().review
        return retrying(lambda: self._review(decision_id, reviewer_id, chosen, rationale,
                                             rules))

    def _review(self, decision_id: str, reviewer_id: str, verdict: Verdict, rationale: str,
                rules: Any) -> ReviewItem:
        with self._uow() as uow:
            item = self._item(uow, decision_id, lock=True)
            earlier = uow.reviews.reviews_of(decision_id)
            review = Review(f"review:{decision_id}:{len(earlier) + 1}", decision_id,
                            reviewer_id, verdict, rationale.strip(), self._clock())
            settled = apply_review(item, review, rules=rules, earlier=earlier,
                                   reviewer_vendors=uow.reviews.vendors_of(reviewer_id))
            uow.reviews.add_review(review)
            uow.reviews.save(settled)
            if review.rationale:  # what the reviewer saw is remembered for the agents
                uow.vendors.add_note(Note(
                    item.vendor_id, Author.REVIEWER, reviewer_id,
                    f"{verdict.value} on {decision_id}: {review.rationale}"[:MAX_NOTE_CHARS],
                    self._clock()))
            self._audit.append_in(uow, "review", review.review_id, {
                "reviewer": reviewer_id, "verdict": verdict.value, "rationale": review.rationale,
                "status": settled.status.value, "approvals": list(settled.approvals),
                "required_approvals": settled.required_approvals}, decision_id=decision_id)
            self._announce(uow, review, settled)
            uow.commit()
        return settled

    def _announce(self, uow: UnitOfWork, review: Review, settled: ReviewItem) -> None:
        """The review and, once approved, the escalation, as events of the vendor's
        tenant."""
        tenant = uow.vendors.tenants_of([settled.vendor_id]).get(settled.vendor_id,
                                                                  DEFAULT_TENANT)
        self._outbox.emit_in(uow, "review.recorded", review.decision_id, {
            "decision_id": review.decision_id, "reviewer_id": review.reviewer_id,
            "verdict": review.verdict.value, "status": settled.status.value}, tenant=tenant)
        if settled.status is ReviewStatus.APPROVED:  # the executor takes it from here
            self._outbox.emit_in(uow, "escalation.approved", review.decision_id, {
                "decision_id": review.decision_id, "vendor_id": settled.vendor_id,
                "amount": str(settled.amount), "currency": settled.currency}, tenant=tenant)

    def pending(self, *, limit: int = 50, overdue: bool = False) -> list[ReviewItem]:
        """Unsettled escalations, most urgent first."""
        with self._uow() as uow:
            return uow.reviews.pending(limit=limit,
                                       overdue_at=self._clock() if overdue else None)

    def show(self, decision_id: str) -> tuple[ReviewItem, list[Review]]:
        with self._uow() as uow:
            return self._item(uow, decision_id), uow.reviews.reviews_of(decision_id)

    def depth(self) -> QueueDepth:
        with self._uow() as uow:
            return QueueDepth(*uow.reviews.counts(self._clock()))

    def add_member(self, user_id: str, vendor_id: str) -> None:
        """Record that ``user_id`` belongs to ``vendor_id`` (they may not review it)."""
        def attempt() -> None:
            with self._uow() as uow:
                uow.reviews.add_member(user_id, vendor_id, self._clock())
                uow.commit()
        retrying(attempt)

    def labels(self, *, batch: int = 500) -> Iterator[dict[str, Any]]:
        """One training label per review: the agent's input and proposal, the human verdict."""
        after = (-1, "")
        while True:
            with self._uow() as uow:
                page = uow.reviews.all_reviews(after=after, limit=batch)
                decisions = {r.decision_id: uow.audit.by_id(r.decision_id) for r in page}
            if not page:
                return
            for review in page:
                yield _label(review, decisions[review.decision_id])
            after = (page[-1].created_at_us, page[-1].review_id)

    @staticmethod
    def _item(uow: UnitOfWork, decision_id: str, *, lock: bool = False) -> ReviewItem:
        item = uow.reviews.get(decision_id, lock=lock)
        if item is None:
            raise NotFound(f"decision {decision_id!r} is not waiting for review",
                           field="decision_id")
        return item


def _label(review: Review, decision: Any) -> dict[str, Any]:
    data = decision.data if decision is not None else {}
    proposal = data.get("proposal") or {}
    return {"decision_id": review.decision_id, "review_id": review.review_id,
            "agent_id": data.get("agent_id"), "model_version": proposal.get("model_version"),
            "input_snapshot": proposal.get("input_snapshot"),
            "agent_outcome": proposal.get("outcome"), "gate_outcome": data.get("outcome"),
            "rules_fired": [r["rule"] for r in data.get("rules", []) if r.get("fired")],
            "human_verdict": review.verdict.value, "rationale": review.rationale,
            "reviewed_at": review.created_at_us}
