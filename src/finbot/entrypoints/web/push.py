"""Live push: the events a browser should see, over an authenticated WebSocket.

Each web process follows the event history itself: the Redis streams without a consumer
group when FINBOT_REDIS_URL is set (every process sees every event, whichever worker
produced or consumed it), the outbox table when embedded. A thread reads, and hands each
event to the process's event loop, which sends it to the connected sockets of its tenant.

A socket authenticates with a short-lived token signed with the secret key and bound to
one tenant (``GET /api/events/token``); with a missing, forged or expired token the
handshake is refused (close code 4401 before accepting, which servers answer with HTTP
403) and nothing is sent. A slow client's queue is bounded: when it
overflows the socket is closed (code 4408) rather than letting memory grow.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from finbot.adapters.redis.streams import StreamTail
from finbot.arena.play import ARENA_FEED
from finbot.bootstrap import App
from finbot.domain.events import SCHEMAS, STREAMS, Event
from finbot.domain.users import sandbox_player
from finbot.services.events import OutboxTail

logger = logging.getLogger(__name__)
TOKEN_TTL_S = 300
POLL_BATCH = 500
POLL_PAUSE_S = 0.05
QUEUE_LIMIT = 1000
UNAUTHORISED, TOO_SLOW = 4401, 4408


def _signer(app: App) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.settings.secret_key.get_secret_value(),
                                  salt="finbot-push")


@dataclass(frozen=True)
class Audience:
    """Whose events a socket receives: its tenant's, and only some vendors' for a vendor
    user (``vendors`` None: every vendor of the tenant)."""

    tenant: str
    vendors: frozenset[str] | None = None
    arena: bool = False
    """Whether the socket hears the arena's public activity (an arena player's)."""

    def sees(self, event: Event) -> bool:
        if event.tenant == ARENA_FEED:
            return self.arena
        if event.tenant != self.tenant:
            return False
        if event.type.startswith("arena.") and sandbox_player(self.tenant) is not None:
            return True  # a sandbox's own findings and progress are its player's
        return self.vendors is None or event.payload.get("vendor_id") in self.vendors


def issue_token(app: App, tenant: str, *, vendors: Collection[str] | None = None,
                arena: bool = False) -> str:
    """A socket token for ``tenant`` (limited to ``vendors`` when given; hearing the
    arena's public activity with ``arena``)."""
    return _signer(app).dumps({"tenant": tenant, "arena": arena,
                               "vendors": sorted(vendors) if vendors is not None else None})


def audience_of(app: App, token: str | None) -> Audience | None:
    """The audience a valid, unexpired token is bound to; None otherwise."""
    if not token:
        return None
    try:
        claims = _signer(app).loads(token, max_age=TOKEN_TTL_S)
    except (SignatureExpired, BadSignature):
        return None
    tenant = claims.get("tenant") if isinstance(claims, dict) else None
    if not isinstance(tenant, str):
        return None
    vendors = claims.get("vendors")
    return Audience(tenant, frozenset(vendors) if isinstance(vendors, list) else None,
                    claims.get("arena") is True)


def public(event: Event) -> dict[str, object]:
    """What a browser receives: the envelope without internal ordering fields."""
    return {"event_id": event.event_id, "type": event.type, "version": event.version,
            "aggregate_id": event.aggregate_id, "occurred_at": event.occurred_at_us,
            "payload": dict(event.payload)}


@dataclass(eq=False)  # each socket's subscriber is distinct
class Subscriber:
    audience: Audience
    queue: asyncio.Queue[dict[str, object] | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False


class PushHub:
    """This process's connected sockets, and the thread that feeds them."""

    def __init__(self, app: App) -> None:
        self._app = app
        self._subscribers: set[Subscriber] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._follow, name="finbot-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for subscriber in self._subscribers:
            subscriber.queue.put_nowait(None)

    def subscribe(self, audience: Audience) -> Subscriber:
        subscriber = Subscriber(audience)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _deliver(self, events: list[Event]) -> None:
        """On the event loop: queue each event for its tenant's sockets."""
        for event in events:
            if not SCHEMAS[(event.type, event.version)].push:
                continue
            message = public(event)
            for subscriber in list(self._subscribers):
                if not subscriber.audience.sees(event):
                    continue
                try:
                    subscriber.queue.put_nowait(message)
                except asyncio.QueueFull:  # too slow: closed rather than buffered forever
                    subscriber.overflowed = True
                    self._subscribers.discard(subscriber)

    def _follow(self) -> None:
        poll = self._poller()
        while not self._stop.is_set():
            try:
                events = poll()
            except Exception:  # the source is down: wait and follow again
                logger.warning("live push waiting for the event source", exc_info=True)
                self._stop.wait(1.0)
                continue
            known = [e for e in events if (e.type, e.version) in SCHEMAS]
            if known and self._loop is not None:
                self._loop.call_soon_threadsafe(self._deliver, known)

    def _poller(self) -> Callable[[], list[Event]]:
        if self._app.redis is not None:
            tail = StreamTail(self._app.redis, STREAMS, prefix=self._app.settings.events_prefix)
            return lambda: tail.poll(block_ms=500)
        outbox = OutboxTail(self._app.uow)

        def poll_outbox() -> list[Event]:
            # A pause after every read, not only an empty one: under load each read then
            # takes a batch instead of one event per query (a browser waits 50 ms more).
            events = outbox.poll(limit=POLL_BATCH)
            if len(events) < POLL_BATCH:
                self._stop.wait(POLL_PAUSE_S)
            return events
        return poll_outbox
