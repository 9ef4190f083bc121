"""Worker processes on real Redis: an approved escalation travels outbox → relay → Redis
Streams → the executor's consumer group → a completed payment, across separate
`finbot worker` processes that stop cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from finbot.bootstrap import App
from tests.conftest import REDIS_URL
from tests.integration.test_reviews import PAYABLE, WHY, books, escalate  # noqa: F401

pytestmark = pytest.mark.redis


def start_worker(role: str, prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("finbot")), "worker", role],
        env={**os.environ, "FINBOT_REDIS_URL": REDIS_URL, "FINBOT_EVENTS_PREFIX": prefix},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_an_approved_escalation_is_paid_through_worker_processes(
        books: App, env: None, redis_prefix: tuple[Any, str]) -> None:  # noqa: F811
    client, prefix = redis_prefix
    escalate(books, "d-1")
    books.reviews.review("d-1", reviewer_id="ann", verdict="APPROVE", rationale=WHY)
    books.reviews.review("d-1", reviewer_id="bob", verdict="APPROVE", rationale=WHY)
    workers = [start_worker("relay", prefix), start_worker("executor", prefix),
               start_worker("executor", prefix)]  # two executor copies share the group
    started = [worker.stdout.readline() for worker in workers]  # type: ignore[union-attr]
    assert all("running" in line for line in started), started  # each took its work
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if books.queries.account(PAYABLE).balances.debits_posted == 120000:
                break
            assert all(w.poll() is None for w in workers), [w.poll() for w in workers]
            time.sleep(0.1)
        assert books.queries.account(PAYABLE).balances.debits_posted == 120000
        assert client.xlen(f"{prefix}business") >= 1
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60)[0] for worker in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    assert all("stopped" in out for out in outputs), outputs  # and gave it back cleanly
    assert books.payments.get("pay-d-1").state.value == "completed"


def test_a_worker_started_while_the_database_is_away_waits_for_it_and_stops_cleanly(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FINBOT_REDIS_URL"}
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("finbot")), "worker", "executor"],
        env={**env, "FINBOT_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none",
             "FINBOT_DATA_DIR": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = worker.stdout.readline()  # type: ignore[union-attr]
        assert "waiting for the database" in first, first
        assert worker.poll() is None  # still there, waiting, not crashed
    finally:
        worker.send_signal(signal.SIGTERM)
        output = worker.communicate(timeout=60)[0]
    assert worker.returncode == 0, output
    assert "stopped" in output
