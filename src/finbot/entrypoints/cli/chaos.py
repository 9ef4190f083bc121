"""``finbot chaos run``: the platform under load while its workers are killed and its
servers stopped, then the invariants that must have survived (exit 1 if one did not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from finbot.entrypoints.cli.common import console, reports_errors

chaos_cli = typer.Typer(help="Proof under faults: kill workers, stop servers, check.",
                        no_args_is_help=True)


@chaos_cli.command("run")
@reports_errors
def run(invoices: int = typer.Option(1000, min=1, max=1_000_000, help="Invoices to submit."),
        vendors: int = typer.Option(40, min=2, max=10_000, help="Vendors to onboard first."),
        rate: float = typer.Option(25.0, min=0.1, help="Invoices submitted per second."),
        copies: int = typer.Option(2, min=1, max=8,
                                   help="Processes of each worker role (relay, executor, "
                                        "agents, arena), sharing their consumer groups."),
        kills: int = typer.Option(12, min=0, help="Workers to kill with SIGKILL, one at a "
                                                  "time, every role in turn, each started "
                                                  "again shortly after."),
        kill_every: float = typer.Option(5.0, min=0.1,
                                         help="Mean seconds between kills (jittered ±50%)."),
        redis_outage: float = typer.Option(30.0, min=0.0, help="Seconds Redis is stopped, "
                                                               "a third into the load (0: never)."),
        postgres_outage: float = typer.Option(
            10.0, min=0.0, help="Seconds PostgreSQL is stopped, two thirds into the load "
                                "(0: never)."),
        fraud_rate: float = typer.Option(0.05, min=0.0, max=1.0,
                                         help="Share of invoices that are fraudulent."),
        seed: int = typer.Option(7, help="Seed for the load and the moments of the kills."),
        settle_timeout: float = typer.Option(600.0, min=1.0,
                                             help="Seconds allowed to settle after the load."),
        keep: Path | None = typer.Option(None, help="Run in this directory and keep it: the "
                                                    "servers' data and every worker's log."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
        ) -> None:
    """Start a private PostgreSQL and Redis (pg_ctl, initdb and redis-server must be on
    PATH), start COPIES `finbot worker` processes of every role, onboard vendors and submit
    invoices at RATE while random workers are killed with SIGKILL and started again, Redis
    is stopped for REDIS_OUTAGE seconds and PostgreSQL for POSTGRES_OUTAGE seconds. Once
    everything settled, the workers are stopped with SIGTERM and the run is judged: every
    approved invoice paid exactly once and none twice, every payment resting on an approved
    decision, the ledger and the audit chain verifying, no pending transfer past its
    timeout, every event delivered and no dead letters. Exit 1 if any of that fails."""
    from finbot.chaos.run import ChaosPlan, run_chaos

    plan = ChaosPlan(invoices=invoices, vendors=vendors, rate=rate, copies=copies,
                     kills=kills, kill_every_s=kill_every, redis_outage_s=redis_outage,
                     postgres_outage_s=postgres_outage, fraud_rate=fraud_rate, seed=seed,
                     settle_timeout_s=settle_timeout)

    progress = Console(stderr=True, emoji=False) if as_json else console

    def say(line: str) -> None:  # with --json on standard error, the report alone on out
        progress.print(f"[dim]chaos[/dim] {line}", highlight=False)

    report = run_chaos(plan, say=say, keep=keep)
    result = report.to_dict()
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        _print(result)
    if not report.ok:
        raise typer.Exit(1)


def _print(result: dict[str, Any]) -> None:
    table = Table("check", "result", title="chaos run")
    for name, problems in result["problems"].items():
        table.add_row(name.replace("_", " "),
                      "[green]holds[/green]" if not problems else
                      "[red]" + "\n".join(problems) + "[/red]")
    table.add_row("settled", "[red]no[/red]" if result["settled_after_s"] is None
                  else f"{result['settled_after_s']} s after the load")
    table.add_row("workers crashed", "\n".join(result["crashed"]) or "none")
    table.add_row("work per copy (last run)", "\n".join(
        f"{name}: " + ", ".join(f"{loop} {n}" for loop, n in loops.items())
        for name, loops in sorted(result["work"].items())) or "none reported")
    unclean = {name: code for name, code in result["exit_codes"].items() if code != 0}
    table.add_row("clean stop (SIGTERM)", "all" if not unclean else f"[red]{unclean}[/red]")
    console.print(table)
    counts = result["counts"]
    kills = ", ".join(f"{role} {n}" for role, n in sorted(result["kills"].items())) or "none"
    outages = ", ".join(f"{o['server']} {o['down_s']} s" for o in result["outages"]) or "none"
    console.print(f"{counts.get('invoices', 0)} invoices, {counts.get('approved', 0)} approved,"
                  f" {counts.get('paid', 0)} paid; kills: {kills}; outages: {outages}; "
                  f"{result['duration_s']} s in all", highlight=False)
    console.print("[green]every invariant held[/green]" if result["ok"]
                  else "[red]an invariant failed[/red]")


@chaos_cli.command("model")
@reports_errors
def model(rate: float = typer.Option(0.3, min=0.0, max=1.0,
                                     help="Share of model calls that go wrong."),
          fault: list[str] = typer.Option(
              [], "--fault", help="Only these faults (repeat the option): timeout, "
                                  "server_error, malformed_json, schema_violation, injection. "
                                  "Default: all of them."),
          vendors: int = typer.Option(10, min=1, max=10_000, help="Vendors to onboard."),
          invoices: int = typer.Option(100, min=0, max=1_000_000, help="Invoices to submit."),
          fraud_rate: float = typer.Option(0.1, min=0.0, max=1.0,
                                           help="Share of invoices that are fraudulent."),
          seed: int = typer.Option(7, help="Seed for the load and the faults."),
          timeout: float = typer.Option(1.0, min=0.1, help="The provider's timeout per call "
                                                          "(a hung call waits twice that)."),
          retries: int = typer.Option(1, min=0, max=10,
                                      help="The provider's retries per call."),
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
          ) -> None:
    """Point every agent at a misbehaving OpenAI-compatible model server on loopback (the
    offline model behind it; RATE of the calls time out, fail with 503, answer malformed
    JSON, break the answer's schema, or try to take the agent over) and run a seeded
    simulation through FinBot's real provider, in a scratch SQLite database. Judged: no
    workflow left half-way (a fault is retried or escalated), nothing paid without an
    approved decision, each approved invoice paid once, ledger and audit chain verify.
    Reports the faults served, the calls that failed and the breakers that tripped.
    Exit 1 if an invariant fails."""
    from finbot.chaos.model_run import ModelChaosPlan, run_model_chaos
    from finbot.chaos.model_server import FAULTS

    unknown = sorted(set(fault) - set(FAULTS))
    if unknown:
        raise typer.BadParameter(f"unknown faults {unknown}; known: {', '.join(FAULTS)}",
                                 param_hint="--fault")
    plan = ModelChaosPlan(rate=rate, faults=tuple(fault) or FAULTS, vendors=vendors,
                          invoices=invoices, fraud_rate=fraud_rate, seed=seed,
                          client_timeout_s=timeout, client_retries=retries)
    progress = Console(stderr=True, emoji=False) if as_json else console
    report = run_model_chaos(plan, say=lambda line: progress.print(
        f"[dim]chaos[/dim] {line}", highlight=False))
    result = report.to_dict()
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        table = Table("check", "result", title="model faults")
        for name, problems in result["problems"].items():
            table.add_row(name.replace("_", " "), "[green]holds[/green]" if not problems
                          else "[red]" + "\n".join(problems) + "[/red]")
        console.print(table)
        served = ", ".join(f"{k} {v}" for k, v in sorted(result["served"].items()))
        trips = ", ".join(f"{k} {v}" for k, v in sorted(result["breaker_trips"].items()))
        console.print(f"served: {served}; failed calls: {result['failed_calls']}; breaker "
                      f"trips: {trips or 'none'}; decisions: {result['summary']['decisions']}",
                      highlight=False)
    if not report.ok:
        raise typer.Exit(1)
