"""A consumer group member on Redis Streams: at-least-once delivery, effects exactly once.

Copies of a consumer share one Redis consumer group, so each entry goes to one copy. An
entry is acknowledged (XACK) only after its effect, the processed-events record and the
aggregate's applied sequence committed in one database transaction; a copy that dies
between the two leaves the entry pending, another copy reclaims it (XAUTOCLAIM) once it
has been idle ``claim_idle_ms``, and the processed-events record keeps the effect from
happening twice.

Per-aggregate order holds across copies: an entry whose predecessor (same aggregate, same
stream) is still being handled elsewhere is kept and offered again, and applied once the
predecessor is; after ``order_wait_s`` (longer than a reclaim takes) a missing predecessor
is given up on. A malformed or unknown-version entry, one whose handler failed
``max_attempts`` times (with backoff), or one that was delivered ``max_deliveries`` times
without an acknowledgement (it crashes its consumers) goes to the dead-letter stream with
the reason and is acknowledged: a poison message never blocks the stream.

Stopping finishes the entry in hand and releases the rest: they are marked idle, so another
copy reclaims them at once.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from redis.exceptions import RedisError, ResponseError

from finbot.adapters.db.availability import database_unavailable
from finbot.adapters.redis.streams import PREFIX, as_text, event_from_fields, stream_key
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.domain.events import Event, check_payload, schema_for
from finbot.services.events import Applied, DeadLetter, Handler, apply_in_order
from finbot.services.ledger import UowFactory
from finbot.services.ports import TransientConflict, UnitOfWork

logger = logging.getLogger(__name__)

DEAD_LETTERS = "dead"
"""The dead-letter stream: ``finbot:events:dead``."""


def default_consumer_name() -> str:
    """A name unique to this process: its entries are reclaimed by others if it dies."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class _Held:
    """An entry delivered to this copy and not yet acknowledged."""

    key: str
    entry_id: str
    fields: Mapping[Any, Any]
    delivered_at: float = field(default_factory=time.monotonic)  # order waits count from it


