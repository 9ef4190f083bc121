"""``finbot simulate``: the whole platform, headless, on seeded synthetic vendors and
invoices, with a progress bar and a summary."""

from __future__ import annotations

import json
from enum import StrEnum

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from finbot.entrypoints.cli.common import console, reports_errors


class ReviewChoice(StrEnum):
    """What happens to escalations during a simulation."""

    AUTO = "auto"
    QUEUE = "queue"


@reports_errors
def simulate(vendors: int = typer.Option(20, min=1, max=100_000, help="Vendors to onboard."),
             invoices: int = typer.Option(200, min=0, max=10_000_000,
                                          help="Invoices to submit."),
             fraud_rate: float = typer.Option(0.05, min=0.0, max=1.0,
                                              help="Share of invoices that are fraudulent."),
             seed: int = typer.Option(7, help="Seed: the same seed gives the same run."),
             reviews: ReviewChoice = typer.Option(
                 ReviewChoice.AUTO, help="auto: a simulated reviewer settles escalations; "
                                         "queue: leave them for `finbot review`."),
             as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")
             ) -> None:
    """Onboard vendors, submit invoices (some fraudulent), let the agents, the gate, the
    reviewers and the executor do their work on the configured database, and summarise:
    decisions by outcome, paid, blocked, escalated, fraud caught and missed, and whether
    the ledger and the audit chain verify."""
    from finbot.bootstrap import bootstrap
    from finbot.config import Settings
    from finbot.observability.setup import observe
    from finbot.simulation import simulate as run

    settings = Settings()
    observe(settings, role="simulate")
    app = bootstrap(settings)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=as_json) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)
            summary = run(app, vendors=vendors, invoices=invoices, fraud_rate=fraud_rate,
                          seed=seed, reviews=reviews.value, progress=progress)
    finally:
        app.close()
    result = summary.to_dict()
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    table = Table("", "count", title=f"simulation (seed {seed})")
    for group in ("vendors", "invoices", "decisions"):
        for name, count in sorted(result[group].items()):
            table.add_row(f"{group}: {name}", str(count))
    for name in ("paid", "fraud_caught", "fraud_missed", "legitimate_paid", "legitimate_held",
                 "reviews", "failed_steps", "ledger_verified", "audit_verified"):
        table.add_row(name.replace("_", " "), str(result[name]))
    console.print(table)
