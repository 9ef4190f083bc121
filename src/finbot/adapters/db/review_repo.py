"""The review queue in SQL: queue items with optimistic updates, append-only reviews."""

from __future__ import annotations

import json
from decimal import Decimal

from sqlalchemy import (
    Connection,
    RowMapping,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)

from finbot.adapters.db.tables import review_queue, reviews, vendor_members, vendors
from finbot.domain.reviews import Priority, Review, ReviewItem, ReviewStatus, Verdict

_UNSETTLED = [status.value for status in ReviewStatus if not status.settled]
_QUEUE_AND_VENDOR = review_queue.join(vendors, vendors.c.vendor_id == review_queue.c.vendor_id)
"""Queue items with their vendor, whose tenant is the item's."""


def _item(row: RowMapping) -> ReviewItem:
    return ReviewItem(
        decision_id=row["decision_id"], vendor_id=row["vendor_id"],
        amount=Decimal(row["amount"]), currency=row["currency"], reason=row["reason"],
        priority=Priority(row["priority"]), due_at_us=row["due_at"],
        required_approvals=row["required_approvals"], created_at_us=row["created_at"],
        status=ReviewStatus(row["status"]), approvals=tuple(json.loads(row["approvals"])),
        resolved_at_us=row["resolved_at"])


def _review(row: RowMapping) -> Review:
    return Review(row["review_id"], row["decision_id"], row["reviewer_id"],
                  Verdict(row["verdict"]), row["rationale"], row["created_at"])


class SqlReviewRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def enqueue(self, item: ReviewItem) -> None:
        self.conn.execute(insert(review_queue).values(
            decision_id=item.decision_id, vendor_id=item.vendor_id, amount=str(item.amount),
            currency=item.currency, reason=item.reason, priority=int(item.priority),
            due_at=item.due_at_us, required_approvals=item.required_approvals,
            status=item.status.value, approvals=json.dumps(list(item.approvals)),
            created_at=item.created_at_us))

    def get(self, decision_id: str, *, lock: bool = False) -> ReviewItem | None:
        query = select(review_queue).where(review_queue.c.decision_id == decision_id)
        row = self.conn.execute(query.with_for_update() if lock else query).mappings().first()
        return _item(row) if row else None

    def save(self, item: ReviewItem) -> None:
        self.conn.execute(update(review_queue)
                          .where(review_queue.c.decision_id == item.decision_id)
                          .values(status=item.status.value,
                                  approvals=json.dumps(list(item.approvals)),
                                  resolved_at=item.resolved_at_us,
                                  version=review_queue.c.version + 1))

    def pending(self, *, limit: int, overdue_at: int | None = None) -> list[ReviewItem]:
        """Unsettled items, most urgent first; only overdue ones when ``overdue_at`` is set."""
        query = (select(review_queue)
                 .where(review_queue.c.status.in_(_UNSETTLED))
                 .order_by(review_queue.c.priority, review_queue.c.due_at).limit(limit))
        if overdue_at is not None:
            query = query.where(review_queue.c.due_at < overdue_at)
        return [_item(r) for r in self.conn.execute(query).mappings()]

    def pending_in(self, tenant: str, *, limit: int,
                   after: tuple[int, int, str] | None = None) -> list[ReviewItem]:
        """``tenant``'s unsettled items, most urgent first, after the (priority, due_at,
        decision_id) cursor ``after``."""
        queue = review_queue.c
        query = (select(review_queue).select_from(_QUEUE_AND_VENDOR)
                 .where(queue.status.in_(_UNSETTLED), vendors.c.tenant == tenant)
                 .order_by(queue.priority, queue.due_at, queue.decision_id).limit(limit))
        if after is not None:
            query = query.where(tuple_(queue.priority, queue.due_at, queue.decision_id) > after)
        return [_item(r) for r in self.conn.execute(query).mappings()]

    def counts(self, now_us: int, *, tenant: str | None = None) -> tuple[int, int]:
        """(unsettled items, of which past their SLA), of ``tenant`` only when given."""
        open_ = review_queue.c.status.in_(_UNSETTLED)
        query = select(func.count().filter(open_),
                       func.count().filter(open_ & (review_queue.c.due_at < now_us)))
        if tenant is not None:
            query = query.select_from(_QUEUE_AND_VENDOR).where(vendors.c.tenant == tenant)
        row = self.conn.execute(query).one()
        return int(row[0]), int(row[1])

    def add_review(self, review: Review) -> None:
        self.conn.execute(insert(reviews).values(
            review_id=review.review_id, decision_id=review.decision_id,
            reviewer_id=review.reviewer_id, verdict=review.verdict.value,
            rationale=review.rationale, created_at=review.created_at_us))

    def reviews_of(self, decision_id: str) -> list[Review]:
        rows = self.conn.execute(select(reviews).where(reviews.c.decision_id == decision_id)
                                 .order_by(reviews.c.created_at)).mappings()
        return [_review(r) for r in rows]

    def all_reviews(self, *, after: tuple[int, str] = (-1, ""),
                    limit: int = 1000) -> list[Review]:
        """Reviews in (time, id) order after the key ``after``, for paging without gaps."""
        at, review_id = after
        rows = self.conn.execute(select(reviews).where(or_(
            reviews.c.created_at > at,
            and_(reviews.c.created_at == at, reviews.c.review_id > review_id)))
                                 .order_by(reviews.c.created_at, reviews.c.review_id)
                                 .limit(limit)).mappings()
        return [_review(r) for r in rows]

    def vendors_of(self, user_id: str) -> set[str]:
        rows = self.conn.execute(select(vendor_members.c.vendor_id)
                                 .where(vendor_members.c.user_id == user_id))
        return {str(r[0]) for r in rows}

    def remove_member(self, user_id: str, vendor_id: str) -> None:
        self.conn.execute(delete(vendor_members).where(vendor_members.c.user_id == user_id,
                                                       vendor_members.c.vendor_id == vendor_id))

    def add_member(self, user_id: str, vendor_id: str, now_us: int) -> None:
        if vendor_id not in self.vendors_of(user_id):
            self.conn.execute(insert(vendor_members).values(
                user_id=user_id, vendor_id=vendor_id, created_at=now_us))
