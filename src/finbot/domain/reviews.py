"""The human review queue's rules: who may review an escalation, and when it is settled.

An ESCALATE decision becomes a queue item with a reason, a priority and an SLA due time.
Reviewers approve or reject with a rationale; above the policy's four-eyes amount two
different reviewers must approve; nobody reviews a decision about a vendor they belong to;
one rejection settles the item as rejected. These rules are pure so they can be tested
exhaustively and re-checked at execution time from the log alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import IntEnum, StrEnum

from finbot.domain.errors import Conflict, FinbotError, InvalidInput
from finbot.domain.policy import ReviewRules

_MINUTE_US = 60_000_000


class Verdict(StrEnum):
    """What a reviewer says about an escalated decision."""

    APPROVE = "APPROVE"
    REJECT = "REJECT"


class ReviewStatus(StrEnum):
    """open: nobody has approved yet; awaiting_second: four-eyes needs one more approval."""

    OPEN = "open"
    AWAITING_SECOND = "awaiting_second"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def settled(self) -> bool:
        return self in (ReviewStatus.APPROVED, ReviewStatus.REJECTED)


class Priority(IntEnum):
    """Lower is more urgent; the queue is worked in (priority, due time) order."""

    URGENT = 1
    NORMAL = 2


class ConflictOfInterest(FinbotError):
    """Raised when a reviewer belongs to the vendor the decision is about."""

    code = "conflict_of_interest"


class ReviewRefused(Conflict):
    """Raised when a review cannot apply: the item is settled or the reviewer already spoke."""

    code = "review_refused"


@dataclass(frozen=True)
class ReviewItem:
    """One escalated decision waiting for (or settled by) human review."""

    decision_id: str
    vendor_id: str
    amount: Decimal
    currency: str
    reason: str
    priority: Priority
    due_at_us: int
    required_approvals: int
    created_at_us: int
    status: ReviewStatus = ReviewStatus.OPEN
    approvals: tuple[str, ...] = ()
    resolved_at_us: int | None = None

    def overdue(self, now_us: int) -> bool:
        return not self.status.settled and now_us > self.due_at_us


@dataclass(frozen=True)
class Review:
    """One reviewer's verdict on one decision: a log record and a training label."""

    review_id: str
    decision_id: str
    reviewer_id: str
    verdict: Verdict
    rationale: str
    created_at_us: int


def new_item(rules: ReviewRules, *, decision_id: str, vendor_id: str, amount: Decimal,
             currency: str, reason: str, now_us: int) -> ReviewItem:
    """Queue an escalation: urgent above the policy's amount, two approvers above four-eyes."""
    urgent = amount > rules.urgent_above
    priority = Priority.URGENT if urgent else Priority.NORMAL
    minutes = rules.sla_minutes_urgent if urgent else rules.sla_minutes_normal
    return ReviewItem(decision_id, vendor_id, amount, currency, reason, priority,
                      due_at_us=now_us + minutes * _MINUTE_US,
                      required_approvals=2 if amount > rules.four_eyes_above else 1,
                      created_at_us=now_us)


def apply_review(item: ReviewItem, review: Review, *, rules: ReviewRules,
                 reviewer_vendors: Collection[str], earlier: Sequence[Review]) -> ReviewItem:
    """The item after ``review``; raises if the reviewer may not review it."""
    _check_allowed(item, review, rules, reviewer_vendors, earlier)
    if review.verdict is Verdict.REJECT:
        return replace(item, status=ReviewStatus.REJECTED, resolved_at_us=review.created_at_us)
    approvals = (*item.approvals, review.reviewer_id)
    if len(approvals) >= item.required_approvals:
        return replace(item, approvals=approvals, status=ReviewStatus.APPROVED,
                       resolved_at_us=review.created_at_us)
    return replace(item, approvals=approvals, status=ReviewStatus.AWAITING_SECOND)


def _check_allowed(item: ReviewItem, review: Review, rules: ReviewRules,
                   reviewer_vendors: Collection[str], earlier: Sequence[Review]) -> None:
    if len(review.rationale.strip()) < rules.min_rationale_chars:
        raise InvalidInput(f"a review needs a rationale of at least {rules.min_rationale_chars} "
                           "characters saying why", field="rationale")
    if item.vendor_id in reviewer_vendors:
        raise ConflictOfInterest(f"{review.reviewer_id} belongs to vendor {item.vendor_id} and "
                                 "cannot review its decisions", field="reviewer")
    if item.status.settled:
        raise ReviewRefused(f"decision {item.decision_id} was already {item.status.value}",
                            field="decision_id")
    if any(r.reviewer_id == review.reviewer_id for r in earlier):
        raise ReviewRefused(f"{review.reviewer_id} has already reviewed decision "
                            f"{item.decision_id}; four-eyes needs a different reviewer",
                            field="reviewer")


def settles_as_approved(reviews: Sequence[tuple[str, str]], required: int) -> bool:
    """Whether (reviewer, verdict) pairs from the log approve a decision: no rejection and
    at least ``required`` different approvers. The execution gate checks this again."""
    if any(verdict != Verdict.APPROVE for _, verdict in reviews):
        return False
    return len({reviewer for reviewer, _ in reviews}) >= max(required, 1)
