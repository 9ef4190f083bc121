"""``finbot ledger …``: look at accounts, balances and transfers, and verify the books."""

from __future__ import annotations

import json
from datetime import datetime

import typer
from rich.table import Table

from finbot.bootstrap import App, bootstrap
from finbot.domain.errors import InvalidInput
from finbot.domain.money import Currency, Money
from finbot.entrypoints.cli.common import console, errors, reports_errors

ledger_cli = typer.Typer(help="Inspect and verify the ledger.", no_args_is_help=True)


def _app() -> App:
    return bootstrap()


def _fmt(minor: int, currency: str) -> str:
    return str(Money(minor, Currency.of(currency)))


@ledger_cli.command("accounts")
@reports_errors
def accounts(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every account with its posted and reserved balances."""
    app = _app()
    rows = app.queries.accounts()
    if as_json:
        console.print_json(json.dumps([{"code": a.code, "type": a.type.value,
                                        "currency": a.currency, "balance_minor": a.balance()}
                                       for a in rows]))
        return
    table = Table("code", "name", "type", "posted balance", "reserved")
    for a in rows:
        reserved = a.balances.debits_pending + a.balances.credits_pending
        table.add_row(a.code, a.name, a.type.value, _fmt(a.balance(), a.currency),
                      _fmt(reserved, a.currency))
    console.print(table)


@ledger_cli.command("balance")
@reports_errors
def balance(code: str = typer.Argument(..., help="Account code."),
            at: str = typer.Option(None, help="ISO 8601 time: the posted balance back then.")
            ) -> None:
    """Show an account's balance now (posted and with reservations) or at a past moment."""
    app = _app()
    account = app.queries.account(code)
    if at is not None:
        moment = _parse_time(at)
        value = app.queries.posted_balance_at(account, moment)
        console.print(f"{code} posted balance at {at}: {_fmt(value, account.currency)}")
        return
    console.print(f"{code} posted: {_fmt(account.balance(), account.currency)}; "
                  f"including reservations: "
                  f"{_fmt(account.balance(posted_only=False), account.currency)}")


def _parse_time(value: str) -> int:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 time", field="at") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1_000_000)


@ledger_cli.command("transfers")
@reports_errors
def transfers(account: str = typer.Option(None, help="Only this account's transfers."),
              after: int = typer.Option(0, min=0, help="Cursor: show transfers after this seq."),
              limit: int = typer.Option(50, min=1, max=10_000)) -> None:
    """List transfers in commit order."""
    app = _app()
    chosen = app.queries.account(account) if account else None
    names = {a.id: a.code for a in app.queries.accounts()}
    table = Table("seq", "id", "kind", "debit", "credit", "amount", "reference")
    for t in app.queries.history(chosen, after_seq=after, limit=limit):
        table.add_row(str(t.seq), t.id, t.kind.value, names[t.debit_account_id],
                      names[t.credit_account_id], _fmt(t.amount, t.currency), t.reference or "")
    console.print(table)


@ledger_cli.command("verify")
@reports_errors
def verify() -> None:
    """Recompute every balance from postings, check zero-sum and history; exit 1 if wrong."""
    app = _app()
    problems = app.queries.verify()
    first = next(problems, None)
    if first is None:
        console.print("[green]ledger verifies[/green]: balances match postings, every "
                      "currency sums to zero, history is intact")
        return
    errors.print(f"[red]ledger inconsistent[/red] — first problem: {first.message}")
    for problem in problems:
        errors.print(f"  also: {problem.message}")
    raise typer.Exit(1)


@ledger_cli.command("expire")
@reports_errors
def expire() -> None:
    """Release every reservation past its timeout (the background worker does this too)."""
    app = _app()
    console.print(f"{app.ledger.expire_pending()} reservations expired")
