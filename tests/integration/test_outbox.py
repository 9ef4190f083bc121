"""The transactional outbox and its embedded consumer, on both backends: events commit with
their change, are read in commit order, handled once, retried and dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from finbot.adapters.db.engine import alembic_config, make_engine, migrate
from finbot.adapters.db.tables import outbox, outbox_waiting
from finbot.bootstrap import App
from finbot.domain.errors import InvalidInput
from finbot.domain.events import Event, flat_envelope
from finbot.services.decisions import DecisionService
from finbot.services.events import OutboxConsumer
from finbot.services.ports import UnitOfWork
from tests.stand_ins import FACTS, INVOICE, POLICY, ScriptedAgent


def drain(consumer: OutboxConsumer, want: int, *, timeout_s: float = 10.0) -> int:
    """Poll until ``want`` events were taken. On PostgreSQL a transaction running anywhere
    in the cluster (another test run's CREATE DATABASE, say) holds events back until it
    ends, exactly as it would in production, so a reader polls rather than reads once."""
    taken, deadline = 0, time.monotonic() + timeout_s
    while taken < want and time.monotonic() < deadline:
        got = consumer.poll()
        taken += got
        if not got:
            time.sleep(0.02)
    return taken


def emit(app: App, n: int, *, aggregate: str = "agent:a") -> None:
    for i in range(n):
        with app.uow() as uow:
            app.outbox.emit_in(uow, "breaker.changed", aggregate, {
                "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": f"#{i}"})
            uow.commit()


def written_by_hand(app: App, type_: str, *, version: int, payload: str) -> None:
    """An outbox row written around the outbox (as a bug or another writer could)."""
    with app.engine.begin() as conn:
        conn.execute(insert(outbox).values(
            event_id=f"00000000-0000-0000-0000-{version:012d}", stream="agents",
            type=type_, version=version, aggregate_id="x", aggregate_seq=1,
            tenant="default", occurred_at=1, trace_id="t", payload=payload))


def remember(seen: list[Event]) -> object:
    def handle(uow: UnitOfWork, event: Event) -> None:
        uow.reviews.add_member(f"user-{event.payload['reason']}", "v", 1)  # a real effect
        seen.append(event)
    return handle


def members(app: App) -> int:
    with app.uow() as uow:
        return sum(len(uow.reviews.vendors_of(f"user-#{i}")) for i in range(50))


def test_a_decision_and_its_events_commit_together(app: App) -> None:
    DecisionService(app.uow, app.audit).decide(
        "d-1", policy=POLICY, facts=FACTS, snapshot={"invoice": INVOICE},
        agent=ScriptedAgent(confidence=0.2))
    seen: list[Event] = []
    drain(OutboxConsumer("test", app.uow, remember_types(seen)), 2)  # type: ignore[arg-type]
    assert [(e.type, e.aggregate_id, e.aggregate_seq) for e in seen] == [
        ("decision.recorded", "d-1", 1), ("review.queued", "d-1", 1)]  # counted per stream
    assert "Acme" not in str([e.payload for e in seen])  # the vendor's name stays out


def remember_types(seen: list[Event]) -> object:
    return lambda uow, event: seen.append(event)


def test_an_event_of_a_rolled_back_change_never_exists(app: App) -> None:
    with app.uow() as uow:
        app.outbox.emit_in(uow, "breaker.changed", "agent:a", {
            "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": "x"})
    assert OutboxConsumer("test", app.uow, lambda uow, e: None).poll() == 0


def test_events_written_together_continue_each_aggregates_sequence_in_order(app: App) -> None:
    emit(app, 2, aggregate="agent:a")
    change = {"agent_id": "a", "from_state": "open", "to_state": "closed"}
    with app.uow() as uow:
        written = app.outbox.emit_many_in(uow, "agent:a", [
            ("breaker.changed", {**change, "reason": f"#{i}"}) for i in (2, 3, 4)])
        other = app.outbox.emit_many_in(uow, "agent:b", [
            ("breaker.changed", {**change, "reason": "#0"})])
        uow.commit()
    assert [e.aggregate_seq for e in written] == [3, 4, 5]
    assert [e.aggregate_seq for e in other] == [1]
    seen: list[Event] = []
    consumer = OutboxConsumer("ordered", app.uow, remember(seen))  # type: ignore[arg-type]
    assert drain(consumer, 6) == 6
    assert [(e.aggregate_id, e.aggregate_seq, e.payload["reason"]) for e in seen] == [
        ("agent:a", 1, "#0"), ("agent:a", 2, "#1"), ("agent:a", 3, "#2"),
        ("agent:a", 4, "#3"), ("agent:a", 5, "#4"), ("agent:b", 1, "#0")]


def test_a_payload_off_its_schema_is_refused_before_it_is_written(app: App) -> None:
    with app.uow() as uow, pytest.raises(InvalidInput, match="unexpected"):
        app.outbox.emit_in(uow, "breaker.changed", "agent:a", {
            "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": "x",
            "vendor_name": "Jane Doe"})


def test_a_redelivered_event_has_no_second_effect(app: App) -> None:
    emit(app, 3)
    seen: list[Event] = []
    consumer = OutboxConsumer("members", app.uow, remember(seen))  # type: ignore[arg-type]
    assert drain(consumer, 3) == 3
    with app.uow() as uow:  # as if the offset were lost: everything comes again
        uow.outbox.save_offset("members", (-1, 0))
        uow.commit()
    assert drain(consumer, 3) == 3
    assert len(seen) == 3
    assert members(app) == 3


def test_a_failing_handler_is_retried_then_dead_lettered_and_the_stream_moves_on(
        app: App) -> None:
    emit(app, 3)
    seen: list[Event] = []

    def flaky(uow: UnitOfWork, event: Event) -> None:
        if event.payload["reason"] == "#1":
            raise RuntimeError("cannot handle #1")
        uow.reviews.add_member(f"user-{event.payload['reason']}", "v", 1)
        seen.append(event)

    sleeps: list[float] = []
    consumer = OutboxConsumer("flaky", app.uow, flaky, max_attempts=3, sleep=sleeps.append)
    drain(consumer, 3)
    # The batch's transaction failed and each event was retried alone: a handler can run
    # more than once, its effect commits once.
    assert {e.payload["reason"] for e in seen} == {"#0", "#2"}
    assert members(app) == 2
    [(_event_id, error, attempts)] = consumer.dead_letters()
    assert "cannot handle #1" in error
    assert attempts == 3
    assert sleeps == [0.05, 0.1, 0.2]  # exponential backoff


def test_an_unknown_event_version_is_dead_lettered_at_once(app: App) -> None:
    written_by_hand(app, "breaker.changed", version=9, payload="{}")
    emit(app, 1)
    seen: list[Event] = []
    consumer = OutboxConsumer("strict", app.uow, remember_types(seen))  # type: ignore[arg-type]
    drain(consumer, 2)
    assert len(seen) == 1
    assert "unknown event breaker.changed v9" in consumer.dead_letters()[0][1]


def test_a_consumer_passes_over_the_events_it_does_not_handle_without_reading_them(
        app: App) -> None:
    """Events of other types, even one whose payload is not JSON at all, are neither
    decoded nor dead-lettered by a consumer that does not handle them; its offset moves
    past them all the same."""
    written_by_hand(app, "llm.requested", version=1, payload="{not json")
    emit(app, 2)
    seen: list[Event] = []
    consumer = OutboxConsumer("typed", app.uow, remember_types(seen),  # type: ignore[arg-type]
                              types={"breaker.changed"})
    drain(consumer, 3)
    assert [e.type for e in seen] == ["breaker.changed"] * 2
    assert consumer.dead_letters() == []
    with app.uow() as uow:
        assert uow.outbox.offset("typed") == uow.outbox.end()
        with pytest.raises(json.JSONDecodeError):  # read as a whole, it is refused
            uow.outbox.after((-1, -1), limit=10)


def test_copies_of_a_consumer_handle_each_event_once_in_order(app: App) -> None:
    emit(app, 30, aggregate="agent:a")
    drain(OutboxConsumer("warm-up", app.uow, lambda uow, e: None), 30)  # all visible now
    seen: list[Event] = []
    lock = threading.Lock()

    def handle(uow: UnitOfWork, event: Event) -> None:
        with lock:
            seen.append(event)

    copies = [OutboxConsumer("shared", app.uow, handle) for _ in range(3)]
    threads = [threading.Thread(target=c.poll, kwargs={"limit": 30}) for c in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.aggregate_seq for e in seen] == list(range(1, 31))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_postgres_readers_never_pass_a_transaction_still_in_flight(app: App) -> None:
    early = app.uow().__enter__()
    app.outbox.emit_in(early, "breaker.changed", "agent:early", {
        "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": "early"})
    emit(app, 1, aggregate="agent:late")  # takes a later id and commits first
    seen: list[Event] = []
    consumer = OutboxConsumer("ordered", app.uow, remember_types(seen))  # type: ignore[arg-type]
    consumer.poll()
    assert seen == []  # the late event waits: reading it now would let "early" fall behind
    early.commit()
    early.__exit__(None, None, None)
    drain(consumer, 2)
    assert [e.aggregate_id for e in seen] == ["agent:early", "agent:late"]


def test_an_idle_embedded_consumer_takes_an_event_as_soon_as_it_commits(app: App) -> None:
    """Its idle wait is a minute here: only the commit's bell can wake it in time."""
    handled: list[float] = []
    consumer = OutboxConsumer("bell", app.uow, lambda _uow, _event: None, bell=app.bell,
                              on_settled=lambda events: handled.append(time.monotonic()))
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,), kwargs={"idle_s": 60.0})
    worker.start()
    try:
        time.sleep(0.2)  # it read nothing and waits
        for _ in range(3):  # each one wakes it again
            committed = time.monotonic()
            emit(app, 1)
            deadline = committed + 5.0
            while len(handled) < 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            assert handled, "the consumer slept through the commit"
            assert handled.pop() - committed < 2.0
            handled.clear()
    finally:
        stop.set()
        app.bell.ring()  # wake it to see ``stop`` now rather than in a minute
        worker.join(timeout=10)
    assert not worker.is_alive()


