"""``finbot rollback``: a model version's blast radius, and (with ``--execute``) its
rollback by compensating steps. A dry run by default."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.table import Table

from finbot.bootstrap import App, bootstrap
from finbot.domain.rollback import BlastRadius
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.web.formats import instant_us
from finbot.execution.rollback import RollbackService


def rollback_service(app: App, **options: Any) -> RollbackService:
    """The rollback service over ``app``'s parts (``options``: clock, checkpoint, …)."""
    return RollbackService(app.uow, app.ledger, app.payments, app.rail, app.audit,
                           app.outbox, app.policies, home_tenant=app.settings.home_tenant,
                           **options)


@reports_errors
def rollback(
        model_version: str = typer.Option(
            ..., "--model-version", help="A version's full label (agent/model/prompt-hash"
            "[:12]/policy), an agent version (invoice/2), a model name, or a prompt-hash "
            "prefix of at least 7 hex digits."),
        since: str = typer.Option(None, help="Only decisions from this ISO time or date "
                                             "on (UTC when no zone is given)."),
        execute: bool = typer.Option(False, "--execute/--dry-run",
                                     help="Roll back; without it, only show what would be."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show what a model version decided and set in motion (pending, settled, already
    rolled back); with --execute, roll it back: halt unpaid payments, reverse paid ones
    (recalled through the rail, or owed back as a recovery), reverse the invoices'
    accruals and queue each invoice for a person to decide again. Safe to run again."""
    since_us = None if since is None else instant_us(since, field="since")
    app = bootstrap()
    try:
        service = rollback_service(app)
        radius = (service.execute(model_version, since_us=since_us) if execute
                  else service.blast_radius(model_version, since_us=since_us))
    finally:
        app.close()
    if as_json:
        console.print_json(json.dumps({"executed": execute, **radius.public()}))
        return
    _print(radius, executed=execute)


def _print(radius: BlastRadius, *, executed: bool) -> None:
    console.print(f"model version {radius.selector}: {len(radius.decisions)} decision(s), "
                  f"{len(radius.cases)} invoice(s) affected" + ("" if executed else
                                                                " (dry run)"), markup=False)
    table = Table("case", "standing", "vendor", "amount", "payment", "settled as")
    for report in radius.cases:
        row = report.public()
        table.add_row(row["case_id"], row["standing"], row["vendor_id"],
                      f"{row['amount']} {row['currency']}", row["saga_state"] or "-",
                      row["settled_as"] or "-")
    console.print(table)
    for name, total in sorted(radius.totals().items()):
        amounts = ", ".join(f"{a} {c}" for c, a in sorted(total["amounts"].items()))
        console.print(f"{name}: {total['count']} ({amounts})", markup=False)

