"""The relay from the outbox to real Redis Streams: order, envelope, at-least-once, and a
Redis outage during a load that loses nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from finbot.adapters.redis.streams import RedisStreamPublisher, event_from_fields, stream_key
from finbot.bootstrap import App
from finbot.services.relay import OutboxRelay

pytestmark = pytest.mark.redis


def emit(app: App, n: int, *, aggregates: int = 3, start: int = 0) -> None:
    """Events #start… spread over ``aggregates`` aggregates, one transaction each."""
    for i in range(start, start + n):
        with app.uow() as uow:
            app.outbox.emit_in(uow, "breaker.changed", f"agent:{i % aggregates}", {
                "agent_id": str(i % aggregates), "from_state": "closed", "to_state": "open",
                "reason": f"#{i}"})
            uow.commit()


def stream_events(client: redis.Redis, prefix: str) -> list[Any]:
    entries = client.xrange(stream_key("agents", prefix=prefix))
    return [event_from_fields(fields) for _, fields in entries]


def test_the_relay_publishes_committed_events_in_order_once(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    client, prefix = redis_prefix
    emit(app, 12)
    relay = OutboxRelay(app.uow, RedisStreamPublisher(client, prefix=prefix), batch=5)
    while relay.relay_once():
        pass
    events = stream_events(client, prefix)
    assert [e.payload["reason"] for e in events] == [f"#{i}" for i in range(12)]
    for aggregate in ("agent:0", "agent:1", "agent:2"):
        assert [e.aggregate_seq for e in events if e.aggregate_id == aggregate] == [1, 2, 3, 4]
    assert relay.relay_once() == 0
    assert len(stream_events(client, prefix)) == 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, list[subprocess.Popen[bytes]]]]:
    """A redis-server of our own, so the test may stop and start it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed to test a Redis outage")
    port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        processes.append(subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)], stdout=subprocess.DEVNULL))
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    start()
    yield port, processes
    for process in processes:
        process.kill()
        process.wait()


def test_a_redis_outage_during_a_load_loses_nothing(
        app: App, private_redis: tuple[int, list[subprocess.Popen[bytes]]],
        tmp_path: Path) -> None:
    port, processes = private_redis
    client = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
    relay = OutboxRelay(app.uow, RedisStreamPublisher(client, prefix="t:"), batch=20)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,),
                              kwargs={"retry_s": 0.1, "idle_s": 0.01})
    worker.start()
    try:
        emit(app, 40)
        processes[-1].kill()  # Redis goes away mid-load
        processes[-1].wait()
        emit(app, 40, start=40)
        time.sleep(0.3)
        processes.append(subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with app.uow() as uow:
                if not uow.outbox.unrelayed(limit=1):
                    break
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=10)
    with app.uow() as uow:
        assert uow.outbox.unrelayed(limit=1) == []
    relayed = [e.payload["reason"] for e in stream_events(client, "t:")]
    # The restarted Redis kept nothing (no persistence); the relay noticed and sent the
    # whole outbox again, in order: every event is there.
    assert set(relayed) == {f"#{i}" for i in range(80)}
    first = {}
    for position, reason in enumerate(relayed):
        first.setdefault(reason, position)
    assert sorted(first, key=first.__getitem__) == [f"#{i}" for i in range(80)]


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_row_committed_late_below_relayed_rows_is_still_relayed(
        app: App, redis_prefix: tuple[redis.Redis, str]) -> None:
    """PostgreSQL hands out ids before commit: a transaction holding a low id can commit
    after higher ids were relayed; it is still relayed."""
    client, prefix = redis_prefix
    relay = OutboxRelay(app.uow, RedisStreamPublisher(client, prefix=prefix), batch=5)
    late = app.uow()
    late.__enter__()
    app.outbox.emit_in(late, "breaker.changed", "agent:late", {
        "agent_id": "late", "from_state": "closed", "to_state": "open", "reason": "late"})
    try:
        emit(app, 12)  # committed after the late row got its (lower) id
        while relay.relay_once():
            pass
        assert "late" not in [e.payload["reason"] for e in stream_events(client, prefix)]
        late.commit()
    finally:
        late.__exit__(None, None, None)
    while relay.relay_once():
        pass
    relay.close()
    reasons = [e.payload["reason"] for e in stream_events(client, prefix)]
    assert sorted(reasons) == sorted(["late", *[f"#{i}" for i in range(12)]])
    with app.uow() as uow:
        assert uow.outbox.unrelayed(limit=1) == []
