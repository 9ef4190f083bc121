"""Worker roles: what ``finbot worker ROLE`` runs, and what ``finbot up`` runs all of.

- ``relay``: publishes the outbox to Redis Streams (production only), and applies event
  retention (archive, then trim) hourly.
- ``executor``: the consumers that start payments, and upkeep (resume payments, expire
  reservations, checkpoint the audit chain); embedded, event retention too.
- ``agents`` and ``arena``: the consumers registered for those roles.

Any role can run as several processes: consumer copies share their consumer group, the
relay's batches are idempotent, and upkeep steps are safe to run concurrently.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from finbot.adapters.redis.consumer import StreamConsumer
from finbot.adapters.redis.streams import stream_key, trim_stream, unacknowledged
from finbot.bootstrap import App
from finbot.domain.clock import DAY_US, now_us
from finbot.domain.events import STREAMS
from finbot.services.history import Progress, TrimReport, trim_outbox


class Role(enum.StrEnum):
    """The worker roles (``finbot worker ROLE``)."""

    relay = "relay"
    executor = "executor"
    agents = "agents"
    arena = "arena"


UPKEEP_EVERY_S = 5.0
RETENTION_EVERY_S = 3600.0
CHECKPOINT_EVERY = 120  # upkeep rounds: a checkpoint every ten minutes
logger = logging.getLogger(__name__)


def upkeep_round(app: App, round_no: int) -> None:
    """One round of upkeep: resume payments, expire reservations, and every
    CHECKPOINT_EVERY rounds record a Merkle checkpoint of the audit chain."""
    app.payments.resume_all()
    app.ledger.expire_pending()
    if round_no % CHECKPOINT_EVERY == 0:
        app.audit.checkpoint()


def retention_round(app: App, *, at_us: int | None = None,
                    progress: Progress | None = None) -> TrimReport:
    """Archive and delete outbox rows past retention, then trim the Redis streams up to
    the same moment (never past what a consumer group has not acknowledged); then purge
    each data class past its own retention (FINBOT_RETENTION_DAYS)."""
    cutoff = (at_us or now_us()) - int(
        app.settings.events_retention_days * DAY_US)
    report = trim_outbox(app.uow, app.archive, before_us=cutoff,
                         relayed_only=app.redis is not None, consumers=list(app.consumers),
                         progress=progress)
    if app.redis is not None:
        for stream in STREAMS:
            trim_stream(app.redis, stream_key(stream, prefix=app.settings.events_prefix),
                        before_ms=cutoff // 1000)
    app.privacy.retain(at_us=at_us)
    return report


def drain(app: App) -> bool:
    """Every consumer takes what is waiting for it, then the due workflow steps run (which
    may leave more for the consumers); True if anything was done. With Redis (a command
    such as ``finbot simulate`` run in production wiring) the outbox is relayed here too,
    and the consumers take what their groups hold without waiting for more."""
    busy = False
    if app.redis is not None:
        relay = app.relay()
        try:
            while relay.relay_once():
                busy = True
        finally:
            relay.close()
    for name in app.consumers:
        consumer = app.consumer(name)
        poll = partial(consumer.poll, block=False) if isinstance(
            consumer, StreamConsumer) else consumer.poll  # the table reader never waits
        while poll():
            busy = True
    while app.steps.run_due():
        busy = True
    return busy


def settled(app: App) -> bool:
    """No workflow step is due and every consumer has taken every event written so far.

    On PostgreSQL the embedded consumers see an event only once every older transaction
    on the server has ended (see the outbox repository), so ``drain`` can find nothing to
    do while an event is still on its way; this tells the two apart. With Redis, every
    outbox row is relayed and no consumer group holds an entry it has not acknowledged."""
    with app.uow() as uow:
        if uow.workflows.due(now_us=now_us(), limit=1):
            return False
        if app.redis is not None:
            if uow.outbox.stats()["unrelayed"]:
                return False
        else:
            newest = uow.outbox.newest()
            return newest == (-1, 0) or uow.outbox.slowest_offset(list(app.consumers)) >= newest
    return not any(stream_backlog(app).values())


def stream_backlog(app: App) -> dict[str, int]:
    """Per consumer: the entries of its streams its group has not acknowledged yet."""
    assert app.redis is not None, "stream backlogs exist only with Redis"
    backlog: dict[str, int] = {}
    for spec in app.consumers.values():
        backlog[spec.name] = sum(
            unacknowledged(app.redis, stream_key(stream, prefix=app.settings.events_prefix),
                           spec.name) for stream in spec.streams)
    return backlog


def background_round(app: App, round_no: int) -> None:
    """The embedded default's round: drain until idle, then upkeep."""
    while drain(app):
        pass
    upkeep_round(app, round_no)


