"""The outbox in SQL: events written beside the change they announce, read in commit order.

On PostgreSQL a row's id is taken before its transaction commits, so rows can become
visible out of id order. Each row also stores its transaction id, and a reader only
returns rows from transactions older than the oldest one still running
(``pg_snapshot_xmin``); ordered by (txid, id) that is commit-safe: no later commit can
land behind a reader's cursor. SQLite has one writer at a time, so id order is commit
order there.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, text, tuple_

from finbot.adapters.db.engine import upsert_insert
from finbot.adapters.db.sql import Sql
from finbot.adapters.db.tables import (
    aggregate_cursors,
    consumer_offsets,
    dead_letters,
    outbox,
    outbox_waiting,
    processed_events,
)
from finbot.domain.events import ENVELOPE, Event, Outgoing

Cursor = tuple[int, int]
"""(transaction id, outbox id): a consumer's position."""

_RESERVE = Sql(
    "INSERT INTO outbox_aggregates (stream, aggregate_id, seq) VALUES (:stream, :aggregate_id, :n)"
    " ON CONFLICT (stream, aggregate_id) DO UPDATE SET seq = outbox_aggregates.seq + :n"
    " RETURNING seq")
"""Takes the aggregate's next ``n`` sequence numbers; returns the last of them."""
_COLUMNS = ("event_id, stream, type, version, aggregate_id, aggregate_seq, tenant, "
            "occurred_at, trace_id, payload")
_INSERT = Sql(f"INSERT INTO outbox ({_COLUMNS}) VALUES (:event_id, :stream, :type, :version, "
               ":aggregate_id, :seq, :tenant, :occurred_at, :trace_id, :payload)")
_APPEND_PG = Sql(
    f"WITH next AS ({_RESERVE.sqlite}) INSERT INTO outbox ({_COLUMNS}) "
    "SELECT :event_id, :stream, :type, :version, :aggregate_id, next.seq, :tenant, "
    ":occurred_at, :trace_id, :payload FROM next RETURNING aggregate_seq")
_TEXT_OUT = ", ".join(f"CAST({name} AS TEXT)" if name in ("version", "aggregate_seq",
                                                          "occurred_at") else name
                     for name in ENVELOPE)
_COLUMNS_OUT = f"SELECT id, {_TEXT_OUT} FROM outbox"
"""The outbox id, then the flat envelope's fields in ``ENVELOPE`` order, every one text."""
_WAITING_PG = (f"{_COLUMNS_OUT} WHERE id = ANY(ARRAY(SELECT id FROM outbox_waiting "
               "WHERE id <> ALL(%s) ORDER BY id LIMIT %s)) ORDER BY id")
_WAITING_SQLITE = (f"{_COLUMNS_OUT} WHERE id IN (SELECT id FROM outbox_waiting WHERE id NOT IN "
                   "(SELECT value FROM json_each(?)) ORDER BY id LIMIT ?) ORDER BY id")
"""The oldest waiting rows, but for those whose mark is still being written: the first ids
on outbox_waiting's primary key, then those rows by the outbox's. On PostgreSQL the ids are
an array: as ``IN (SELECT ...)`` the planner, not yet knowing a burst of new rows, hashes
them against a scan of the whole outbox."""
_RELAYED_PG = text("DELETE FROM outbox_waiting WHERE id = ANY(:ids)")
_WAIT_AGAIN = text("INSERT INTO outbox_waiting (id) SELECT id FROM outbox "
                   "WHERE id NOT IN (SELECT id FROM outbox_waiting)")
_RELAYED_SQLITE = text("DELETE FROM outbox_waiting WHERE id IN (SELECT value FROM json_each(:ids))")
# A consumer's bookkeeping on PostgreSQL: one statement each whatever the batch, its keys
# and ids as arrays, so the text never changes (prepared once) and nothing runs per row.
_APPLIED_PG = Sql(
    "SELECT c.stream, c.aggregate_id, c.seq FROM aggregate_cursors c JOIN unnest("
    "CAST(:streams AS text[]), CAST(:aggregates AS text[])) AS k(stream, aggregate_id) "
    "ON c.stream = k.stream AND c.aggregate_id = k.aggregate_id "
    "WHERE c.consumer = :consumer ORDER BY c.stream, c.aggregate_id FOR UPDATE OF c")
