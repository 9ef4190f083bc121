"""Emitting events through the outbox, and the embedded consumer that reads it directly.

``Outbox.emit_in`` joins the caller's unit of work: the event commits with the change it
announces or not at all. ``OutboxConsumer`` is the consumer API for the embedded default
(no Redis): it reads committed events in order, runs its handler in one transaction with a
processed-events record and its advanced offset (so a redelivered event has no second
effect), retries failures with backoff and dead-letters an event after N failures or at
once when it cannot be read, keeping the error.
"""

from __future__ import annotations

import enum
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from structlog.contextvars import bound_contextvars

from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.domain.events import Event, check_payload, schema_for
from finbot.observability.tracing import carried, continued, span
from finbot.services.ledger import UowFactory
from finbot.services.ports import TransientConflict, UnitOfWork

Handler = Callable[[UnitOfWork, Event], None]


@dataclass(frozen=True)
class ConsumerSpec:
    """A named consumer as the composition root registers it: what it handles, which
    streams it reads, and which worker role runs it."""

    name: str
    role: str
    handler: Handler
    streams: tuple[str, ...]
    types: frozenset[str] | None = None
    after: Callable[[list[Event]], None] | None = None
    """Told of the events whose effects just committed, outside the transaction (work
    that must follow at once, such as running the payments a batch started)."""


class DeadLetter(NamedTuple):
    """An event a consumer gave up on: which one, why, after how many attempts (0: it
    could not be read at all)."""

    reference: str  # the event id, or the stream entry of an unreadable entry
    error: str
    attempts: int


class Consumer(Protocol):
    """What a worker runs: the embedded outbox consumer or a Redis consumer group copy."""

    name: str

    def poll(self) -> int: ...
    def run(self, stop: threading.Event) -> None: ...
    def dead_letters(self) -> list[DeadLetter]: ...


class Applied(enum.Enum):
    """What ``apply_in_order`` did with one delivered event."""

    HANDLED = "handled"
    DUPLICATE = "duplicate"  # handled before: no second effect
    EARLY = "early"  # an earlier event of its aggregate in its stream is not applied yet


def apply_in_order(uow: UnitOfWork, consumer: str, events: Sequence[Event],
                   handler_of: Callable[[Event], Handler | None], *, now_us: int,
                   ignore_gap: bool = False) -> list[Applied]:
    """Apply delivered events of streams in their aggregates' order, each once, in the
    caller's unit of work (committed by the caller with the handlers' effects). Returns
    what happened to each, in order.

    Events of one aggregate in one stream carry consecutive sequence numbers; the consumer
    keeps the last it applied per aggregate, locked while it applies the next, so copies of
    a consumer sharing one stream still apply each aggregate's events in order. An event
    ahead of a missing predecessor is EARLY and should be offered again later;
    ``ignore_gap`` applies it anyway (its predecessor was trimmed, predates the consumer, or
    is long dead-lettered). ``handler_of`` None records an event as applied without an
    effect (a type the consumer does not handle). The bookkeeping is two statements on
    PostgreSQL (three on SQLite) whatever the batch size."""
    outbox = uow.outbox
    last = outbox.applied_seqs(consumer, {(e.stream, e.aggregate_id) for e in events})
    outcome: list[Applied] = []
    fresh: list[tuple[int, Event]] = []
    for event in events:
        key = (event.stream, event.aggregate_id)
        applied = last.get(key)
        if applied is not None and event.aggregate_seq <= applied:
            outcome.append(Applied.DUPLICATE)
            continue
        gap_ok = ignore_gap
        if applied is None and event.aggregate_seq > 1 and not gap_ok:
            # New to this consumer mid-history: only a predecessor still in the outbox can
            # be on its way (a trimmed one never will be).
            gap_ok = not outbox.has_event(event.stream, event.aggregate_id,
                                          event.aggregate_seq - 1)
        expected = 1 if applied is None else applied + 1
        if event.aggregate_seq != expected and not gap_ok:
            outcome.append(Applied.EARLY)
            continue
        last[key] = event.aggregate_seq
        fresh.append((len(outcome), event))
        outcome.append(Applied.HANDLED)
    if not fresh:
        return outcome
    moved = {(e.stream, e.aggregate_id) for _, e in fresh}
    claimed = outbox.advance(consumer, {key: last[key] for key in moved},
                             [e.event_id for _, e in fresh], now_us)
    for position, event in fresh:
        if event.event_id not in claimed:
            outcome[position] = Applied.DUPLICATE
            continue
        handler = handler_of(event)
        if handler is not None:
            handler(uow, event)
    return outcome


