"""Consumer groups on real Redis Streams: each effect exactly once under duplicates,
redelivery and a consumer killed mid-batch; per-aggregate order across several copies;
poison entries dead-lettered without blocking; stopping releases work to other copies."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine

from finbot.adapters.redis.consumer import StreamConsumer
from finbot.adapters.redis.streams import (
    RedisStreamPublisher,
    stream_key,
    trim_stream,
)
from finbot.bootstrap import App
from finbot.domain.events import Event, flat_envelope
from finbot.services.ports import UnitOfWork
from finbot.services.relay import OutboxRelay
from tests.conftest import REDIS_URL
from tests.integration.test_relay import emit
from tests.stream_worker import effect

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


def relay_all(app: App, client: redis.Redis, prefix: str) -> None:
    relay = OutboxRelay(app.uow, RedisStreamPublisher(client, prefix=prefix), batch=100)
    while relay.relay_once():
        pass


def effects(app: App, n: int) -> int:
    """How many of the first ``n`` events had their effect."""
    with app.uow() as uow:
        events = [event for _, event in uow.outbox.after((-1, 0), limit=n)]
        return sum(bool(uow.reviews.vendors_of(f"user-{e.event_id}")) for e in events)


def consumer(app: App, client: redis.Redis, prefix: str, handler: Any = effect,
             **options: Any) -> StreamConsumer:
    copy = StreamConsumer("test-group", app.uow, handler, client, streams=["agents"],
                          prefix=prefix, block_ms=50, **options)
    copy.ensure_groups()
    return copy


def drain(*consumers: StreamConsumer, until: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, "the consumers did not finish in time"
        for each in consumers:
            each.poll()


def pending(client: redis.Redis, prefix: str) -> int:
    return int(client.xpending(stream_key("agents", prefix=prefix), "test-group")["pending"])


def test_each_event_is_handled_once_and_acknowledged(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 30)
    relay_all(app, client, prefix)
    copy = consumer(app, client, prefix)
    drain(copy, until=lambda: effects(app, 30) == 30)
    assert copy.poll(block=False) == 0
    assert pending(client, prefix) == 0
    assert copy.dead_letters() == []


def test_duplicates_have_no_second_effect(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 20)
    relay_all(app, client, prefix)
    first = consumer(app, client, prefix, name="one")
    drain(first, until=lambda: effects(app, 20) == 20)
    # The same events published again (a relay that crashed before marking them relayed,
    # or a flushed Redis being refilled), read by two copies: nothing happens twice (the
    # effect itself raises on a second run, which would dead-letter the event).
    with app.uow() as uow:
        events = [event for _, event in uow.outbox.after((-1, 0), limit=100)]
    key = stream_key("agents", prefix=prefix)
    for event in events + events:
        client.xadd(key, flat_envelope(event))  # type: ignore[arg-type]
    second = consumer(app, client, prefix, name="two")
    drain(first, second, until=lambda: pending(client, prefix) == 0 and not client.xinfo_groups(
        key)[0]["lag"])
    assert effects(app, 20) == 20
    assert first.dead_letters() == []


def test_order_per_aggregate_holds_across_several_copies(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 60, aggregates=4)
    relay_all(app, client, prefix)
    seen: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()
    rng = random.Random(7)

    def slow_effect(uow: UnitOfWork, event: Event) -> None:
        time.sleep(rng.random() * 0.01)  # copies overtake each other
        effect(uow, event)
        with lock:
            seen[event.aggregate_id].append(event.aggregate_seq)

    copies = [consumer(app, client, prefix, slow_effect, name=f"copy-{i}", batch=5)
              for i in range(3)]
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in copies]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while effects(app, 60) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
    assert effects(app, 60) == 60
    for aggregate, seqs in seen.items():
        applied = [s for i, s in enumerate(seqs) if i == 0 or seqs[i - 1] != s]  # retries
        assert applied == list(range(1, 16)), aggregate


def test_a_consumer_killed_mid_batch_has_its_entries_reclaimed_and_handled_once(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 40)
    relay_all(app, client, prefix)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.stream_worker", app.settings.effective_database_url,
         REDIS_URL, prefix], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert worker.stdout is not None
    for _ in range(5):  # it read a batch of 40 and was handling the fifth
        assert worker.stdout.readline().startswith("handled")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done = effects(app, 40)  # none, if the batch's transaction had not committed
    assert done < 40
    assert pending(client, prefix) >= 40 - done  # held by the dead copy
    survivor = consumer(app, client, prefix, name="survivor", claim_idle_ms=300,
                        order_wait_s=1)
    drain(survivor, until=lambda: effects(app, 40) == 40)
    assert pending(client, prefix) == 0
    assert survivor.dead_letters() == []


def test_poison_entries_are_dead_lettered_with_the_reason_and_block_nothing(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    key = stream_key("agents", prefix=prefix)
    client.xadd(key, {"junk": "1"})
    emit(app, 1)
    with app.uow() as uow:
        [(_, good)] = uow.outbox.after((-1, 0), limit=1)
    unknown = {**flat_envelope(good), "version": "9", "event_id": "x" * 36}
    client.xadd(key, unknown)  # type: ignore[arg-type]
    relay_all(app, client, prefix)
    emit(app, 2, start=1)  # the next two events of agent:1 and agent:2
    relay_all(app, client, prefix)

    def refuse_reason_1(uow: UnitOfWork, event: Event) -> None:
        if event.payload["reason"] == "#1":
            raise RuntimeError("cannot handle #1")
        effect(uow, event)

    sleeps: list[float] = []
    copy = consumer(app, client, prefix, refuse_reason_1, max_attempts=3, sleep=sleeps.append)
    drain(copy, until=lambda: pending(client, prefix) == 0 and len(copy.dead_letters()) == 3)
    reasons = [letter.error for letter in copy.dead_letters()]
    assert "malformed entry" in reasons[0]
    assert "unknown event breaker.changed v9" in reasons[1]
    assert reasons[2] == "RuntimeError: cannot handle #1"
    [(_, parked)] = client.xrange(stream_key("dead", prefix=prefix), count=1)
    assert json.loads(parked[b"fields"]) == {"junk": "1"}  # kept as it was
    assert copy.dead_letters()[1].reference == "x" * 36
    assert sleeps == [0.05, 0.1, 0.2]
    assert effects(app, 3) == 2  # #0 and #2 went through
    # The failed event's aggregate is not stuck: its next event is applied.
    emit(app, 3, start=3)  # #4 is agent:1's next
    relay_all(app, client, prefix)
    drain(copy, until=lambda: effects(app, 6) == 5)


def test_stopping_releases_held_entries_to_another_copy_at_once(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 10)
    relay_all(app, client, prefix)
    stop = threading.Event()

    def stop_after_first(uow: UnitOfWork, event: Event) -> None:
        effect(uow, event)
        stop.set()

    leaving = consumer(app, client, prefix, stop_after_first, name="leaving")
    leaving.run(stop)
    assert effects(app, 10) < 10
    # Default reclaim idle (30 s): only a release makes these available now.
    staying = consumer(app, client, prefix, name="staying")
    drain(staying, until=lambda: effects(app, 10) == 10, timeout_s=10)
    assert pending(client, prefix) == 0


def test_a_flushed_redis_is_refilled_and_nothing_happens_twice(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 10)
    relay_all(app, client, prefix)
    copy = consumer(app, client, prefix)
    drain(copy, until=lambda: effects(app, 10) == 10)
    for key in client.scan_iter(match=f"{prefix}*"):
        client.delete(key)  # the group and the stream are gone
    emit(app, 5, start=10)
    relay_all(app, client, prefix)  # the relay notices and sends the whole outbox again
    assert client.xlen(stream_key("agents", prefix=prefix)) == 15
    drain(copy, until=lambda: effects(app, 15) == 15 and pending(client, prefix) == 0)
    assert copy.dead_letters() == []


def test_trimming_a_stream_never_drops_what_a_group_has_not_acknowledged(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 10)
    relay_all(app, client, prefix)
    key = stream_key("agents", prefix=prefix)
    client.xgroup_create(key, "slow", id="0")
    [(_, delivered)] = client.xreadgroup("slow", "c", {key: ">"}, count=5)
    client.xack(key, "slow", *[entry_id for entry_id, _ in delivered[:2]])
    far_future_ms = int(time.time() * 1000) + 10**9
    assert trim_stream(client, key, before_ms=far_future_ms) == 2  # up to the first pending
    client.xack(key, "slow", *[entry_id for entry_id, _ in delivered[2:]])
    assert trim_stream(client, key, before_ms=far_future_ms) == 3  # not the undelivered five
    assert client.xlen(key) == 5
    assert trim_stream(client, key, before_ms=0) == 0  # nothing is older than retention


def test_a_database_that_goes_away_is_waited_for_and_nothing_is_dead_lettered(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 12)
    relay_all(app, client, prefix)
    nobody_listens = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/finbot")
    opened = 0

    def uow_while_the_database_restarts() -> UnitOfWork:
        nonlocal opened
        opened += 1
        if opened <= 14:  # away for a while: every connection is refused
            nobody_listens.connect()
        return app.uow()

    copy = StreamConsumer("test-group", uow_while_the_database_restarts, effect, client,
                          streams=["agents"], prefix=prefix, block_ms=50, max_attempts=2)
    stop = threading.Event()
    worker = threading.Thread(target=copy.run, args=(stop,), kwargs={"retry_s": 0.02})
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while effects(app, 12) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert opened > 14  # it met the outage, waited it out, and went on
    assert effects(app, 12) == 12
    assert copy.dead_letters() == []  # the outage was not held against any event
    assert pending(client, prefix) == 0
