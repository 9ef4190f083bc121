"""``finbot breaker …``: each agent's circuit breaker: status, drill, trip and reset."""

from __future__ import annotations

import typer
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.clock import utc_datetime
from finbot.entrypoints.cli.common import console, errors, reports_errors
from finbot.services.breaker_drill import run_drill

breaker_cli = typer.Typer(help="Per-agent circuit breakers and the rules-only fallback.",
                          no_args_is_help=True)
REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")


@breaker_cli.command("status")
@reports_errors
def status() -> None:
    """Every agent breaker's state, since when and why."""
    rows = bootstrap().breakers.status()
    table = Table("agent", "state", "since", "reason")
    for row in rows:
        since = utc_datetime(row.changed_at_us).strftime(
            "%Y-%m-%d %H:%M:%S UTC") if row.changed_at_us else "-"
        table.add_row(row.agent_id, row.state.value, since, row.reason)
    console.print(table)
    if not rows:
        console.print("no breaker has ever tripped; every agent is in the loop")


@breaker_cli.command("drill")
@reports_errors
def drill(agent: str = typer.Argument(..., help="The agent id, e.g. invoice-agent.")) -> None:
    """Trip AGENT's breaker on purpose, check the rules-only fallback decides without the
    agent, then reset it. Exits 1 if any step fails."""
    app = bootstrap()
    report = run_drill(agent, breakers=app.breakers, decisions=app.decisions,
                       policy=app.policies.current())
    for step, ok in report.steps:
        console.print(f"  {'[green]ok[/green]  ' if ok else '[red]FAIL[/red]'} {step}")
    if not report.passed:
        errors.print(f"breaker drill for {agent} FAILED")
        raise typer.Exit(1)
    console.print(f"breaker drill for {agent} passed")


@breaker_cli.command("trip")
@reports_errors
def trip(agent: str, reason: str = REASON) -> None:
    """Pull AGENT out of the loop now: the rules-only fallback decides until reset."""
    stored = bootstrap().breakers.trip(agent, reason)
    console.print(f"{agent}: {stored.state.value}")


@breaker_cli.command("reset")
@reports_errors
def reset(agent: str, reason: str = REASON) -> None:
    """Put AGENT back in the loop with a fresh window."""
    stored = bootstrap().breakers.reset(agent, reason)
    console.print(f"{agent}: {stored.state.value}")