class Outbox:
    """Writes typed, versioned events into the caller's transaction."""

    def __init__(self, *, clock: Callable[[], int] = now_us) -> None:
        self._clock = clock

    def emit_in(self, uow: UnitOfWork, type_: str, aggregate_id: str,
                payload: Mapping[str, Any], *, version: int = 1, tenant: str = "default",
                trace_id: str | None = None) -> Event:
        event = self._checked(type_, version, aggregate_id, payload, tenant, trace_id)
        return replace(event, aggregate_seq=uow.outbox.append(event))

    def emit_many_in(self, uow: UnitOfWork, aggregate_id: str,
                     events: Sequence[tuple[str, Mapping[str, Any]]], *,
                     tenant: str = "default") -> list[Event]:
        """Several version-1 events of one aggregate, in order, written together."""
        built = [self._checked(type_, 1, aggregate_id, payload, tenant, None)
                 for type_, payload in events]
        seqs = uow.outbox.append_many(built)
        return [replace(event, aggregate_seq=seq) for event, seq in zip(built, seqs, strict=True)]

    def _checked(self, type_: str, version: int, aggregate_id: str,
                 payload: Mapping[str, Any], tenant: str, trace_id: str | None) -> Event:
        """A new event, its payload checked against its schema (its sequence number is
        given when it is written)."""
        schema = schema_for(type_, version)
        check_payload(schema, payload)
        return Event(str(uuid.uuid4()), type_, version, schema.stream, aggregate_id, 0,
                     tenant, self._clock(), trace_id or carried() or secrets.token_hex(16),
                     dict(payload))


def traced(consumer: str, handler: Handler) -> Handler:
    """``handler`` continuing each event's trace in an ``event.handle`` span, with the
    event's ids bound to its log lines."""
    def handle(uow: UnitOfWork, event: Event) -> None:
        with continued(event.trace_id), bound_contextvars(
                consumer=consumer, event_id=event.event_id, event_type=event.type), span(
                "event.handle", **{"messaging.consumer.group.name": consumer,
                                   "messaging.message.id": event.event_id,
                                   "finbot.event.type": event.type}):
            handler(uow, event)
    return handle


