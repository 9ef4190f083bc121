"""The ledger bench runs end to end on a tiny workload and reports every figure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from finbot.adapters.db.engine import make_engine
from finbot.bench import baseline
from finbot.bench.ledger import ROUNDS, run_ledger_bench
from tests.conftest import POSTGRES_URL

KEYS = {"transfers_per_s_single", "transfers_per_s_batch", "baseline_single_per_s",
        "baseline_batch_per_s", "transfers_per_s_hot", "transfers_per_s_uniform_concurrent",
        "bytes_per_transfer", "ratio_single_vs_baseline", "ratio_batch_vs_baseline_single",
        "ratio_batch_vs_baseline_batch", "ratio_hot_vs_uniform", "balance_p50_ms",
        "balance_p99_ms", "pit_balance_p99_ms", "deadlocks", "lost_or_doubled", "targets_met",
        "ratio_baseline_batch_indexed_vs_baseline_single",
        "ratio_baseline_batch_indexed_vs_baseline_batch"}


def check(results: dict[str, object]) -> None:
    assert results.keys() >= KEYS
    assert results["lost_or_doubled"] == 0
    assert results["verify_problems"] == 0
    for key in KEYS - {"deadlocks", "lost_or_doubled", "targets_met"}:
        assert isinstance(results[key], float)
        assert results[key] > 0, key
    for kind in ("single", "batch"):  # each round's ratio, around the overall one
        by_round = results[f"ratio_{kind}_vs_baseline_{kind}_by_round"]
        assert isinstance(by_round, list)
        assert len(by_round) == ROUNDS
        overall = results[f"ratio_{kind}_vs_baseline" if kind == "single"
                          else "ratio_batch_vs_baseline_batch"]
        assert isinstance(overall, float)
        assert min(by_round) * 0.999 <= overall <= max(by_round) * 1.001


def test_baseline_rows_spread_over_as_many_accounts_as_asked(tmp_path: Path) -> None:
    """The indexed baseline touches as many index leaves as the ledger's stages do."""
    engine = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        baseline.create_baseline_tables(engine)
        assert baseline.batch_rate(engine, "bench_indexed", seconds=0.01, accounts=50) > 0
        assert baseline.single_rate(engine, "bench_plain", seconds=0.01, accounts=7) > 0
        with engine.connect() as conn:
            for table, accounts in (("bench_indexed", 50), ("bench_plain", 7)):
                debits, credits, same = conn.exec_driver_sql(
                    "SELECT count(DISTINCT debit_account_id), count(DISTINCT credit_account_id),"
                    f" sum(debit_account_id = credit_account_id) FROM {table}").one()
                assert (debits, credits, same) == (accounts, accounts, 0), table
    finally:
        engine.dispose()


def test_the_sqlite_bench_reports_every_figure() -> None:
    messages: list[str] = []
    check(run_ledger_bench(backend="sqlite", postings=2000, postgres_url=POSTGRES_URL,
                           progress=messages.append, stage_seconds=0.3))
    assert any("generated 2,000" in m for m in messages)


@pytest.mark.postgres
def test_the_postgres_bench_reports_every_figure_and_drops_its_database(
        pg_admin: object) -> None:
    from sqlalchemy import Engine
    assert isinstance(pg_admin, Engine)

    def scratch_databases() -> set[str]:
        with pg_admin.connect() as conn:
            return set(conn.exec_driver_sql(
                "SELECT datname FROM pg_database WHERE datname LIKE 'finbot_bench_%%'").scalars())

    before = scratch_databases()
    check(run_ledger_bench(backend="postgres", postings=2000, postgres_url=POSTGRES_URL,
                           stage_seconds=0.3))
    assert scratch_databases() <= before


def test_the_gate_bench_reports_every_figure() -> None:
    from finbot.bench.gate import run_gate_bench
    results = run_gate_bench(backend="sqlite", postgres_url=POSTGRES_URL, records=2000)
    assert results["audit_problems"] == 0
    for key in ("hard_rules_p99_us", "hard_rules_per_s", "decision_path_p99_ms",
                "audit_verify_s_per_million", "ratio_verify_vs_sha256"):
        assert results[key] > 0, key
    assert set(results["targets_met"]) == {
        "hard_rules_p99_under_50us", "hard_rules_at_least_20000_per_s",
        "decision_path_p99_under_10ms", "audit_verify_under_30s_per_million"}


