"""A consumer copy run as its own process by the stream consumer tests (so they can kill it
with SIGKILL mid-batch): ``python -m tests.stream_worker DATABASE_URL REDIS_URL PREFIX``.

Its handler gives each event one observable effect, slowly, and reports each on stdout."""

from __future__ import annotations

import sys
import threading
import time

import redis

from finbot.adapters.redis.consumer import StreamConsumer
from finbot.bootstrap import bootstrap
from finbot.config import Settings
from finbot.domain.events import Event
from finbot.services.ports import UnitOfWork


def effect(uow: UnitOfWork, event: Event) -> None:
    """One vendor membership per event; a second effect for the same event is an error."""
    user = f"user-{event.event_id}"
    if uow.reviews.vendors_of(user):
        raise AssertionError(f"second effect of {event.event_id}")
    uow.reviews.add_member(user, "v", 1)


def main() -> None:
    database_url, redis_url, prefix = sys.argv[1:4]
    app = bootstrap(Settings(environment="test", database_url=database_url),
                    run_migrations=False)

    def slow_effect(uow: UnitOfWork, event: Event) -> None:
        effect(uow, event)
        time.sleep(0.05)
        print("handled", event.event_id, flush=True)

    consumer = StreamConsumer("test-group", app.uow, slow_effect, redis.Redis.from_url(
        redis_url), streams=["agents"], prefix=prefix, batch=50, name="doomed")
    consumer.run(threading.Event())


if __name__ == "__main__":
    main()
