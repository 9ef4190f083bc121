"""The chaos run in bounded form: workers killed with SIGKILL at random moments, Redis and
PostgreSQL stopped mid-load, and every invariant holds afterwards (``finbot chaos run``
runs the full size: 1,000 invoices, 30 s and 10 s outages)."""

from __future__ import annotations

import pytest

from finbot.chaos.run import ChaosPlan, run_chaos

pytestmark = [pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.usefixtures("private_servers")]


def test_killed_workers_and_stopped_servers_lose_nothing_and_pay_nothing_twice() -> None:
    plan = ChaosPlan(invoices=40, vendors=4, rate=10.0, copies=2, kills=4, kill_every_s=2.0,
                     redis_outage_s=3.0, postgres_outage_s=2.0, fraud_rate=0.1, seed=3,
                     settle_timeout_s=300.0)
    lines: list[str] = []
    report = run_chaos(plan, say=lines.append)
    assert report.ok, (report.to_dict(), lines)
    assert report.kills == {"relay": 1, "executor": 1, "agents": 1, "arena": 1}  # each role
    assert [o["server"] for o in report.outages] == ["redis", "postgres"]
    assert report.counts["invoices"] >= 40
    assert 0 < report.counts["approved"] == report.counts["paid"]
    assert set(report.exit_codes.values()) == {0}
    assert len(report.exit_codes) == 8
    assert all(not found for found in report.problems.values())
    assert set(report.work) == set(report.exit_codes)  # each copy said what it did
    assert sum(report.work["agents-0"].values()) + sum(report.work["agents-1"].values()) > 0