@pytest.mark.redis
def test_the_events_bench_reports_every_figure_and_leaves_no_keys(
        redis_prefix: tuple[object, str]) -> None:
    import redis

    from finbot.bench.events import run_events_bench
    from tests.conftest import REDIS_URL

    client = redis.Redis.from_url(REDIS_URL)
    before = set(client.scan_iter(match="finbot-bench:*"))
    results = run_events_bench(backend="sqlite", postgres_url=POSTGRES_URL,
                               redis_url=REDIS_URL, events=1000, rate=100, seconds=1)
    for key in ("embedded_consumer_per_s", "raw_xadd_per_s", "relay_per_s",
                "relay_vs_raw_ratio", "e2e_p50_ms", "e2e_p99_ms", "e2e_achieved_rate_per_s"):
        assert results[key] > 0, key
    assert results["e2e_events"] == 100
    assert len(results["e2e_p99s_ms"]) == results["e2e_rounds"] == 3
    assert sorted(results["e2e_p99s_ms"])[1] == results["e2e_p99_ms"]  # the median round
    assert set(results["targets_met"]) == {"relay_at_least_half_of_raw_xadd",
                                           "e2e_p99_under_50ms_at_rate"}
    assert set(client.scan_iter(match="finbot-bench:*")) <= before


def test_the_agents_bench_reports_every_figure() -> None:
    from finbot.bench.agents import run_agents_bench
    results = run_agents_bench(backend="sqlite", postgres_url=POSTGRES_URL, scores=200,
                               decisions=20)
    for key in ("fraud_score_p99_us", "raw_lightgbm_predict_p99_us",
                "raw_predict_p99_over_fraud_score_p99", "offline_decisions_per_s",
                "whole_workflows_per_s", "offline_decision_p99_ms", "invoice_path_per_s",
                "invoice_path_decision_p99_ms", "orchestrated_workflows_per_s"):
        assert results[key] > 0, key
    # every invoice went its whole way: one decision of its own first, then the others
    assert results["invoices_by_status"].keys() <= {"paid", "rejected", "escalated"}
    assert sum(results["invoices_by_status"].values()) == 20
    assert results["invoice_path_per_s"] > results["orchestrated_workflows_per_s"]
    assert set(results["targets_met"]) == {
        "fraud_score_p99_under_1ms", "offline_invoice_path_at_least_200_per_s",
        "offline_decision_p99_under_20ms"}


def test_the_api_bench_serves_both_targets_and_reports_every_figure() -> None:
    from finbot.bench.api import run_api_bench

    messages: list[str] = []
    results = run_api_bench(backend="sqlite", postgres_url=POSTGRES_URL, seconds=1.0,
                            rate=20, concurrency=4, progress=messages.append)
    for target in ("hello", "invoices"):
        figures = results[target]
        assert figures["errors"] == 0, figures["error_kinds"]
        assert figures["capacity_per_s"] > 0
        assert figures["steady_achieved_per_s"] > 0
        assert 0 < figures["steady_p50_ms"] <= figures["steady_p99_ms"]
    assert results["ratio_invoices_vs_hello"] > 0
    assert isinstance(results["targets_met"], bool)
    assert any("invoice submission" in m for m in messages)


def test_the_arena_bench_reports_every_figure() -> None:
    from finbot.bench.arena import run_arena_bench
    results = run_arena_bench(events=2000)
    for key in ("events_per_s", "baseline_re_search_per_s", "ratio_vs_baseline"):
        assert results[key] > 0, key
    assert results["events"] == 2000
    assert set(results["hits_by_detector"]) >= {
        "prompt_injection", "pii_leak", "dead_drop_mail", "tool_drift", "destructive_call",
        "command_execution", "system_prompt_echo"}
    assert results["hits"] == sum(results["hits_by_detector"].values())
    assert set(results["targets_met"]) == {"at_least_5000_events_per_s"}


def test_throughput_stages_alternate_with_their_baselines() -> None:
    """Each stage runs ROUNDS equal turns, the order reversed every other round, and
    reports each turn's rate; every turn has ids of its own."""
    from finbot.bench.ledger import _interleaved

    turns: list[tuple[str, float, int]] = []

    def stage(name: str, rate: float) -> Callable[[float, int], float]:
        def measure(seconds: float, run: int) -> float:
            turns.append((name, seconds, run))
            return rate + run
        return measure

    rates = _interleaved(3.0, {"a": stage("a", 10.0), "b": stage("b", 20.0),
                               "c": stage("c", 30.0)})
    assert ROUNDS == 3
    assert [name for name, _, _ in turns] == list("abccbaabc")
    assert {seconds for _, seconds, _ in turns} == {1.0}
    assert [run for name, _, run in turns if name == "b"] == [0, 1, 2]
    assert rates == {"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0], "c": [30.0, 31.0, 32.0]}