def run_until_idle(app: App, *, timeout_s: float = 30.0) -> None:
    """Background rounds until no step is due and every consumer has taken every event
    written so far (``settled``: on PostgreSQL an event can still be on its way when a
    round finds nothing to do); TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    round_no = 0
    while True:
        round_no += 1
        background_round(app, round_no)
        if settled(app):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workflows were still busy after {timeout_s} s")
        time.sleep(0.02)


def consumers_of(app: App, role: str) -> list[str]:
    return [spec.name for spec in app.consumers.values() if spec.role == role]


def role_tasks(app: App, role: str, *, copy: str | None = None) -> dict[
        str, Callable[[threading.Event], None]]:
    """The loops one process of ``role`` runs, by name (each runs on its own thread)."""
    tasks: dict[str, Callable[[threading.Event], None]] = {}
    if role == "relay":
        tasks["relay"] = app.relay().run  # refuses without Redis
    for name in consumers_of(app, role):
        tasks[f"consumer:{name}"] = app.consumer(name, copy=copy).run
    if role == "agents":
        tasks["steps"] = app.steps.run
    if role == "executor":
        tasks["upkeep"] = lambda stop: _repeat(app, upkeep_round, stop)
    if role == ("relay" if app.redis is not None else "executor"):
        tasks["retention"] = lambda stop: _repeat(
            app, lambda app, _: retention_round(app), stop, every_s=RETENTION_EVERY_S)
    return tasks


def work_done(tasks: dict[str, Callable[[threading.Event], None]]) -> dict[str, int]:
    """What each loop of ``tasks`` did so far: the ``done`` count of the consumer, relay or
    step runner whose ``run`` it is (upkeep and retention rounds keep none)."""
    owners: dict[str, Any] = {name: getattr(task, "__self__", None)
                              for name, task in tasks.items()}
    return {name: int(owner.done) for name, owner in owners.items()
            if hasattr(owner, "done")}


def all_tasks(app: App) -> dict[str, Callable[[threading.Event], None]]:
    """Every role in one process (``finbot up``); embedded (no Redis) there is no relay
    and the consumers read the outbox table."""
    tasks: dict[str, Callable[[threading.Event], None]] = {}
    for role in Role:
        if role is not Role.relay or app.redis is not None:
            tasks.update(role_tasks(app, role))
    return tasks


def start(tasks: dict[str, Callable[[threading.Event], None]],
          stop: threading.Event) -> list[threading.Thread]:
    threads = [threading.Thread(target=_guarded, args=(name, task, stop),
                                name=f"finbot-{name}") for name, task in tasks.items()]
    for thread in threads:
        thread.start()
    return threads


def _guarded(name: str, task: Callable[[threading.Event], None],
             stop: threading.Event) -> None:
    """Run a loop; if it dies of an unexpected error, log it and start it again."""
    while not stop.is_set():
        try:
            task(stop)
        except Exception:  # a worker must outlive one bad round
            logger.exception("%s failed; restarting it", name)
            stop.wait(1.0)


def _repeat(app: App, round_: Callable[[App, int], object], stop: threading.Event, *,
            every_s: float = UPKEEP_EVERY_S) -> None:
    round_no = 0
    while not stop.is_set():
        try:
            round_(app, round_no)
        except Exception:  # the next round retries
            logger.exception("background round failed")
        round_no += 1
        stop.wait(every_s)
