"""``finbot bench soak`` in bounded form: a steady load on PostgreSQL + Redis with worker
processes, memory and latency sampled, and no errors."""

from __future__ import annotations

import pytest

from finbot.bench.soak import SoakPlan, run_soak

pytestmark = [pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.usefixtures("private_servers")]


def test_a_short_soak_samples_memory_and_latency_and_meets_no_error() -> None:
    lines: list[str] = []
    results = run_soak(SoakPlan(minutes=0.5, rate=1.0, vendors=2, interval_s=10.0, seed=3),
                       say=lines.append)
    assert results["errors"] == {"refused_submissions": 0, "failed_steps": 0,
                                 "dead_letters": 0, "unfinished_invoices": 0,
                                 "crashed_workers": 0}, lines
    assert results["targets_met"]["zero_errors"] is True
    samples = results["samples"]
    assert len(samples) == 3
    for sample in samples:  # each worker role and the driver, every interval
        assert set(sample["rss_mb"]) == {"relay-0", "executor-0", "agents-0", "arena-0",
                                         "driver"}
        assert all(mb > 0 for mb in sample["rss_mb"].values())
    assert sum(s["finished"] for s in samples) > 0
    assert any(s["p99_ms"] is not None and s["p99_ms"] > 0 for s in samples)
    assert set(results["memory_growth_mb"]) == set(samples[0]["rss_mb"])