def test_events_committed_one_by_one_are_taken_in_one_batch_after_a_ring(app: App) -> None:
    """Woken by the first commit, the consumer lets events gather before it reads: five
    commits in quick succession are handled in one transaction, not five."""
    batches: list[int] = []
    consumer = OutboxConsumer("gather", app.uow, lambda _uow, _event: None, bell=app.bell,
                              on_settled=lambda events: batches.append(len(events)))
    stop = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(stop,),
                              kwargs={"idle_s": 60.0, "gather_s": 1.0})
    worker.start()
    try:
        time.sleep(0.2)  # it read nothing and waits for a ring
        emit(app, 5)  # five commits, each ringing, well inside the gathering second
        deadline = time.monotonic() + 10.0
        while sum(batches) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        app.bell.ring()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert batches == [5]


def test_a_rolled_back_change_and_a_read_ring_no_bell(app: App) -> None:
    listener = app.bell.listen()
    with app.uow() as uow:
        app.outbox.emit_in(uow, "breaker.changed", "agent:a", {
            "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": "#0"})
    with app.uow() as uow:
        uow.reviews.vendors_of("nobody")
        uow.commit()
    assert not listener.is_set()
    emit(app, 1)
    assert listener.is_set()
    app.bell.forget(listener)


def test_events_carry_their_envelope(app: App) -> None:
    emit(app, 1)
    seen: list[Event] = []
    drain(OutboxConsumer("env", app.uow, remember_types(seen)), 1)  # type: ignore[arg-type]
    event = seen[0]
    assert replace(event, event_id="", trace_id="", occurred_at_us=0) == Event(
        "", "breaker.changed", 1, "agents", "agent:a", 1, "default", 0, "",
        {"agent_id": "a", "from_state": "closed", "to_state": "open", "reason": "#0"})
    assert len(event.trace_id) == 32


