"""``finbot bench events``: the event spine next to raw Redis, on this machine, in one run.

- Relay throughput: N committed outbox events relayed to Redis Streams, against the raw
  baseline of redis-py pipelined XADD of the same entries in batches of the same size.
- End-to-end latency: events committed one per transaction at a steady rate, relayed, and
  handled by a consumer group copy (its effect committed with the processed-events record);
  latency is measured from the producer's COMMIT (the clock read just before it is sent) to
  the end of the handler's commit; three rounds, the median round's figures reported.
- Embedded consumer throughput: the outbox read directly (no Redis), as ``finbot up`` does.

Everything runs in a scratch database and under a private Redis key prefix, both removed
afterwards.
"""

from __future__ import annotations

import multiprocessing
import queue
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from redis import Redis

from finbot.adapters.redis.consumer import StreamConsumer
from finbot.adapters.redis.streams import stream_key
from finbot.bench.scratch import Backend, scratch_app
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.clock import now_us
from finbot.domain.events import Event
from finbot.services.events import OutboxConsumer
from finbot.services.ports import UnitOfWork

Progress = Callable[[str], None]
BATCH = 500
PRODUCERS = 4  # concurrent transactions, as a web server's request handlers would be


def run_events_bench(*, backend: Backend, postgres_url: str, redis_url: str | None,
                     events: int = 20_000, rate: int = 1_000, seconds: float = 10.0,
                     progress: Progress | None = None) -> dict[str, Any]:
    say = progress or (lambda _: None)
    results: dict[str, Any] = {"backend": backend, "events": events, "rate_per_s": rate}
    with scratch_app(backend, postgres_url) as app:
        say(f"embedded consumer: {events:,} events")
        results.update(_embedded_throughput(app, events))
        if redis_url is None:
            results["redis"] = "skipped: no Redis URL (FINBOT_REDIS_URL)"
        else:
            client = Redis.from_url(redis_url)
            prefix = f"finbot-bench:{uuid.uuid4().hex[:10]}:"
            try:
                say(f"relay vs raw XADD: {events:,} events")
                results.update(_relay_throughput(app, client, prefix, events))
                if backend == "postgres":
                    say(f"end to end through Redis: {rate:,} events/s for {seconds:g} s")
                    results.update(_end_to_end(app, app.settings.effective_database_url,
                                               redis_url, prefix, rate, seconds))
                    results["e2e_mode"] = "redis"
            finally:
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)
                client.close()
        if backend == "sqlite":
            say(f"end to end, embedded: {rate:,} events/s for {seconds:g} s")
            results.update(_embedded_end_to_end(app, rate, seconds))
            results["e2e_mode"] = "embedded"
    targets = {}
    if "relay_vs_raw_ratio" in results:
        targets["relay_at_least_half_of_raw_xadd"] = results["relay_vs_raw_ratio"] >= 0.5
    if "e2e_p99_ms" in results:
        targets["e2e_p99_under_50ms_at_rate"] = (
            results["e2e_p99_ms"] < 50 and results["e2e_achieved_rate_per_s"] >= 0.95 * rate)
    if targets:
        results["targets_met"] = targets
    return results


def _fill(app: App, count: int) -> None:
    """``count`` events committed in batches (as many services' transactions would)."""
    for start in range(0, count, BATCH):
        with app.uow() as uow:
            for i in range(start, min(count, start + BATCH)):
                _emit(app, uow, i)
            uow.commit()


def _emit(app: App, uow: UnitOfWork, i: int, *, family: str = "agent") -> Event:
    return app.outbox.emit_in(uow, "breaker.changed", f"{family}:{i % 50}", {
        "agent_id": str(i % 50), "from_state": "closed", "to_state": "open",
        "reason": f"bench #{i}"})


def _embedded_throughput(app: App, count: int) -> dict[str, Any]:
    _fill(app, count)
    handled = 0

    def handle(uow: UnitOfWork, event: Event) -> None:
        nonlocal handled
        handled += 1

    consumer = OutboxConsumer("bench-embedded", app.uow, handle)
    start = time.perf_counter()
    deadline = start + 300
    while handled < count and time.perf_counter() < deadline:
        if not consumer.poll(limit=BATCH):
            time.sleep(0.01)  # PostgreSQL: rows become readable once older txns end
    elapsed = time.perf_counter() - start
    return {"embedded_consumer_per_s": round(handled / elapsed)}


