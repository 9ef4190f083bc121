"""``finbot bench …``: measure FinBot next to raw database baselines on this machine."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

import typer

from finbot.config import Settings
from finbot.entrypoints.cli.common import console, errors, reports_errors

bench_cli = typer.Typer(help="Benchmarks, each next to a raw baseline.", no_args_is_help=True)


class BackendChoice(StrEnum):
    """The databases a benchmark can run on (typer refuses anything else)."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"


def _progress(message: str) -> None:
    errors.print(message, style="dim", markup=False)


@bench_cli.command("ledger")
@reports_errors
def ledger(backend: BackendChoice = typer.Option(BackendChoice.SQLITE, help="Database."),
           postings: int = typer.Option(10_000_000, min=1_000,
                                        help="Postings on the account used for balance lookups."),
           seconds: float = typer.Option(
               4.0, min=0.5, help="Seconds per throughput stage, in three rounds alternating "
                                  "with its baselines; longer runs steady the ratios on a noisy "
                                  "machine (each round's ratio is reported)."),
           as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
           ) -> None:
    """Ledger throughput (single, batch, hot account), balance latency and storage."""
    from finbot.bench.ledger import render_results, run_ledger_bench

    chosen: Literal["sqlite", "postgres"] = backend.value
    results = run_ledger_bench(backend=chosen, postings=postings,
                               postgres_url=Settings().postgres_url, progress=_progress,
                               stage_seconds=seconds)
    if as_json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        render_results(results, console=console)


@bench_cli.command("gate")
@reports_errors
def gate(backend: BackendChoice = typer.Option(BackendChoice.SQLITE, help="Database."),
         records: int = typer.Option(1_000_000, min=1_000,
                                     help="Audit records to verify."),
         as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
         ) -> None:
    """Hard-guardrail speed, the full decision path, and audit verification speed."""
    from finbot.bench.gate import run_gate_bench

    chosen: Literal["sqlite", "postgres"] = backend.value
    results = run_gate_bench(backend=chosen, postgres_url=Settings().postgres_url,
                             records=records, progress=_progress)
    print(json.dumps(results, indent=2, sort_keys=True)) if as_json else console.print(results)


@bench_cli.command("events")
@reports_errors
def events(backend: BackendChoice = typer.Option(BackendChoice.SQLITE, help="Database."),
           count: int = typer.Option(20_000, "--events", min=1_000,
                                     help="Events for the throughput runs."),
           rate: int = typer.Option(1_000, min=10, help="Events per second, end to end."),
           seconds: float = typer.Option(10.0, min=1, help="How long the end-to-end run is."),
           as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
           ) -> None:
    """Relay throughput next to raw pipelined XADD, end-to-end latency at a steady rate
    (needs FINBOT_REDIS_URL) and the embedded consumer's throughput."""
    from finbot.bench.events import run_events_bench

    settings = Settings()
    chosen: Literal["sqlite", "postgres"] = backend.value
    results = run_events_bench(backend=chosen, postgres_url=settings.postgres_url,
                               redis_url=settings.redis_url, events=count, rate=rate,
                               seconds=seconds, progress=_progress)
    print(json.dumps(results, indent=2, sort_keys=True)) if as_json else console.print(results)


@bench_cli.command("agents")
@reports_errors
def agents(backend: BackendChoice = typer.Option(BackendChoice.SQLITE, help="Database."),
           scores: int = typer.Option(5_000, min=100, help="Payments scored per round."),
           decisions: int = typer.Option(1_000, min=10,
                                         help="Invoices run through the workflow."),
           vendors: int = typer.Option(20, min=1, max=10_000,
                                       help="Vendors the invoices are spread over."),
           as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
           ) -> None:
    """Fraud-score latency next to LightGBM's own predict, and the invoice workflow on the
    offline model next to plain INSERT commits: the invoice path (submission → the
    invoice agent's proposal → gate → audit log), then the whole orchestration (invoice,
    fraud and payment agents with their read-only tools → gate → audit log →
    notification) and the payments."""
    from finbot.bench.agents import run_agents_bench

    chosen: Literal["sqlite", "postgres"] = backend.value
    results = run_agents_bench(backend=chosen, postgres_url=Settings().postgres_url,
                               scores=scores, decisions=decisions, vendors=vendors,
                               progress=_progress)
    print(json.dumps(results, indent=2, sort_keys=True)) if as_json else console.print(results)


@bench_cli.command("api")
@reports_errors
def api(backend: BackendChoice = typer.Option(BackendChoice.SQLITE, help="Database."),
        seconds: float = typer.Option(10.0, min=1, help="Length of each measured run."),
        rate: int = typer.Option(300, min=1, help="Requests per second in the steady run."),
        concurrency: int = typer.Option(32, min=1, max=1024,
                                        help="Clients sending back to back in the capacity run."),
        workers: int = typer.Option(2, min=1, max=64,
                                    help="Web worker processes (uvicorn --workers)."),
        as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
        ) -> None:
    """Invoice submission over HTTP on loopback (capacity, then a steady rate with p50/p99
    and errors) next to a minimal FastAPI route served the same way in the same run."""
    from finbot.bench.api import run_api_bench

    chosen: Literal["sqlite", "postgres"] = backend.value
    results = run_api_bench(backend=chosen, postgres_url=Settings().postgres_url,
                            seconds=seconds, rate=rate, concurrency=concurrency,
                            server_workers=workers, progress=_progress)
    print(json.dumps(results, indent=2, sort_keys=True)) if as_json else console.print(results)


@bench_cli.command("arena")
@reports_errors
def arena(count: int = typer.Option(100_000, "--events", min=100,
                                    help="Events in the generated stream."),
          as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
          ) -> None:
    """The arena's standard detectors over a mixed stream of attacks, leaks and ordinary
    events, on one thread without model judges, next to one plain re.search per text
    field over the same events."""
    from finbot.bench.arena import run_arena_bench

    results = run_arena_bench(events=count, progress=_progress)
    print(json.dumps(results, indent=2, sort_keys=True)) if as_json else console.print(results)


@bench_cli.command("soak")
@reports_errors
def soak(minutes: float = typer.Option(10.0, min=0.1, help="How long the load lasts."),
         rate: float = typer.Option(5.0, min=0.1, help="Invoices submitted per second."),
         vendors: int = typer.Option(20, min=1, max=10_000, help="Vendors to onboard first."),
         interval: float = typer.Option(60.0, min=1.0,
                                        help="Seconds between samples (memory, latency)."),
         seed: int = typer.Option(7, help="Seed for the load."),
         as_json: bool = typer.Option(False, "--json", help="Print the results as JSON.")
         ) -> None:
    """A steady load on a private PostgreSQL and Redis (pg_ctl, initdb and redis-server on
    PATH) with one `finbot worker` of each role: every INTERVAL seconds the memory of each
    process and the p50/p99 latency from an invoice's submission to its final status.
    Judged: no memory growth after warm-up, a steady p99, zero errors (exit 1 if not)."""
    from finbot.bench.soak import SoakPlan, run_soak

    results = run_soak(SoakPlan(minutes=minutes, rate=rate, vendors=vendors,
                                interval_s=interval, seed=seed), say=_progress)
    if as_json:
        print(json.dumps(results, indent=2, sort_keys=True))
    else:
        console.print(results)
    if not all(results["targets_met"].values()):
        raise typer.Exit(1)

