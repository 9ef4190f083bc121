"""The review queue's rules, as pure functions: four eyes, conflicts, settling, SLA."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finbot.domain.errors import InvalidInput
from finbot.domain.policy import ReviewRules
from finbot.domain.reviews import (
    ConflictOfInterest,
    Priority,
    Review,
    ReviewItem,
    ReviewRefused,
    ReviewStatus,
    Verdict,
    apply_review,
    new_item,
    settles_as_approved,
)

RULES = ReviewRules(four_eyes_above=Decimal("10000"), urgent_above=Decimal("5000"),
                    sla_minutes_urgent=60, sla_minutes_normal=480)
WHY = "matches the signed contract and the PO"


def item(amount: str = "100") -> ReviewItem:
    return new_item(RULES, decision_id="d-1", vendor_id="v-1", amount=Decimal(amount),
                    currency="USD", reason="low_confidence", now_us=1_000)


def review(reviewer: str, verdict: Verdict = Verdict.APPROVE, why: str = WHY) -> Review:
    return Review(f"r-{reviewer}", "d-1", reviewer, verdict, why, 2_000)


def test_a_small_escalation_needs_one_approval_within_the_normal_sla() -> None:
    queued = item("100")
    assert (queued.required_approvals, queued.priority) == (1, Priority.NORMAL)
    assert queued.due_at_us == 1_000 + 480 * 60_000_000
    settled = apply_review(queued, review("ann"), rules=RULES, reviewer_vendors=(), earlier=())
    assert settled.status is ReviewStatus.APPROVED
    assert settled.approvals == ("ann",)


def test_above_the_four_eyes_amount_two_different_reviewers_must_approve() -> None:
    queued = item("25000")
    assert (queued.required_approvals, queued.priority) == (2, Priority.URGENT)
    first = apply_review(queued, review("ann"), rules=RULES, reviewer_vendors=(), earlier=())
    assert first.status is ReviewStatus.AWAITING_SECOND
    with pytest.raises(ReviewRefused, match="different reviewer"):
        apply_review(first, review("ann"), rules=RULES, reviewer_vendors=(),
                     earlier=[review("ann")])
    second = apply_review(first, review("bob"), rules=RULES, reviewer_vendors=(),
                          earlier=[review("ann")])
    assert second.status is ReviewStatus.APPROVED
    assert second.approvals == ("ann", "bob")


def test_one_rejection_settles_the_item_and_no_later_review_applies() -> None:
    rejected = apply_review(item("25000"), review("ann", Verdict.REJECT), rules=RULES,
                            reviewer_vendors=(), earlier=())
    assert rejected.status is ReviewStatus.REJECTED
    assert rejected.resolved_at_us == 2_000
    with pytest.raises(ReviewRefused, match="already rejected"):
        apply_review(rejected, review("bob"), rules=RULES, reviewer_vendors=(),
                     earlier=[review("ann", Verdict.REJECT)])


def test_a_reviewer_cannot_review_a_vendor_they_belong_to() -> None:
    with pytest.raises(ConflictOfInterest):
        apply_review(item(), review("ann"), rules=RULES, reviewer_vendors={"v-1"}, earlier=())


@pytest.mark.parametrize("why", ["", "   ", "ok", "x" * 19])
def test_a_review_without_a_real_rationale_is_refused(why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        apply_review(item(), review("ann", why=why), rules=RULES, reviewer_vendors=(),
                     earlier=())
    assert refused.value.field == "rationale"


def test_an_item_is_overdue_only_while_unsettled_and_past_its_due_time() -> None:
    queued = item()
    assert not queued.overdue(queued.due_at_us)
    assert queued.overdue(queued.due_at_us + 1)
    settled = apply_review(queued, review("ann"), rules=RULES, reviewer_vendors=(), earlier=())
    assert not settled.overdue(settled.due_at_us + 1)


verdicts = st.lists(st.tuples(st.sampled_from(["ann", "bob", "cy"]),
                              st.sampled_from(["APPROVE", "REJECT"])), max_size=6)


@given(verdicts, st.integers(min_value=1, max_value=2))
def test_the_log_approves_only_with_enough_distinct_approvers_and_no_rejection(
        reviews: list[tuple[str, str]], required: int) -> None:
    expected = all(v == "APPROVE" for _, v in reviews) and len({r for r, _ in reviews}) >= required
    assert settles_as_approved(reviews, required) is expected
