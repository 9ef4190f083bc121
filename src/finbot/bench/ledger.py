"""``finbot bench ledger``: the ledger's throughput, latency and storage next to raw baselines.

Everything runs in a scratch database of the chosen backend, created and dropped by the
run: raw INSERT baselines, one transfer per commit through the product API, linked
batches of 1,000, 16 concurrent writers on a hot account vs spread accounts, balance
lookups on an account with millions of postings, and bytes per transfer.
"""

from __future__ import annotations

import os
import platform
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from finbot.bench import baseline
from finbot.bench.samples import percentile
from finbot.bench.scratch import Backend, scratch_app
from finbot.bootstrap import App
from finbot.domain.ledger import TransferRequest

Progress = Callable[[str], None]
Results = dict[str, Any]

WRITERS = 16
ACCOUNTS = 1000
STAGE_SECONDS = 4.0
ROUNDS = 3  # turns of each throughput stage, alternating with its baselines
GENERATE_CHUNK = 1_000_000
LOOKUPS = 2000
TARGETS = {  # key: (ratio or figure, comparison, threshold)
    "single_at_least_half_of_baseline": ("ratio_single_vs_baseline", ">=", 0.5),
    "batch_at_least_10x_baseline_single": ("ratio_batch_vs_baseline_single", ">=", 10.0),
    "batch_at_least_half_of_baseline_batch": ("ratio_batch_vs_baseline_batch", ">=", 0.5),
    "hot_at_least_half_of_uniform": ("ratio_hot_vs_uniform", ">=", 0.5),
    "no_deadlocks": ("deadlocks", "==", 0),
    "nothing_lost_or_doubled": ("lost_or_doubled", "==", 0),
    "balance_p99_under_1ms": ("balance_p99_ms", "<", 1.0),
    "pit_balance_p99_under_5ms": ("pit_balance_p99_ms", "<", 5.0),
    "under_1kb_per_transfer": ("bytes_per_transfer", "<", 1024),
}


def run_ledger_bench(*, backend: Backend, postings: int, postgres_url: str,
                     progress: Progress | None = None,
                     stage_seconds: float = STAGE_SECONDS) -> Results:
    """Run every stage in a scratch database and return the figures as a flat dict."""
    say = progress or (lambda _: None)
    with scratch_app(backend, postgres_url) as app:
        results = _run_stages(app, backend, postings, say, stage_seconds)
    results.update(_ratios(results))
    results["targets_met"] = _targets(results)
    return results


def _run_stages(app: App, backend: Backend, postings: int, say: Progress,
                seconds: float) -> Results:
    results: Results = {"backend": backend, "postings": postings, **_machine(app)}
    _open_accounts(app)
    baseline.create_baseline_tables(app.engine)
    say(f"one per commit: plain INSERT + COMMIT and the ledger, {ROUNDS} alternating rounds")
    results.update(_against_baselines(app, seconds, "single", baseline.single_rate, _single))
    say(f"1,000 per commit: multi-row INSERT and linked ledger batches, {ROUNDS} alternating "
        "rounds")
    results.update(_against_baselines(app, seconds, "batch", baseline.batch_rate, _batches))
    for mode in ("uniform", "hot"):
        say(f"ledger: {WRITERS} concurrent writers, {mode} accounts")
        rate, errors, lost = _concurrent(app, mode, seconds)
        key = "transfers_per_s_hot" if mode == "hot" else "transfers_per_s_uniform_concurrent"
        results[key] = rate
        results["deadlocks"] = results.get("deadlocks", 0) + errors
        results["lost_or_doubled"] = results.get("lost_or_doubled", 0) + lost
    results["verify_problems"] = sum(1 for _ in app.queries.verify())
    results.update(_balance_latency(app, postings, say))
    results["bytes_per_transfer"] = _bytes_per_transfer(app)
    return results


def _machine(app: App) -> Results:
    with app.engine.connect() as conn:
        version = conn.exec_driver_sql(
            "SELECT version()" if app.engine.dialect.name == "postgresql"
            else "SELECT sqlite_version()").scalar()
    return {"cpu_count": os.cpu_count(), "python": platform.python_version(),
            "database_version": str(version).split(" on ")[0]}


def _open_accounts(app: App) -> None:
    for code in ("hot", "big", "other"):
        app.ledger.open_account(code, name=code, type="asset", currency="USD")
    for n in range(ACCOUNTS):
        app.ledger.open_account(f"u{n:04d}", name=f"spread {n}", type="asset", currency="USD")