def test_the_database_keeps_the_relays_waiting_list_whoever_writes_or_deletes_a_row(
        app: App) -> None:
    """Every outbox row waits for the relay from its own commit, even one written around the
    repository; relayed rows leave the list, a row deleted unrelayed (retention on the
    embedded default) takes its entry with it, and a lost stream puts every row back."""
    emit(app, 3)
    with app.engine.begin() as conn:  # raw SQL, around the repository
        conn.execute(insert(outbox).values(
            event_id="00000000-0000-0000-0000-000000000002", stream="agents",
            type="breaker.changed", version=1, aggregate_id="raw", aggregate_seq=1,
            tenant="default", occurred_at=1, trace_id="t", payload="{}"))

    def waiting() -> list[int]:
        with app.engine.connect() as conn:
            return list(conn.execute(select(outbox_waiting.c.id).order_by("id")).scalars())

    with app.uow() as uow:
        rows = uow.outbox.unrelayed(limit=10)
    assert [row.outbox_id for row in rows] == waiting()
    assert len(rows) == 4
    assert rows[-1].fields["aggregate_id"] == "raw"
    with app.uow() as uow:
        uow.outbox.mark_relayed([row.outbox_id for row in rows[:2]])
        uow.commit()
    assert waiting() == [row.outbox_id for row in rows[2:]]
    with app.uow() as uow:
        assert uow.outbox.stats()["unrelayed"] == 2
        assert [row.outbox_id for row in uow.outbox.unrelayed(limit=10)] == [
            row.outbox_id for row in rows[2:]]
        uow.outbox.delete([rows[3].outbox_id])
        uow.commit()
    assert waiting() == [rows[2].outbox_id]
    with app.uow() as uow:
        assert uow.outbox.forget_relayed() == 2
        uow.commit()
    assert waiting() == [row.outbox_id for row in rows[:3]]


