"""``finbot payments …``: pay a vendor through a saga, resume unfinished ones, inspect one."""

from __future__ import annotations

import json

import typer

from finbot.bootstrap import bootstrap
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.execution.saga import saga_public

payments_cli = typer.Typer(help="Execute and inspect payment sagas.", no_args_is_help=True)


@payments_cli.command("pay")
@reports_errors
def pay(payment_id: str = typer.Argument(..., help="Unique payment id (retries reuse it)."),
        payee: str = typer.Option(..., help="The vendor's payable account code."),
        source: str = typer.Option("company:bank", help="The account money leaves from."),
        amount: str = typer.Option(..., help="Amount in major units, e.g. 1250.00."),
        currency: str = typer.Option("USD", help="ISO 4217 code."),
        decision: str = typer.Option(..., help="Id of the approved decision in the audit log.")
        ) -> None:
    """Reserve, send through the rail, and post (or void) one approved payment."""
    app = bootstrap()
    saga = app.payments.execute_payment(payment_id, payee_account=payee, source_account=source,
                                        amount=amount, currency=currency, decision_id=decision)
    console.print_json(json.dumps(saga_public(saga)))
    if saga.state.value != "completed":
        raise typer.Exit(1)


@payments_cli.command("resume")
@reports_errors
def resume() -> None:
    """Finish or compensate every unfinished payment (also done by `finbot up`)."""
    app = bootstrap()
    for saga in app.payments.resume_all():
        console.print(f"{saga.id}: {saga.state.value}")


@payments_cli.command("show")
@reports_errors
def show(payment_id: str) -> None:
    """A payment's state and its step log."""
    app = bootstrap()
    console.print_json(json.dumps(saga_public(app.payments.get(payment_id))))
    for step in app.payments.history(payment_id):
        console.print(f"  {step.step:8} {step.status:8} {json.dumps(step.detail)}",
                      markup=False)