def _against_baselines(app: App, seconds: float, kind: str,
                       baseline_rate: Callable[..., float],
                       ledger_rate: Callable[..., float]) -> Results:
    """The ledger's ``kind`` rate and its plain and indexed baselines, interleaved (each
    the mean of its rounds), and the ledger ÷ plain baseline ratio of each round: rounds
    next to each other share the machine's mood, so their spread shows the noise."""
    engine = app.engine
    ledger, plain = f"transfers_per_s_{kind}", f"baseline_{kind}_per_s"
    rounds = _interleaved(seconds, {
        plain: lambda s, r: baseline_rate(engine, "bench_plain", seconds=s,
                                          accounts=ACCOUNTS, run=r),
        f"baseline_{kind}_indexed_per_s": lambda s, r: baseline_rate(
            engine, "bench_indexed", seconds=s, accounts=ACCOUNTS, run=r),
        ledger: lambda s, r: ledger_rate(app, s, run=r)})
    results: Results = {name: sum(rates) / len(rates) for name, rates in rounds.items()}
    results[f"ratio_{kind}_vs_baseline_{kind}_by_round"] = [
        _ratio(a, b) for a, b in zip(rounds[ledger], rounds[plain], strict=True)]
    return results


def _interleaved(seconds: float,
                 stages: dict[str, Callable[[float, int], float]]) -> dict[str, list[float]]:
    """Each stage's rates, measured in ROUNDS turns of ``seconds / ROUNDS``, the order
    reversed every other round (A B C, C B A, A B C): a machine whose speed drifts during
    the run then weighs on every stage alike, and the ratios between them stay fair. The
    rounds are equally long, so a stage's rate is the mean of its rounds'."""
    rates: dict[str, list[float]] = {name: [] for name in stages}
    order = list(stages)
    for run in range(ROUNDS):
        for name in order if run % 2 == 0 else reversed(order):
            rates[name].append(stages[name](seconds / ROUNDS, run))
    return rates