def test_the_relays_read_passes_over_rows_still_being_marked_and_keeps_its_limit(
        app: App) -> None:
    """While the previous batch's mark is being written, the relay reads on past those rows:
    the database leaves them out, so a read of ``limit`` rows still brings ``limit`` new
    ones, as flat text fields equal to the event's own envelope."""
    emit(app, 7)
    with app.uow() as uow:
        first = uow.outbox.unrelayed(limit=3)
        following = uow.outbox.unrelayed(limit=3, excluding=[r.outbox_id for r in first])
        past_a_gap = uow.outbox.unrelayed(limit=10, excluding=[first[1].outbox_id])
    assert [r.fields["aggregate_seq"] for r in first] == ["1", "2", "3"]
    assert [r.fields["aggregate_seq"] for r in following] == ["4", "5", "6"]
    assert [r.fields["aggregate_seq"] for r in past_a_gap] == ["1", "3", "4", "5", "6", "7"]
    seen: list[Event] = []
    drain(OutboxConsumer("flat", app.uow, remember_types(seen)), 7)  # type: ignore[arg-type]
    assert [flat_envelope(event) for event in seen] == [r.fields for r in first + following
                                                        ] + [past_a_gap[-1].fields]
    assert all(isinstance(value, str) for value in first[0].fields.values())


def test_the_migration_lists_the_rows_the_old_flag_said_were_waiting(
        database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:  # back before 0020: one row relayed, one still waiting
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0019")
        ids = [conn.execute(text(
            "INSERT INTO outbox (txid, event_id, stream, type, version, aggregate_id, "
            "aggregate_seq, tenant, occurred_at, trace_id, payload, relayed_at) VALUES "
            f"(1, 'e-{n}', 'agents', 'breaker.changed', 1, 'a', {n}, 'default', 1, 't', '{{}}', "
            f"{relayed_at}) RETURNING id")).scalar_one() for n, relayed_at in ((1, 5), (2, "NULL"))]
    migrate(engine)
    with engine.begin() as conn:
        assert list(conn.execute(select(outbox_waiting.c.id)).scalars()) == ids[1:]
        conn.execute(insert(outbox).values(  # and the triggers keep the list from now on
            event_id="e-3", stream="agents", type="breaker.changed", version=1,
            aggregate_id="a", aggregate_seq=3, tenant="default", occurred_at=1, trace_id="t",
            payload="{}"))
    with engine.connect() as conn:
        assert len(list(conn.execute(select(outbox_waiting.c.id)).scalars())) == 2
    engine.dispose()