class CommitBell:
    """Rung after each commit that wrote events; the embedded consumers in this process
    listen to it, so they take new events at once instead of when their idle wait ends
    (embedded mode has no Redis to block on). Each listener has its own flag, so a ring
    between a listener's empty read and its wait is not lost."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[threading.Event] = []

    def ring(self) -> None:
        with self._lock:
            for listener in self._listeners:
                listener.set()

    def listen(self) -> threading.Event:
        """A flag set by every ring from now on, until ``forget``."""
        listener = threading.Event()
        with self._lock:
            self._listeners.append(listener)
        return listener

    def forget(self, listener: threading.Event) -> None:
        with self._lock:
            self._listeners.remove(listener)


GATHER_S = 0.01
"""How long an embedded consumer lets events gather after a partial batch or a ring."""


class OutboxConsumer:
    """One named consumer of the outbox; copies with the same name share its offset."""

    def __init__(self, name: str, uow: UowFactory, handler: Handler, *,
                 types: Collection[str] | None = None, max_attempts: int = 5,
                 backoff_s: float = 0.05, clock: Callable[[], int] = now_us,
                 sleep: Callable[[float], None] = time.sleep,
                 on_settled: Callable[[list[Event]], None] | None = None,
                 bell: CommitBell | None = None, reader: UowFactory | None = None) -> None:
        """``bell``: rung by this process's commits that wrote events (``run`` then waits
        for it rather than for its whole idle interval). ``reader``: units of work for
        the read of what is new (one statement, which need not wait for writers)."""
        self.name = name
        self._bell = bell
        self._reader = reader or uow
        self._on_settled = on_settled  # told of events whose effect committed
        self._uow = uow
        self._handler = handler
        self._types = frozenset(types) if types is not None else None
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._clock = clock
        self._sleep = sleep
        self.done = 0  # events taken by ``run``

    def poll(self, *, limit: int = 100) -> int:
        """Handle (or dead-letter) the next committed events; how many were taken."""
        with self._reader() as uow:
            start = uow.outbox.offset(self.name)
            batch: Sequence[tuple[tuple[int, int], Event | None]] = (
                uow.outbox.after(start, limit=limit) if self._types is None
                else uow.outbox.wanted_after(start, limit=limit, types=self._types))
        if batch and not self._take_all(batch):
            for cursor, event in batch:  # someone's handler failed: one at a time
                if event is not None:
                    self._take(cursor, event)
        return len(batch)

    def _take_all(self, batch: Sequence[tuple[tuple[int, int], Event | None]]) -> bool:
        """The whole batch in one transaction; False (nothing kept) if an event is
        unreadable or a handler failed, so each can be retried or dead-lettered alone."""
        try:
            self._handle(batch)
        except Exception:  # kept by the one-at-a-time path: the error and the dead letter
            return False
        return True

    def _handle(self, batch: Sequence[tuple[tuple[int, int], Event | None]]) -> None:
        """Handle ``batch`` in one transaction with its processed-events records and the
        advanced offset; events another copy of this consumer took are skipped, and so
        are those of types it does not handle (None)."""
        with self._uow() as uow:
            offset = uow.outbox.offset(self.name, lock=True)
            wanted = [event for cursor, event in batch if cursor > offset
                      and event is not None]
            for event in wanted:
                check_payload(schema_for(event.type, event.version), event.payload)
            claimed = uow.outbox.claim_many(self.name, [e.event_id for e in wanted],
                                            self._clock()) if wanted else set()
            handled = [event for event in wanted if event.event_id in claimed]
            for event in handled:
                self._handler(uow, event)
            uow.outbox.save_offset(self.name, max(offset, batch[-1][0]))
            uow.commit()
        if self._on_settled and handled:
            self._on_settled(handled)

    def run(self, stop: threading.Event, *, idle_s: float = 0.05, limit: int = 100,
            gather_s: float = GATHER_S) -> None:
        """Poll until ``stop`` is set; the event in hand is finished first. A full batch
        is followed at once by the next. With nothing to take, wait ``idle_s`` or, with a
        bell, until this process commits events (events committed by other processes are
        seen within ``idle_s``). After a partial batch or a ring, let events gather for
        ``gather_s`` first: every batch is a write transaction, and in one process the
        writers queue for one lock, so a consumer woken by every commit took each event
        in a transaction of its own and held the others up."""
        rung = self._bell.listen() if self._bell is not None else None
        try:
            while not stop.is_set():
                if rung is not None:
                    rung.clear()  # before reading: a commit from now on wakes the wait
                taken = self.poll(limit=limit)
                self.done += taken
                if taken >= limit:
                    continue
                if not taken and not (rung or stop).wait(idle_s):
                    continue  # nothing rang: look again (another process may have written)
                stop.wait(gather_s)
        finally:
            if self._bell is not None and rung is not None:
                self._bell.forget(rung)

    def dead_letters(self) -> list[DeadLetter]:
        with self._uow() as uow:
            return [DeadLetter(*row) for row in uow.outbox.dead_letters(self.name)]

    def _take(self, cursor: tuple[int, int], event: Event) -> None:
        try:
            check_payload(schema_for(event.type, event.version), event.payload)
        except InvalidInput as unreadable:  # a poison message must not block the stream
            self._dead_letter(cursor, event, unreadable.message, attempts=0)
            return
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                self._handle([(cursor, event)])
                return
            except TransientConflict:
                continue
            except Exception as failure:  # the handler's failure is kept with the event
                error = f"{type(failure).__name__}: {failure}"
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
        self._dead_letter(cursor, event, error, attempts=self._max_attempts)

    def _dead_letter(self, cursor: tuple[int, int], event: Event, error: str, *,
                     attempts: int) -> None:
        with self._uow() as uow:
            if uow.outbox.offset(self.name, lock=True) < cursor:
                uow.outbox.dead_letter(self.name, cursor, event.event_id, error, attempts,
                                       self._clock())
                uow.outbox.save_offset(self.name, cursor)
            uow.commit()


class OutboxTail:
    """Follows the outbox from its current end, for live push (no bookkeeping: a browser
    that misses an event while disconnected reloads its page)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow
        self._cursor: tuple[int, int] | None = None

    def poll(self, *, limit: int = 500) -> list[Event]:
        with self._uow() as uow:
            if self._cursor is None:
                self._cursor = uow.outbox.end()
                return []
            batch = uow.outbox.after(self._cursor, limit=limit)
        if batch:
            self._cursor = batch[-1][0]
        return [event for _, event in batch]