def _single(app: App, seconds: float, *, run: int = 0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        app.ledger.submit([TransferRequest(f"single-{run}-{n}", f"u{n % ACCOUNTS:04d}",
                                           f"u{(n + 1) % ACCOUNTS:04d}", "1.00", "USD")])
        n += 1
    return n / (time.perf_counter() - start)


def _batches(app: App, seconds: float, size: int = 1000, *, run: int = 0) -> float:
    """Transfers per second inside ``submit`` (building the requests is not timed)."""
    rng = random.Random(run)
    done, busy = 0, 0.0
    while busy < seconds or done < 3 * size:
        batch = []
        for n in range(size):
            a, b = rng.sample(range(ACCOUNTS), 2)
            batch.append(TransferRequest(f"batch-{run}-{done + n}", f"u{a:04d}", f"u{b:04d}",
                                         f"{rng.randint(1, 99999) / 100:.2f}", "USD"))
        start = time.perf_counter()
        results = app.ledger.submit(batch, linked=True)
        busy += time.perf_counter() - start
        assert all(r.ok for r in results), results[0]
        done += size
    return done / busy


def _concurrent(app: App, mode: str, seconds: float) -> tuple[float, int, int]:
    """Rate, errors (deadlocks, exhausted retries) and lost-or-doubled transfers."""
    ok = [0] * WRITERS
    errors = [0] * WRITERS
    deadline = time.perf_counter() + seconds
    barrier = threading.Barrier(WRITERS + 1)

    def writer(w: int) -> None:
        rng = random.Random(w)
        barrier.wait()
        n = 0
        while time.perf_counter() < deadline:
            debit, credit = _pair(rng, mode)
            try:
                result = app.ledger.submit([TransferRequest(f"{mode}-{w}-{n}", debit, credit,
                                                            "1.00", "USD")])[0]
                ok[w] += result.code.value == "ok"
            except Exception:
                errors[w] += 1
            n += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    with app.engine.connect() as conn:
        stored = conn.execute(text("SELECT COUNT(*) FROM ledger_transfers WHERE id LIKE :p"),
                              {"p": f"{mode}-%"}).scalar_one()
    return sum(ok) / elapsed, sum(errors), abs(stored - sum(ok))


def _pair(rng: random.Random, mode: str) -> tuple[str, str]:
    a, b = rng.sample(range(ACCOUNTS), 2)
    if mode == "hot" and rng.random() < 0.8:
        return ("hot", f"u{a:04d}") if rng.random() < 0.5 else (f"u{a:04d}", "hot")
    return f"u{a:04d}", f"u{b:04d}"


def _balance_latency(app: App, postings: int, say: Progress) -> Results:
    t0 = _generate_postings(app, postings, say)
    say(f"balance lookups: {LOOKUPS} current, {LOOKUPS} point-in-time")
    account = app.queries.account("big")
    assert account.balance() == postings
    current = _timed(lambda: app.queries.account("big"), LOOKUPS)
    rng = random.Random(2)
    pit = _timed(lambda: app.queries.posted_balance_at(account, t0 + rng.randint(1, postings)),
                 LOOKUPS)
    return {"balance_p50_ms": percentile(current, 50, digits=4),
            "balance_p99_ms": percentile(current, 99, digits=4),
            "pit_balance_p50_ms": percentile(pit, 50, digits=4),
            "pit_balance_p99_ms": percentile(pit, 99, digits=4)}


def _timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(50):
        call()  # warm the pool and caches
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _generate_postings(app: App, postings: int, say: Progress) -> int:
    """Append ``postings`` transfers big -> other with correct running balances, set-based."""
    big, other = app.queries.account("big").id, app.queries.account("other").id
    t0 = 1_600_000_000_000_000
    pg = app.engine.dialect.name == "postgresql"
    for start in range(1, postings + 1, GENERATE_CHUNK):
        end = min(start + GENERATE_CHUNK - 1, postings)
        rows = ("generate_series(CAST(:start AS bigint), CAST(:end AS bigint)) AS s(g)"
                if pg else "s")
        prefix = "" if pg else ("WITH RECURSIVE s(g) AS (SELECT :start UNION ALL "
                                "SELECT g + 1 FROM s WHERE g < :end) ")
        with app.engine.begin() as conn:
            conn.execute(text(
                f"{prefix}INSERT INTO ledger_transfers (id, kind, debit_account_id, "
                "credit_account_id, amount, currency, ts, debit_balance, credit_balance) "
                f"SELECT 'gen-' || g, 'posted', :big, :other, 1, 'USD', CAST(:t0 AS bigint) + g, "
                "g, -g "
                f"FROM {rows}"), {"start": start, "end": end, "big": big, "other": other,
                                  "t0": t0})
            if end == postings:
                conn.execute(text(
                    "UPDATE ledger_accounts SET debits_posted = debits_posted + "
                    "CASE WHEN id = :big THEN :n ELSE 0 END, credits_posted = credits_posted + "
                    "CASE WHEN id = :other THEN :n ELSE 0 END WHERE id IN (:big, :other)"),
                    {"big": big, "other": other, "n": postings})
        say(f"generated {end:,} of {postings:,} postings on account 'big'")
    if pg:
        with app.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE ledger_transfers")
    return t0


def _bytes_per_transfer(app: App) -> float:
    with app.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT COUNT(*) FROM ledger_transfers").scalar_one()
        if app.engine.dialect.name == "postgresql":
            size = conn.exec_driver_sql(
                "SELECT pg_total_relation_size('ledger_transfers')").scalar_one()
        else:
            size = conn.exec_driver_sql(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
                "WHERE tbl_name = 'ledger_transfers')").scalar_one()
    return round(float(size) / max(int(rows), 1), 1)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def _ratios(r: Results) -> Results:
    def ratio(a: str, b: str) -> float:
        return _ratio(r[a], r.get(b, 0.0))
    return {
        "ratio_single_vs_baseline": ratio("transfers_per_s_single", "baseline_single_per_s"),
        "ratio_batch_vs_baseline_single": ratio("transfers_per_s_batch",
                                                "baseline_single_per_s"),
        "ratio_batch_vs_baseline_batch": ratio("transfers_per_s_batch", "baseline_batch_per_s"),
        "ratio_batch_vs_baseline_batch_indexed": ratio("transfers_per_s_batch",
                                                       "baseline_batch_indexed_per_s"),
        "ratio_single_vs_baseline_indexed": ratio("transfers_per_s_single",
                                                  "baseline_single_indexed_per_s"),
        "ratio_hot_vs_uniform": ratio("transfers_per_s_hot",
                                      "transfers_per_s_uniform_concurrent"),
        # What plain SQL reaches with the ledger's indexes. On SQLite, whose fastest bulk
        # path is a multi-row INSERT, this bounds in practice the batch ratios of a ledger
        # that keeps those indexes (a balance at any past moment needs them); PostgreSQL's
        # COPY, which the ledger uses, goes past it.
        "ratio_baseline_batch_indexed_vs_baseline_single": ratio(
            "baseline_batch_indexed_per_s", "baseline_single_per_s"),
        "ratio_baseline_batch_indexed_vs_baseline_batch": ratio(
            "baseline_batch_indexed_per_s", "baseline_batch_per_s"),
    }


def _targets(r: Results) -> dict[str, bool]:
    checks = {">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "<": lambda a, b: a < b}
    return {name: bool(checks[op](r[key], limit)) for name, (key, op, limit) in TARGETS.items()}


def render_results(results: Results, *, console: Console) -> None:
    """A human-readable table of every figure, then which targets were met."""
    table = Table("figure", "value", title=f"ledger bench ({results['backend']})")
    for key, value in results.items():
        if key != "targets_met":
            table.add_row(key, _shown(value))
    console.print(table)
    for name, met in results["targets_met"].items():
        console.print(f"{'met' if met else 'MISSED':>6}  {name}")


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value)
    return str(value)