_SAVE_APPLIED = (
    "INSERT INTO aggregate_cursors (consumer, stream, aggregate_id, seq) "
    "SELECT :consumer, k.stream, k.aggregate_id, k.seq FROM unnest(CAST(:streams AS text[]), "
    "CAST(:aggregates AS text[]), CAST(:seqs AS bigint[])) AS k(stream, aggregate_id, seq) "
    "ORDER BY k.stream, k.aggregate_id "
    "ON CONFLICT (consumer, stream, aggregate_id) DO UPDATE SET seq = excluded.seq")
_CLAIM = (
    "INSERT INTO processed_events (consumer, event_id, processed_at) "
    "SELECT :consumer, e.id, :now FROM unnest(CAST(:ids AS text[])) AS e(id) "
    "ON CONFLICT DO NOTHING RETURNING event_id")
_FIRST_TRACE = Sql("SELECT trace_id FROM outbox WHERE stream = :stream "
                   "AND aggregate_id = :aggregate_id ORDER BY aggregate_seq LIMIT 1")
_SAVE_APPLIED_PG = Sql(_SAVE_APPLIED)
_CLAIM_PG = Sql(_CLAIM)
_ADVANCE_PG = Sql(f"WITH saved AS ({_SAVE_APPLIED}) {_CLAIM}")
"""Both in one statement (PostgreSQL runs a data-modifying WITH whether or not the main
statement reads it): one round trip where two were."""
RELAYED = outbox.c.id.not_in(select(outbox_waiting.c.id))
"""An outbox row the relay has published (it no longer waits)."""
_VISIBLE = text("outbox.txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


def _values(event: Event) -> dict[str, Any]:
    """An event's row, but for its sequence number."""
    return {"event_id": event.event_id, "stream": event.stream, "type": event.type,
            "version": event.version, "aggregate_id": event.aggregate_id,
            "tenant": event.tenant, "occurred_at": event.occurred_at_us,
            "trace_id": event.trace_id, "payload": json.dumps(dict(event.payload), sort_keys=True)}


def _event(row: Any) -> Event:
    return Event(row.event_id, row.type, row.version, row.stream, row.aggregate_id,
                 row.aggregate_seq, row.tenant, row.occurred_at, row.trace_id,
                 json.loads(row.payload))


def _seq_arrays(seqs: dict[tuple[str, str], int]) -> dict[str, list[Any]]:
    """Applied sequences per (stream, aggregate) as the array parameters of
    ``_SAVE_APPLIED``."""
    return {"streams": [stream for stream, _ in seqs],
            "aggregates": [aggregate for _, aggregate in seqs], "seqs": list(seqs.values())}


class SqlOutboxRepo:
    def __init__(self, connection: Connection) -> None:
        self.conn = connection
        self._postgres = connection.dialect.name == "postgresql"
        self.written = False  # events appended in this transaction

    def append(self, event: Event) -> int:
        """Write ``event`` with its aggregate's next sequence number in its stream, and
        return that number. The aggregate's counter row stays locked until commit, so its
        events commit in sequence order. One statement on PostgreSQL, two on SQLite, on the
        driver's cursor (this runs in every state change's transaction)."""
        self.written = True
        values = {**_values(event), "n": 1}
        row = (_APPEND_PG if self._postgres else _RESERVE).first(self.conn, **values)
        assert row is not None  # both statements return the sequence number they took
        if not self._postgres:
            _INSERT.execute(self.conn, **values, seq=row[0])
        return int(row[0])

    def append_many(self, events: Sequence[Event]) -> list[int]:
        """Write ``events`` (in order) and return their sequence numbers: one counter update
        per aggregate and one multi-row insert, whatever the count (a workflow step's
        model events arrive a dozen at a time)."""
        self.written = self.written or bool(events)
        counts = Counter((e.stream, e.aggregate_id) for e in events)
        next_seq = {}
        for (stream, aggregate_id), n in counts.items():
            reserved = _RESERVE.first(self.conn, stream=stream, aggregate_id=aggregate_id, n=n)
            assert reserved is not None  # the upsert returns the counter it moved
            last = int(reserved[0])
            next_seq[stream, aggregate_id] = last - n + 1
        rows, seqs = [], []
        for event in events:
            key = (event.stream, event.aggregate_id)
            seq, next_seq[key] = next_seq[key], next_seq[key] + 1
            seqs.append(seq)
            rows.append({**_values(event), "seq": seq})
        if rows:
            _INSERT.run_many(self.conn, rows)
        return seqs

    def after(self, cursor: Cursor, *, limit: int) -> list[tuple[Cursor, Event]]:
        """Committed events past ``cursor``, in commit-safe order."""
        return [((int(r.txid), int(r.id)), _event(r)) for r in self._rows_after(cursor, limit)]

    def wanted_after(self, cursor: Cursor, *, limit: int, types: Collection[str]
                     ) -> list[tuple[Cursor, Event | None]]:
        """The next ``limit`` committed events past ``cursor`` as ``after`` reads them,
        but those not of ``types`` as None, their payloads never decoded: a consumer
        passes over them (most events are the model's, which few consumers handle)."""
        return [((int(r.txid), int(r.id)), _event(r) if r.type in types else None)
                for r in self._rows_after(cursor, limit)]

    def _rows_after(self, cursor: Cursor, limit: int) -> list[Any]:
        txid, outbox_id = cursor
        query = select(outbox).where(or_(outbox.c.txid > txid, and_(
            outbox.c.txid == txid, outbox.c.id > outbox_id)))
        if self._postgres:
            query = query.where(_VISIBLE)
        return list(self.conn.execute(query.order_by(outbox.c.txid, outbox.c.id).limit(limit)))

    def end(self) -> Cursor:
        """The cursor after the last committed-and-readable event."""
        return self._last(visible_only=self._postgres)

    def newest(self) -> Cursor:
        """The cursor of the last event written, whether or not readers may see it yet."""
        return self._last(visible_only=False)

    def _last(self, *, visible_only: bool) -> Cursor:
        query = select(outbox.c.txid, outbox.c.id)
        if visible_only:
            query = query.where(_VISIBLE)
        row = self.conn.execute(query.order_by(outbox.c.txid.desc(), outbox.c.id.desc())
                                .limit(1)).first()
        return (int(row[0]), int(row[1])) if row else (-1, 0)

    def offset(self, consumer: str, *, lock: bool = False) -> Cursor:
        query = select(consumer_offsets.c.txid, consumer_offsets.c.outbox_id).where(
            consumer_offsets.c.consumer == consumer)
        row = self.conn.execute(query.with_for_update() if lock else query).first()
        return (int(row[0]), int(row[1])) if row else (-1, 0)

    def save_offset(self, consumer: str, cursor: Cursor) -> None:
        offsets = consumer_offsets.c
        statement = upsert_insert(self.conn, consumer_offsets).values(
            consumer=consumer, txid=cursor[0], outbox_id=cursor[1])
        self.conn.execute(statement.on_conflict_do_update(
            index_elements=[offsets.consumer],
            set_={"txid": cursor[0], "outbox_id": cursor[1]}))

    def claim(self, consumer: str, event_id: str, now_us: int) -> bool:
        """Record that ``consumer`` handles ``event_id``; False if it already did."""
        return bool(self.claim_many(consumer, [event_id], now_us))

    def claim_many(self, consumer: str, event_ids: list[str], now_us: int) -> set[str]:
        """Record that ``consumer`` handles each of ``event_ids``; the ones it had not yet."""
        # One cached statement whatever the count; RETURNING, not rowcount: drivers
        # disagree on the count of a skipped insert.
        if self._postgres:
            return {str(row[0]) for row in _CLAIM_PG.run(
                self.conn, consumer=consumer, ids=event_ids, now=now_us)}
        statement = upsert_insert(self.conn, processed_events).on_conflict_do_nothing()
        inserted = self.conn.execute(statement.returning(processed_events.c.event_id), [
            {"consumer": consumer, "event_id": event_id, "processed_at": now_us}
            for event_id in event_ids])
        return {str(row[0]) for row in inserted}

    def advance(self, consumer: str, seqs: dict[tuple[str, str], int], event_ids: list[str],
                now_us: int) -> set[str]:
        """Save the aggregates' applied sequences ``seqs`` and claim ``event_ids`` (as
        ``save_applied_seqs`` then ``claim_many``); the ids not claimed before."""
        if not self._postgres:
            self.save_applied_seqs(consumer, seqs)
            return self.claim_many(consumer, event_ids, now_us)
        return {str(row[0]) for row in _ADVANCE_PG.run(
            self.conn, consumer=consumer, **_seq_arrays(seqs), ids=event_ids, now=now_us)}

    def dead_letter(self, consumer: str, cursor: Cursor, event_id: str, error: str,
                    attempts: int, now_us: int) -> None:
        statement = upsert_insert(self.conn, dead_letters).values(
            consumer=consumer, event_id=event_id, outbox_id=cursor[1], error=error[:4000],
            attempts=attempts, created_at=now_us).on_conflict_do_nothing()
        self.conn.execute(statement)

    def dead_letters(self, consumer: str) -> list[tuple[str, str, int]]:
        rows = self.conn.execute(select(dead_letters.c.event_id, dead_letters.c.error,
                                        dead_letters.c.attempts)
                                 .where(dead_letters.c.consumer == consumer)
                                 .order_by(dead_letters.c.outbox_id))
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]

    def applied_seqs(self, consumer: str, keys: set[tuple[str, str]]
                     ) -> dict[tuple[str, str], int]:
        """The last sequence ``consumer`` applied of each (stream, aggregate), locked until
        commit; aggregates it never applied are absent."""
        if not keys:
            return {}
        if self._postgres:
            streams, aggregates = zip(*keys, strict=True)
            rows = _APPLIED_PG.run(self.conn, consumer=consumer, streams=list(streams),
                                   aggregates=list(aggregates))
            return {(r[0], r[1]): int(r[2]) for r in rows}
        c = aggregate_cursors.c
        rows = self.conn.execute(select(c.stream, c.aggregate_id, c.seq).where(
            c.consumer == consumer,
            tuple_(c.stream, c.aggregate_id).in_(bindparam("keys", expanding=True)))
            .with_for_update(), {"keys": sorted(keys)})
        return {(r.stream, r.aggregate_id): int(r.seq) for r in rows}

    def save_applied_seqs(self, consumer: str, seqs: dict[tuple[str, str], int]) -> None:
        if self._postgres:
            _SAVE_APPLIED_PG.run(self.conn, consumer=consumer, **_seq_arrays(seqs))
            return
        c = aggregate_cursors.c
        statement = upsert_insert(self.conn, aggregate_cursors)
        self.conn.execute(statement.on_conflict_do_update(
            index_elements=[c.consumer, c.stream, c.aggregate_id],
            set_={"seq": statement.excluded.seq}), [
            {"consumer": consumer, "stream": stream, "aggregate_id": aggregate, "seq": seq}
            for (stream, aggregate), seq in sorted(seqs.items())])

    def has_event(self, stream: str, aggregate_id: str, seq: int) -> bool:
        return self.conn.execute(select(outbox.c.id).where(
            outbox.c.stream == stream, outbox.c.aggregate_id == aggregate_id,
            outbox.c.aggregate_seq == seq)).first() is not None

    def first_trace(self, stream: str, aggregate_id: str) -> str | None:
        """The trace the aggregate's first retained event in ``stream`` carries (the work
        that follows it continues that trace); None when none is retained."""
        row = _FIRST_TRACE.first(self.conn, stream=stream, aggregate_id=aggregate_id)
        return row[0] if row is not None else None

    def history(self, *, streams: list[str], after_id: int, from_us: int | None,
                to_us: int | None, limit: int) -> list[tuple[int, Event]]:
        """Retained events of ``streams`` past outbox id ``after_id`` within the time
        range, in outbox order."""
        query = select(outbox).where(outbox.c.id > after_id, outbox.c.stream.in_(streams))
        if from_us is not None:
            query = query.where(outbox.c.occurred_at >= from_us)
        if to_us is not None:
            query = query.where(outbox.c.occurred_at <= to_us)
        rows = self.conn.execute(query.order_by(outbox.c.id).limit(limit))
        return [(int(r.id), _event(r)) for r in rows]

    def expired(self, *, before_us: int, relayed_only: bool, below: Cursor | None,
                limit: int) -> list[tuple[int, Event]]:
        """The oldest rows past retention that nothing needs any more: relayed (with
        Redis) or behind every embedded consumer's cursor."""
        query = select(outbox).where(outbox.c.occurred_at < before_us)
        if relayed_only:
            query = query.where(RELAYED)
        if below is not None:
            query = query.where(or_(outbox.c.txid < below[0], and_(
                outbox.c.txid == below[0], outbox.c.id <= below[1])))
        rows = self.conn.execute(query.order_by(outbox.c.id).limit(limit))
        return [(int(r.id), _event(r)) for r in rows]

    def delete(self, ids: list[int]) -> None:
        self.conn.execute(outbox.delete().where(outbox.c.id.in_(ids)))

    def backlog(self, cursor: Cursor) -> tuple[int, int | None]:
        """How many events lie past ``cursor`` (a consumer's offset), and when the oldest
        of them happened: a consumer's lag."""
        txid, outbox_id = cursor
        past = or_(outbox.c.txid > txid, and_(outbox.c.txid == txid, outbox.c.id > outbox_id))
        count, oldest = self.conn.execute(
            select(func.count(), func.min(outbox.c.occurred_at)).where(past)).one()
        return int(count), None if oldest is None else int(oldest)

    def oldest_unrelayed(self) -> int | None:
        """When the oldest event not yet relayed to the event stream happened."""
        return self.conn.execute(select(outbox.c.occurred_at).where(
            outbox.c.id == select(func.min(outbox_waiting.c.id)).scalar_subquery())).scalar()

    def slowest_offset(self, consumers: list[str]) -> Cursor:
        """The cursor of the furthest-behind of ``consumers`` ((-1, 0) if one never ran)."""
        rows = self.conn.execute(select(consumer_offsets.c.consumer, consumer_offsets.c.txid,
                                        consumer_offsets.c.outbox_id)
                                 .where(consumer_offsets.c.consumer.in_(consumers))).all()
        if len(rows) < len(set(consumers)):
            return (-1, 0)
        return min((int(r.txid), int(r.outbox_id)) for r in rows)

    def unclaim(self, consumer: str, event_id: str) -> None:
        """Forget that ``consumer`` handled ``event_id`` (a replay re-drives it)."""
        self.conn.execute(processed_events.delete().where(
            processed_events.c.consumer == consumer, processed_events.c.event_id == event_id))

    def prune_processed(self, *, before_us: int) -> int:
        """Drop processed-events records older than retention whose event left the outbox
        (no copy of it can be delivered again)."""
        retained = select(outbox.c.event_id).where(
            outbox.c.event_id == processed_events.c.event_id).exists()
        result = self.conn.execute(processed_events.delete().where(
            processed_events.c.processed_at < before_us, ~retained))
        return int(result.rowcount)

    def stats(self) -> dict[str, int]:
        """Counts for ``finbot events status``."""
        total = self.conn.execute(select(func.count()).select_from(outbox)).scalar_one()
        unrelayed = self.conn.execute(
            select(func.count()).select_from(outbox_waiting)).scalar_one()
        dead = self.conn.execute(select(func.count()).select_from(dead_letters)).scalar_one()
        return {"outbox": int(total), "unrelayed": int(unrelayed), "dead_letters": int(dead)}

    def unrelayed(self, *, limit: int, excluding: list[int] | None = None) -> list[Outgoing]:
        """The oldest rows not yet relayed, in id order (which keeps each aggregate's order:
        its next row is written only after the previous one committed), as flat stream
        entries straight from the columns (the payload text is sent as stored)."""
        skipped = list(excluding or ())  # rows whose mark is still being written
        # The relay's hot read: plain SQL on the driver's cursor, text tuples in, no ORM rows.
        cursor: Any = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        if self._postgres:
            cursor.execute(_WAITING_PG, (skipped, limit))
        else:
            cursor.execute(_WAITING_SQLITE, (json.dumps(skipped), limit))
        stream_at = 1 + ENVELOPE.index("stream")
        entries = [Outgoing(row[0], row[stream_at], dict(zip(ENVELOPE, row[1:], strict=True)))
                   for row in cursor.fetchall()]
        cursor.close()
        return entries

    def forget_relayed(self) -> int:
        """Let every relayed row wait to be relayed again; how many."""
        return int(self.conn.execute(_WAIT_AGAIN).rowcount)

    def mark_relayed(self, ids: list[int]) -> None:
        """The rows ``ids`` no longer wait: one statement with one parameter for the whole
        batch (an array on PostgreSQL, a JSON list on SQLite)."""
        if self._postgres:
            self.conn.execute(_RELAYED_PG, {"ids": ids})
        else:
            self.conn.execute(_RELAYED_SQLITE, {"ids": json.dumps(ids)})
