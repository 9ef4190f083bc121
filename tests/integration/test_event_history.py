"""Event history on both backends: retention archives before it deletes and never takes
what a consumer still needs; replay re-drives a consumer from an offset or a time, through
the archive and the outbox; a replayed executor pays nothing twice."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.events import Event
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.workers import retention_round
from finbot.services.events import ConsumerSpec, Outbox
from finbot.services.history import replay
from finbot.services.ports import UnitOfWork
from tests.integration.test_reviews import (  # noqa: F401
    PAYABLE,
    WHY,
    books,
    escalate,
)
from tests.workflow_kit import run_until_idle

DAY_US = 86_400 * 1_000_000
NOW_US = 1_800_000_000 * 1_000_000
runner = CliRunner()


def emit(app: App, n: int, *, at_us: int, start: int = 0) -> None:
    outbox = Outbox(clock=lambda: at_us)
    for i in range(start, start + n):
        with app.uow() as uow:
            outbox.emit_in(uow, "review.recorded", f"d-{i % 4}", {
                "decision_id": f"d-{i % 4}", "reviewer_id": "ann", "verdict": "APPROVE",
                "status": f"#{i}"})
            uow.commit()


def counting(seen: list[str]) -> Callable[[UnitOfWork, Event], None]:
    return lambda uow, event: seen.append(str(event.payload["status"]))


def drain_all(app: App) -> None:
    """Every consumer through the whole outbox (on PostgreSQL, rows become readable once
    older transactions anywhere on the server ended: wait for that)."""
    deadline = time.monotonic() + 15
    for name in app.consumers:
        consumer = app.consumer(name)
        while consumer.poll() or _behind_all(app, name):
            assert time.monotonic() < deadline, "the consumer did not catch up"
            time.sleep(0.02)


def _behind_all(app: App, name: str) -> bool:
    with app.uow() as uow:
        offset = uow.outbox.offset(name)
        return offset[1] < max((i for i, _ in uow.outbox.history(
            streams=["business", "agents"], after_id=0, from_us=None, to_us=None,
            limit=10_000)), default=0)


def outbox_size(app: App) -> int:
    with app.uow() as uow:
        return uow.outbox.stats()["outbox"]


def test_retention_archives_old_events_and_keeps_what_a_consumer_needs(app: App) -> None:
    emit(app, 10, at_us=NOW_US - 10 * DAY_US)
    emit(app, 3, at_us=NOW_US, start=10)
    # The executor consumer has not read them yet: nothing may go.
    assert retention_round(app, at_us=NOW_US).archived == 0
    drain_all(app)
    report = retention_round(app, at_us=NOW_US)
    assert report.archived == 10
    assert outbox_size(app) == 3
    [path] = report.files
    with gzip.open(path, "rt") as archived:
        lines = [json.loads(line) for line in archived]
    assert [line["payload"]["status"] for line in lines] == [f"#{i}" for i in range(10)]
    assert retention_round(app, at_us=NOW_US).archived == 0  # idempotent


def test_replay_from_an_offset_or_a_time_spans_the_archive_and_the_outbox(app: App) -> None:
    emit(app, 6, at_us=NOW_US - 10 * DAY_US)
    emit(app, 4, at_us=NOW_US - DAY_US, start=6)
    drain_all(app)
    retention_round(app, at_us=NOW_US)
    assert outbox_size(app) == 4  # six archived
    seen: list[str] = []
    spec = ConsumerSpec("projection", "agents", counting(seen), streams=("business",))
    report = replay(app.uow, app.archive, spec, stream="business")
    assert seen == [f"#{i}" for i in range(10)]
    assert report.handled == 10
    seen.clear()
    replay(app.uow, app.archive, spec, stream="business", after_id=4)
    assert seen == [f"#{i}" for i in range(4, 10)]
    seen.clear()
    replay(app.uow, app.archive, spec, stream="business", from_us=NOW_US - 2 * DAY_US,
           to_us=NOW_US)
    assert seen == ["#6", "#7", "#8", "#9"]
    seen.clear()
    dry = replay(app.uow, app.archive, spec, stream="business", dry_run=True)
    assert (dry.matched, dry.handled, seen) == (10, 0, [])


def test_replaying_the_executor_pays_nothing_twice(books: App, env: None) -> None:  # noqa: F811
    escalate(books, "d-1")
    books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    books.reviews.review("d-1", reviewer_id="bob", verdict="APPROVE", rationale=WHY)
    run_until_idle(books, timeout_s=10)
    assert books.queries.account(PAYABLE).balances.debits_posted == 120000
    since = datetime.now(UTC).replace(year=2020).isoformat()
    result = runner.invoke(cli, ["events", "replay", "--stream", "business", "--from", since,
                                 "--consumer", "executor"])
    assert result.exit_code == 0, result.output
    assert "replayed 1 events into executor" in result.output
    run_until_idle(books, timeout_s=10)
    assert books.queries.account(PAYABLE).balances.debits_posted == 120000


@pytest.mark.parametrize(("args", "message"), [
    (["--stream", "nope", "--from", "1", "--consumer", "executor"], "unknown stream"),
    (["--stream", "business", "--from", "yesterday", "--consumer", "executor"],
     "ISO-8601 time"),
    (["--stream", "business", "--from", "1", "--consumer", "ghost"], "no consumer named"),
])
def test_replay_refuses_bad_input_clearly(env: None, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["events", "replay", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_events_status_reports_the_outbox(app: App, env: None) -> None:
    emit(app, 2, at_us=NOW_US)
    result = runner.invoke(cli, ["events", "status", "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.output)
    assert report["outbox"]["outbox"] == 2
