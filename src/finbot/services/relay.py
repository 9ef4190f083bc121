"""The relay: outbox rows to the event streams, in order, surviving a stream outage.

Rows are published in outbox order and marked relayed only after the stream accepted
them; a crash in between publishes them again (delivery is at least once, and consumers
drop what they already handled). While the stream is down the rows simply wait in the
outbox; nothing is lost and the relay resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from finbot.domain.events import Outgoing
from finbot.services.ledger import UowFactory

logger = logging.getLogger(__name__)


class EventPublisher(Protocol):
    """Where relayed events go (Redis Streams in production)."""

    def publish(self, entries: Sequence[Outgoing]) -> bool:
        """Send ``entries`` in order; False (and nothing sent) if the stream had lost what
        was sent before."""


class OutboxRelay:
    """Moves committed outbox rows to the publisher.

    Marking a batch relayed (a database write) overlaps with reading and publishing the
    next one (Redis work): the next read leaves out the rows still being marked, and a
    batch's mark starts only after the previous one committed."""

    def __init__(self, uow: UowFactory, publisher: EventPublisher, *, batch: int = 500,
                 one_read: UowFactory | None = None) -> None:
        """``one_read``: units of work for a single statement, the read of each round and
        the mark of each batch (on PostgreSQL they run it in autocommit, without BEGIN and
        COMMIT or ROLLBACK round trips; one statement is atomic on its own)."""
        self._uow = uow
        self._one_read = one_read or uow
        self._publisher = publisher
        self._batch = batch
        self._marker = ThreadPoolExecutor(1, thread_name_prefix="finbot-relay-mark")
        self._marking: Future[None] | None = None
        self._marking_ids: list[int] = []
        self.done = 0  # rows published by ``run``

    def relay_once(self) -> int:
        """Publish the next batch of unrelayed rows; how many were published (0 once every
        published row is also marked). If the stream had lost what was sent before (a
        flushed or restarted Redis), every retained row is sent again (consumers drop the
        events they already handled)."""
        with self._one_read() as uow:
            rows = uow.outbox.unrelayed(limit=self._batch, excluding=self._marking_ids)
        if not rows:
            self._finish_marking()
            return 0
        remembered = self._publisher.publish(rows)
        self._finish_marking()
        if remembered:
            self._marking_ids = [row.outbox_id for row in rows]
            self._marking = self._marker.submit(self._mark, self._marking_ids)
            return len(rows)
        with self._uow() as uow:
            if uow.outbox.forget_relayed():
                logger.warning("the event stream lost its events; re-publishing the outbox")
            uow.commit()
        return len(rows)

    def run(self, stop: threading.Event, *, idle_s: float = 0.005, max_idle_s: float = 0.05,
            gather_s: float = 0.002, retry_s: float = 1.0) -> None:
        """Relay until ``stop``; when the stream is unreachable, wait and try again. A full
        batch is followed at once by the next; after a partial one the relay lets rows
        gather for ``gather_s`` (a round costs about the same for 3 rows as for 30, and on
        a busy machine the CPU saved is latency saved elsewhere). With nothing waiting it
        looks again after ``idle_s``, twice as long each empty look up to ``max_idle_s``
        (an idle deployment is not asked 200 times a second)."""
        idle = idle_s
        try:
            while not stop.is_set():
                try:
                    sent = self.relay_once()
                except Exception as failure:  # the stream is down: rows wait in the outbox
                    logger.warning("relay waiting for the event stream: %s", failure)
                    stop.wait(retry_s)
                    continue
                self.done += sent
                if sent:
                    idle = idle_s
                    if sent < self._batch:
                        stop.wait(gather_s)
                else:
                    stop.wait(idle)
                    idle = min(idle * 2, max_idle_s)
        finally:
            self.close()

    def close(self) -> None:
        """Finish the mark in flight (if it fails, those rows are simply sent again)."""
        try:
            self._finish_marking()
        finally:
            self._marker.shutdown(wait=True)

    def _mark(self, ids: list[int]) -> None:
        with self._one_read() as uow:  # one DELETE
            uow.outbox.mark_relayed(ids)
            uow.commit()

    def _finish_marking(self) -> None:
        marking, self._marking = self._marking, None
        self._marking_ids = []
        if marking is not None:
            marking.result()
