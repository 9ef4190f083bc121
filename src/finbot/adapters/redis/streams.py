"""Publishing outbox events to Redis Streams, one stream per concern.

Each event becomes one stream entry (``finbot:events:<stream>``) whose fields are the
envelope; entries are sent in one pipeline per batch, in outbox order, so events of one
aggregate keep their order within a stream. Streams are trimmed by retention
(``trim_stream``), never past what a consumer group has yet to acknowledge; the outbox
table, and its archive, stay the history of record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis

from finbot.domain.events import Event, Outgoing

PREFIX = "finbot:events:"


def stream_key(stream: str, *, prefix: str = PREFIX) -> str:
    return f"{prefix}{stream}"


def as_text(value: Any) -> str:
    """A Redis reply value (bytes from a client without ``decode_responses``) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


def event_from_fields(fields: dict[Any, Any]) -> Event:
    """The event of a stream entry; KeyError/ValueError if the entry is malformed."""
    text = {as_text(k): as_text(v) for k, v in fields.items()}
    payload = json.loads(text["payload"])
    if not isinstance(payload, dict):
        raise ValueError("an event payload is a JSON object")
    return Event(text["event_id"], text["type"], int(text["version"]), text["stream"],
                 text["aggregate_id"], int(text["aggregate_seq"]), text["tenant"],
                 int(text["occurred_at"]), text["trace_id"], payload)


class RedisStreamPublisher:
    """Sends events to their streams; raises redis errors so the relay can wait and retry."""

    def __init__(self, client: Redis, *, prefix: str = PREFIX) -> None:
        self._client = client
        self._prefix = prefix

    def publish(self, entries: Sequence[Outgoing]) -> bool:
        """Send a batch. If this Redis had lost what the relay sent before (restarted
        without persistence, or flushed), take the batch back out and return False: the
        relay then sends the whole outbox again, in order. The check rides in the same
        pipeline, on the same connection, as the entries, so a restart between them is
        noticed."""
        keys = [stream_key(entry.stream, prefix=self._prefix) for entry in entries]
        pipe = self._client.pipeline(transaction=False)
        pipe.exists(self._marker)
        for key, entry in zip(keys, entries, strict=True):
            pipe.xadd(key, entry.fields)  # type: ignore[arg-type]
        pipe.set(self._marker, "1")
        results = pipe.execute()
        if results[0]:
            return True
        undo = self._client.pipeline(transaction=False)
        for key, entry_id in zip(keys, results[1:-1], strict=True):
            undo.xdel(key, entry_id)
        undo.execute()
        return False

    @property
    def _marker(self) -> str:
        return f"{self._prefix}relay:marker"


def _entry_id(value: Any) -> tuple[int, int]:
    ms, _, seq = as_text(value).partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class GroupState:
    """A consumer group on one stream: entries delivered but not acknowledged, and
    entries not yet delivered (None from a Redis before 7, which does not count them)."""

    group: str
    pending: int
    lag: int | None
    last_delivered: str = "0-0"


def group_states(client: Redis, key: str) -> list[GroupState]:
    """The consumer groups of the stream at ``key`` (none if it does not exist)."""
    groups: Any = client.xinfo_groups(key) if client.exists(key) else []
    return [GroupState(as_text(g["name"]), int(g["pending"]),
                       None if g.get("lag") is None else int(g["lag"]),
                       as_text(g["last-delivered-id"])) for g in groups]


def trim_stream(client: Redis, key: str, *, before_ms: int) -> int:
    """Drop entries older than ``before_ms`` that every consumer group has been delivered
    and acknowledged (the outbox, or its archive, keeps them for replays); how many were
    dropped."""
    cutoff = (before_ms, 0)
    groups: Any = client.xinfo_groups(key) if client.exists(key) else []
    for group in groups:
        delivered = _entry_id(group["last-delivered-id"])
        cutoff = min(cutoff, (delivered[0], delivered[1] + 1))
        if group["pending"]:
            summary: Any = client.xpending(key, group["name"])
            cutoff = min(cutoff, _entry_id(summary["min"]))
    if cutoff <= (0, 0):
        return 0
    return int(client.xtrim(key, minid=f"{cutoff[0]}-{cutoff[1]}", approximate=False))


def unacknowledged(client: Redis, key: str, group: str) -> int:
    """Entries of stream ``key`` that consumer group ``group`` has not acknowledged:
    pending plus not yet delivered (the whole stream while the group does not exist).
    Where Redis cannot count the undelivered ones (entries deleted mid-stream), any
    entry past the group's last delivered one counts as one."""
    found = next((g for g in group_states(client, key) if g.group == group), None)
    if found is None:
        length: Any = client.xlen(key)  # 0 when the stream does not exist either
        return int(length)
    lag = found.lag
    if lag is None:
        info: Any = client.xinfo_stream(key)
        lag = int(_entry_id(info["last-generated-id"]) > _entry_id(found.last_delivered))
    return found.pending + lag


class StreamTail:
    """Follows streams from their current end without a consumer group: every process
    tailing sees every entry (the fan-out behind live push)."""

    def __init__(self, client: Redis, streams: Sequence[str], *, prefix: str = PREFIX) -> None:
        self._client = client
        self._keys = [stream_key(s, prefix=prefix) for s in streams]
        self._last: dict[Any, Any] = {}

    def poll(self, *, block_ms: int = 1000, count: int = 500) -> list[Event]:
        if not self._last:  # start at each stream's current end, by id (not "$", which
            for key in self._keys:  # would skip entries added between two reads)
                newest: Any = self._client.xrevrange(key, count=1)
                self._last[key] = newest[0][0] if newest else "0-0"
        reply: Any = self._client.xread(self._last, count=count, block=block_ms)
        events = []
        for key, entries in reply or []:
            for entry_id, fields in entries:
                self._last[as_text(key)] = as_text(entry_id)
                try:
                    events.append(event_from_fields(fields))
                except (KeyError, ValueError):  # consumers dead-letter it; push skips it
                    continue
        return events