def _relay_throughput(app: App, client: Redis, prefix: str, count: int, *,
                      rounds: int = 3) -> dict[str, Any]:
    """Raw XADD and the relay take turns over the same entries, ``rounds`` times (the
    machine's noise hits both); the median ratio is reported."""
    with app.uow() as uow:  # everything unrelayed so far (the embedded run's rows too)
        events = [entry.fields for entry in uow.outbox.unrelayed(limit=10**9)]
    key = stream_key("agents", prefix=prefix)
    raw_rates, relay_rates = [], []
    for round_no in range(rounds):
        if round_no:  # relay the same rows again
            with app.uow() as uow:
                uow.outbox.forget_relayed()
                uow.commit()
        client.delete(f"{prefix}raw", key)
        start = time.perf_counter()
        for first in range(0, len(events), BATCH):
            pipe = client.pipeline(transaction=False)
            for fields in events[first:first + BATCH]:
                pipe.xadd(f"{prefix}raw", fields)  # type: ignore[arg-type]
            pipe.execute()
        raw_rates.append(len(events) / (time.perf_counter() - start))
        relay = app.relay(client=client, prefix=prefix, batch=BATCH)
        start = time.perf_counter()
        while relay.relay_once():
            pass
        relay_rates.append(len(events) / (time.perf_counter() - start))
        relay.close()
        if client.xlen(key) != len(events):
            raise RuntimeError(f"relayed {client.xlen(key)} of {len(events)} events")
    ratios = sorted(relay / raw for relay, raw in zip(relay_rates, raw_rates, strict=True))
    return {"relay_events": len(events), "relay_rounds": rounds,
            "raw_xadd_per_s": round(statistics.median(raw_rates)),
            "relay_per_s": round(statistics.median(relay_rates)),
            "relay_vs_raw_ratio": round(ratios[len(ratios) // 2], 3),
            "relay_vs_raw_ratios": [round(r, 3) for r in ratios]}


def _end_to_end(app: App, url: str, redis_url: str, prefix: str, rate: int,
                seconds: float, *, rounds: int = 3) -> dict[str, Any]:
    """The relay and the consumer run as their own processes, as ``finbot worker`` copies
    do; this process commits events at ``rate``, ``rounds`` times for ``seconds`` (this
    machine's noise moves a round's p99 by half; the round with the median p99 is reported,
    and every round's p99). Latency: from the producer's COMMIT to the commit of the
    consumer's effect, on one machine clock."""
    spawn = multiprocessing.get_context("spawn")
    stop = spawn.Event()
    results = spawn.Queue()
    ready = [spawn.Event(), spawn.Event()]
    workers = [spawn.Process(target=_relay_main, args=(url, redis_url, prefix, stop, ready[0])),
               spawn.Process(target=_consumer_main,
                             args=(url, redis_url, prefix, stop, results, ready[1]))]
    for worker in workers:
        worker.start()
    for event in ready:  # both are up and waiting: events produced from now on are seen
        if not event.wait(timeout=120):
            stop.set()
            raise RuntimeError("the relay or consumer process did not start within 120 s")
    try:
        runs = [_produce(app, results, rate, seconds, first=n * int(rate * seconds))
                for n in range(rounds)]
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    return _median_round(runs)


def _embedded_end_to_end(app: App, rate: int, seconds: float, *,
                         rounds: int = 3) -> dict[str, Any]:
    """SQLite's deployment, as ``finbot up`` runs it: no Redis, and the consumer is a
    thread of the producers' process, reading the outbox table and woken by their
    commits. Latency as for ``_end_to_end``."""
    settled: queue.Queue[list[tuple[str, int]]] = queue.Queue()

    def done(events: list[Event]) -> None:  # the effects have committed
        now = now_us()
        settled.put([(event.event_id, now) for event in events
                     if event.aggregate_id.startswith("e2e:")])

    consumer = OutboxConsumer("bench-e2e", app.uow, _no_effect, on_settled=done,
                              bell=app.bell, reader=app.reader)
    with app.uow() as uow:  # start past everything the earlier stages wrote
        uow.outbox.save_offset("bench-e2e", uow.outbox.end())
        uow.commit()
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,), name="finbot-bench-e2e")
    worker.start()
    try:
        runs = [_produce(app, settled, rate, seconds, first=n * int(rate * seconds))
                for n in range(rounds)]
    finally:
        stop.set()
        app.bell.ring()
        worker.join(timeout=30)
    return _median_round(runs)


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median p99 (this machine's noise moves a round's p99 by half),
    with every round's p99."""
    middle = sorted(runs, key=lambda run: run["e2e_p99_ms"])[len(runs) // 2]
    return {**middle, "e2e_rounds": len(runs),
            "e2e_p99s_ms": [run["e2e_p99_ms"] for run in runs]}


def _produce(app: App, results: Any, rate: int, seconds: float, *,
             first: int) -> dict[str, Any]:
    """One round: PRODUCERS threads commit events ``first``… at ``rate`` for ``seconds``;
    the latency of each, from its COMMIT to its handler's commit."""
    total = int(rate * seconds)
    committing: dict[str, int] = {}  # event id -> when its COMMIT was sent
    start = time.perf_counter()

    def produce(lane: int) -> None:
        """One of PRODUCERS request handlers, each committing its share on schedule."""
        for i in range(lane, total, PRODUCERS):
            pause = start + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            with app.uow() as uow:
                event = _emit(app, uow, first + i, family="e2e")  # new to the group
                committing[event.event_id] = now_us()
                uow.commit()

    producers = [threading.Thread(target=produce, args=(lane,)) for lane in range(PRODUCERS)]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    produced_s = time.perf_counter() - start
    handled: dict[str, int] = {}  # event id -> when its effect first committed
    deadline = time.perf_counter() + 60
    while len(handled) < total and time.perf_counter() < deadline:
        try:
            settled = results.get(timeout=1.0)
        except queue.Empty:
            continue
        for event_id, done_us in settled:  # a redelivered entry is settled again: skip it
            if event_id in committing:
                handled.setdefault(event_id, done_us)
    if len(handled) < total:
        raise RuntimeError(f"only {len(handled)} of {total} events were handled")
    ms = sorted((done_us - committing[event_id]) / 1000 for event_id, done_us in handled.items())
    return {"e2e_events": total, "e2e_achieved_rate_per_s": round(total / produced_s),
            "e2e_p50_ms": round(statistics.median(ms), 2),
            "e2e_p99_ms": round(ms[int(len(ms) * 0.99) - 1], 2),
            "e2e_max_ms": round(ms[-1], 2)}


def _worker_app(url: str) -> App:
    return bootstrap(Settings(database_url=url, environment="test"), run_migrations=False)


def _relay_main(url: str, redis_url: str, prefix: str, stop: Any, ready: Any) -> None:
    app = _worker_app(url)
    client = Redis.from_url(redis_url)
    relay = app.relay(client=client, prefix=prefix, batch=BATCH)
    ready.set()
    relay.run(stop)  # as ``finbot worker relay`` runs it
    app.close()


def _consumer_main(url: str, redis_url: str, prefix: str, stop: Any, results: Any,
                   ready: Any) -> None:
    app = _worker_app(url)
    client = Redis.from_url(redis_url)

    def settled(events: list[Event]) -> None:  # the effects have committed
        now = now_us()
        results.put([(event.event_id, now) for event in events
                     if event.aggregate_id.startswith("e2e:")])

    consumer = StreamConsumer("bench-e2e", app.uow, _no_effect, client, streams=["agents"],
                              prefix=prefix, name="bench", on_settled=settled)
    consumer.ensure_groups()
    client.xgroup_setid(stream_key("agents", prefix=prefix), "bench-e2e", "$")
    ready.set()
    consumer.run(stop)  # as a ``finbot worker`` copy runs it
    app.close()


def _no_effect(uow: UnitOfWork, event: Event) -> None:
    """No effect of its own: the processed-events record and the aggregate's applied
    sequence are still written and committed with it, as for every consumer."""