class StreamConsumer:
    """One copy of a named consumer reading one or more streams through a consumer group."""

    def __init__(self, group: str, uow: UowFactory, handler: Handler, client: Redis, *,
                 streams: Collection[str], types: Collection[str] | None = None,
                 name: str | None = None, prefix: str = PREFIX, batch: int = 100,
                 block_ms: int = 1000, max_attempts: int = 5, backoff_s: float = 0.05,
                 claim_idle_ms: int = 30_000, order_wait_s: float = 60.0,
                 max_deliveries: int = 10, gather_s: float = 0.002,
                 clock: Callable[[], int] = now_us,
                 sleep: Callable[[float], None] = time.sleep,
                 on_settled: Callable[[list[Event]], None] | None = None) -> None:
        if order_wait_s * 1000 <= claim_idle_ms:
            raise ValueError("order_wait_s must outlast claim_idle_ms, or an entry could "
                             "overtake a predecessor that is only waiting to be reclaimed")
        self.name = group
        self.consumer = name or default_consumer_name()
        self._uow = uow
        self._handler = handler
        self._client = client
        self._keys = [stream_key(s, prefix=prefix) for s in streams]
        self._dead_key = stream_key(DEAD_LETTERS, prefix=prefix)
        self._types = frozenset(types) if types is not None else None
        self._batch = batch
        self._block_ms = block_ms
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._claim_idle_ms = claim_idle_ms
        self._order_wait_s = order_wait_s
        self._max_deliveries = max_deliveries
        self._gather_s = gather_s
        self._clock = clock
        self._sleep = sleep
        self._on_settled = on_settled  # told of events whose effect committed (metrics)
        self._early: dict[str, _Held] = {}
        self.done = 0  # entries settled by ``run`` (a worker reports it when it stops)
        self._stop = threading.Event()
        self._started = False
        self._last_reclaim = 0.0
        self._last_touch = time.monotonic()

    def ensure_groups(self) -> None:
        """Create the consumer group on each stream (from its first entry) if missing."""
        for key in self._keys:
            try:
                self._client.xgroup_create(key, self.name, id="0", mkstream=True)
            except ResponseError as exists:
                if "BUSYGROUP" not in str(exists):
                    raise

    def poll(self, *, block: bool = True) -> int:
        """Handle what is due: on the first call this copy's own unacknowledged entries
        (left by a previous run under the same name), then entries idle on dead copies,
        then entries held back for order, then new ones (waiting up to ``block_ms`` if
        nothing else was due). Returns how many entries were settled."""
        try:
            return self._poll(block=block)
        except ResponseError as missing:
            if "NOGROUP" not in str(missing):
                raise
            # Redis lost the group (flushed or restarted empty): start again from the
            # streams' beginning; what was handled before is recognised and skipped.
            logger.warning("%s: consumer group missing; recreating it", self.name)
            self._started = False
            self._early.clear()
            return 0

    def _poll(self, *, block: bool) -> int:
        settled = 0
        if not self._started:
            self.ensure_groups()
            self._started = True
            settled += self._settle_all(self._read_own(), check_deliveries=True)
        if time.monotonic() - self._last_reclaim >= min(1.0, self._claim_idle_ms / 2000):
            self._last_reclaim = time.monotonic()
            settled += self._settle_all(self._reclaim(), check_deliveries=True)
        settled += self._retry_early()
        wait_ms = None
        if block and not settled:  # nothing done: wait for new entries, briefly if some
            wait_ms = min(self._block_ms, 50) if self._early else self._block_ms  # are held
        settled += self._settle_batch(self._read(">", block_ms=wait_ms))
        return settled

    def run(self, stop: threading.Event, *, retry_s: float = 1.0) -> None:
        """Consume until ``stop``: the entry in hand is finished, the rest released. After a
        partial batch the copy lets entries gather for ``gather_s`` before reading again (one
        transaction and one XACK serve them all)."""
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    settled = self.poll()
                    self.done += settled
                    if 0 < settled < self._batch:
                        stop.wait(self._gather_s)
                except RedisError as failure:  # Redis is down: entries wait there
                    logger.warning("%s waiting for Redis: %s", self.name, failure)
                    stop.wait(retry_s)
                except Exception as failure:
                    if not database_unavailable(failure):
                        raise
                    self._wait_for_database(stop, failure, retry_s)
        finally:
            try:
                self.release()
            except RedisError:  # unreachable: the entries are reclaimed once idle
                logger.warning("%s could not release its entries", self.name)

    def _wait_for_database(self, stop: threading.Event, failure: Exception,
                           retry_s: float) -> None:
        """The database went away mid-entry: wait until it answers, then take this copy's
        unacknowledged entries again (read once more, so counted as one more delivery)."""
        logger.warning("%s waiting for the database: %s", self.name, failure)
        while not stop.wait(retry_s):
            try:
                with self._uow():
                    pass
            except Exception as still:
                if not database_unavailable(still):
                    raise
                continue
            break
        self._started = False
        self._early.clear()

    def release(self) -> None:
        """Hand back every entry this copy holds: marked idle, another copy takes it now."""
        held = _by_key(self._early.values())
        for key in self._keys:
            pending = self._client.xpending_range(key, self.name, "-", "+", 10_000,
                                                 consumername=self.consumer)
            held.setdefault(key, []).extend(as_text(p["message_id"]) for p in pending)
        for key, ids in held.items():
            if ids:
                self._client.xclaim(key, self.name, self.consumer, 0,
                                    list[Any](sorted(set(ids))),
                                    idle=self._claim_idle_ms, justid=True)
        self._early.clear()

    def dead_letters(self) -> list[DeadLetter]:
        """This consumer's dead letters, oldest first (the entries as they were are kept
        in the dead-letter stream's ``fields``)."""
        rows = []
        entries: Any = self._client.xrange(self._dead_key)
        for _, fields in entries:
            row = {as_text(k): as_text(v) for k, v in fields.items()}
            if row.get("consumer") == self.name:
                reference = json.loads(row["fields"]).get(
                    "event_id", f"{row['source']} {row['entry_id']}")
                rows.append(DeadLetter(reference, row["error"], int(row["attempts"])))
        return rows

    # -- reading ---------------------------------------------------------------------------

    def _read_own(self) -> list[_Held]:
        """Entries delivered to this name before (a previous run) and never acknowledged."""
        held: list[_Held] = []
        for key in self._keys:
            start = "0"
            while True:
                reply: Any = self._client.xreadgroup(self.name, self.consumer, {key: start},
                                                count=self._batch)
                entries = reply[0][1] if reply else []
                held.extend(self._entries(key, entries))
                if len(entries) < self._batch:
                    break
                start = as_text(entries[-1][0])
        return held

    def _read(self, start: str, *, block_ms: int | None = None) -> list[_Held]:
        streams: dict[Any, Any] = dict.fromkeys(self._keys, start)
        reply: Any = self._client.xreadgroup(self.name, self.consumer, streams,
                                        count=self._batch, block=block_ms)
        held = []
        for key, entries in reply or []:
            held.extend(self._entries(as_text(key), entries))
        return held

    def _entries(self, key: str, entries: list[Any]) -> list[_Held]:
        held = []
        for entry_id, fields in entries:
            if fields is None:  # trimmed away while pending: nothing left to handle
                self._client.xack(key, self.name, entry_id)
                continue
            held.append(_Held(key, as_text(entry_id), fields))
        return held

    def _reclaim(self) -> list[_Held]:
        held = []
        for key in self._keys:
            start = "0-0"
            while True:
                reply: Any = self._client.xautoclaim(key, self.name, self.consumer,
                                                self._claim_idle_ms, start, count=self._batch)
                start, entries = as_text(reply[0]), reply[1]
                held.extend(self._entries(key, entries))
                if start == "0-0" or not entries:
                    break
        return held

    # -- settling --------------------------------------------------------------------------

    def _settle_all(self, held: list[_Held], *, check_deliveries: bool = False) -> int:
        settled = 0
        for item in held:
            if self._stop.is_set():  # the rest stays pending and is released
                break
            if check_deliveries and self._deliveries(item) > self._max_deliveries:
                self._dead_letter(item, f"delivered more than {self._max_deliveries} times "
                                        "without being acknowledged", 0)
                settled += 1
            elif self._settle(item):
                settled += 1
        return settled

    def _retry_early(self) -> int:
        if not self._early:
            return 0
        if time.monotonic() - self._last_touch >= self._claim_idle_ms / 3000:
            self._touch()
        settled = 0
        for item in list(self._early.values()):
            if self._settle(item):
                settled += 1
        return settled

    def _settle_batch(self, held: list[_Held]) -> int:
        """New entries: every readable one applied in one transaction and acknowledged in
        one XACK; if the transaction fails (a handler raised), each entry goes through
        ``_settle`` on its own, with retries and dead-lettering."""
        readable: list[tuple[_Held, Event]] = []
        settled = 0
        for item in held:
            event = self._parse(item)
            if isinstance(event, Event):
                readable.append((item, event))
            else:
                settled += self._dead_letter(item, event, 0)
        try:
            with self._uow() as uow:
                outcome = apply_in_order(uow, self.name, [event for _, event in readable],
                                         self._handler_of, now_us=self._clock())
                uow.commit()
        except _Stopping:  # rolled back: the batch is released to the other copies
            return settled
        except Exception:  # someone's handler failed: find it, one entry at a time
            return settled + self._settle_all([item for item, _ in readable])
        acked: list[tuple[_Held, Event]] = []
        for (item, event), applied in zip(readable, outcome, strict=True):
            if applied is Applied.EARLY:
                self._early.setdefault(item.entry_id, item)
            else:
                acked.append((item, event))
        for key, ids in _by_key(item for item, _ in acked).items():
            self._client.xack(key, self.name, *ids)
        if self._on_settled:
            self._on_settled([event for _, event in acked])
        return settled + len(acked)

    def _settle(self, item: _Held) -> bool:
        """Apply, dead-letter or hold back one entry; True once it is acknowledged."""
        event = self._parse(item)
        if not isinstance(event, Event):
            return self._dead_letter(item, event, 0)
        overdue = time.monotonic() - item.delivered_at >= self._order_wait_s
        error = ""
        for attempt in range(1, self._max_attempts + 1):
            try:
                applied = self._apply(event, ignore_gap=item.entry_id in self._early and overdue)
            except TransientConflict:
                continue
            except Exception as failure:  # kept with the dead letter if it never succeeds
                if database_unavailable(failure):
                    raise  # not this event's fault: ``run`` waits for the database
                error = f"{type(failure).__name__}: {failure}"
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
                continue
            if applied is Applied.EARLY:
                self._early.setdefault(item.entry_id, item)
                return False
            self._ack(item)
            if self._on_settled:
                self._on_settled([event])
            return True
        return self._dead_letter(item, error, self._max_attempts, event=event)

    @staticmethod
    def _parse(item: _Held) -> Event | str:
        """The entry's event, or why it cannot be read (unknown type or version,
        malformed)."""
        try:
            event = event_from_fields(dict(item.fields))
            check_payload(schema_for(event.type, event.version), event.payload)
        except InvalidInput as unreadable:
            return unreadable.message
        except (KeyError, ValueError, TypeError) as malformed:
            return f"malformed entry: {type(malformed).__name__}: {malformed}"
        return event

    def _handler_of(self, event: Event) -> Handler | None:
        if self._types is not None and event.type not in self._types:
            return None
        return self._handle

    def _handle(self, uow: UnitOfWork, event: Event) -> None:
        if self._stop.is_set():  # stopping: finish nothing new
            raise _Stopping
        self._handler(uow, event)

    def _apply(self, event: Event, *, ignore_gap: bool) -> Applied:
        with self._uow() as uow:
            [applied] = apply_in_order(uow, self.name, [event], self._handler_of,
                                       now_us=self._clock(), ignore_gap=ignore_gap)
            if applied is not Applied.EARLY:
                uow.commit()
        if ignore_gap and applied is Applied.HANDLED:
            logger.warning("%s applied %s #%d of %s after waiting %.0f s for its "
                           "predecessor", self.name, event.type, event.aggregate_seq,
                           event.aggregate_id, self._order_wait_s)
        return applied

    def _dead_letter(self, item: _Held, error: str, attempts: int, *,
                     event: Event | None = None) -> bool:
        """Park the entry with its reason, let its aggregate move on, acknowledge it."""
        raw = {as_text(k): as_text(v) for k, v in item.fields.items()}
        pipe = self._client.pipeline(transaction=True)
        pipe.xadd(self._dead_key, {"consumer": self.name, "source": item.key,
                                   "entry_id": item.entry_id, "error": error[:4000],
                                   "attempts": str(attempts), "failed_at": str(self._clock()),
                                   "fields": json.dumps(raw, sort_keys=True)})
        pipe.xack(item.key, self.name, item.entry_id)
        if event is not None:  # the aggregate's later events must not wait on this one
            key = (event.stream, event.aggregate_id)
            with self._uow() as uow:
                last = uow.outbox.applied_seqs(self.name, {key}).get(key)
                if last is None or last < event.aggregate_seq:
                    uow.outbox.save_applied_seqs(self.name, {key: event.aggregate_seq})
                uow.commit()
        pipe.execute()
        self._early.pop(item.entry_id, None)
        logger.error("%s dead-lettered %s %s: %s", self.name, item.key, item.entry_id, error)
        return True

    def _ack(self, item: _Held) -> None:
        self._client.xack(item.key, self.name, item.entry_id)
        self._early.pop(item.entry_id, None)

    def _deliveries(self, item: _Held) -> int:
        pending = self._client.xpending_range(item.key, self.name, item.entry_id,
                                              item.entry_id, 1)
        return int(pending[0]["times_delivered"]) if pending else 0

    def _touch(self) -> None:
        """Reset the idle time of held-back entries so no other copy reclaims them."""
        self._last_touch = time.monotonic()
        for key, ids in _by_key(self._early.values()).items():
            self._client.xclaim(key, self.name, self.consumer, 0, list[Any](ids),
                                justid=True)


def _by_key(items: Iterable[_Held]) -> dict[str, list[str]]:
    """Entry ids grouped by stream key, in order (one command per stream)."""
    grouped: dict[str, list[str]] = {}
    for item in items:
        grouped.setdefault(item.key, []).append(item.entry_id)
    return grouped


class _Stopping(Exception):
    """Raised inside a batch's transaction when the consumer is told to stop."""

