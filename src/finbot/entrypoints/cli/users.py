"""``finbot users …``: people and machine clients, their roles and API tokens."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.clock import utc_datetime
from finbot.domain.errors import InvalidInput
from finbot.domain.users import Role
from finbot.entrypoints.cli.common import console, reports_errors

users_cli = typer.Typer(help="Users, their roles and their API tokens.", no_args_is_help=True)

_ROLES = ", ".join(role.value for role in Role)


@users_cli.command("add")
@reports_errors
def add(email: str = typer.Argument(..., help="The user's email address (their sign-in)."),
        role: list[str] = typer.Option(..., "--role", help=f"A role ({_ROLES}); repeat "
                                                            "for several."),
        vendor: list[str] = typer.Option([], "--vendor", help="A vendor id a vendor user "
                                                               "acts for; repeat for several."),
        tenant: str = typer.Option("default", help="The tenant the user belongs to."),
        name: str = typer.Option("", help="Display name (default: the address's name)."),
        password_stdin: bool = typer.Option(False, "--password-stdin",
                                            help="Read the password from standard input "
                                                 "(for scripts) instead of prompting.")
        ) -> None:
    """Add a user who signs in with EMAIL and a password (12 characters or more)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    app = bootstrap()
    try:
        user = app.auth.create_user(email, password, roles=role, vendors=vendor,
                                    tenant=tenant, display_name=name)
    finally:
        app.close()
    roles = ", ".join(sorted(r.value for r in user.roles))
    console.print(f"added {user.email} ({user.user_id}) as {roles}", highlight=False)


@users_cli.command("list")
@reports_errors
def list_users(tenant: str = typer.Option(None, help="Only this tenant's users."),
               as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every user with their roles, tenant, vendors and whether they are disabled."""
    app = bootstrap()
    try:
        users = app.auth.users(tenant=tenant)
    finally:
        app.close()
    rows: list[dict[str, Any]] = [{"user_id": u.user_id, "email": u.email, "name": u.display_name,
             "roles": sorted(r.value for r in u.roles), "tenant": u.tenant,
             "vendors": sorted(u.vendors), "disabled": u.disabled,
             "created_at": utc_datetime(u.created_at_us).isoformat()} for u in users]
    if as_json:
        print(json.dumps(rows))
        return
    table = Table("email", "roles", "tenant", "vendors", "disabled")
    for row in rows:
        table.add_row(row["email"], ", ".join(row["roles"]), row["tenant"],
                      ", ".join(row["vendors"]), "yes" if row["disabled"] else "")
    console.print(table if rows else "no users yet: add one with `finbot users add`")


@users_cli.command("disable")
@reports_errors
def disable(email: str = typer.Argument(..., help="The user's email address.")) -> None:
    """Stop a user signing in; their sessions end and their API tokens stop working."""
    _set_disabled(email, True)


@users_cli.command("enable")
@reports_errors
def enable(email: str = typer.Argument(..., help="The user's email address.")) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(email, False)


def _set_disabled(email: str, disabled: bool) -> None:
    app = bootstrap()
    try:
        user = app.auth.set_disabled(email, disabled)
    finally:
        app.close()
    console.print(f"{user.email} {'disabled' if disabled else 'enabled'}", highlight=False)


@users_cli.command("token")
@reports_errors
def token(email: str = typer.Argument(..., help="The user the token acts as."),
          name: str = typer.Option(..., help="What the token is for, e.g. 'erp sync'."),
          ttl_days: int = typer.Option(90, "--ttl-days", help="Days until it expires; 0 "
                                                              "for never.")) -> None:
    """Issue an API token for a machine client (sent as `Authorization: Bearer TOKEN`).
    It is printed once and stored only as a hash: keep it somewhere safe."""
    if ttl_days < 0:
        raise InvalidInput("--ttl-days is 0 (never expires) or more", field="ttl_days")
    app = bootstrap()
    try:
        issued = app.auth.issue_token(email, name, ttl_days=ttl_days or None)
    finally:
        app.close()
    print(issued)


@users_cli.command("revoke-token")
@reports_errors
def revoke_token(token_id: str = typer.Argument(..., help="The id in the token "
                                                          "(fbt_<id>_...).")) -> None:
    """Revoke an API token at once."""
    app = bootstrap()
    try:
        app.auth.revoke_token(token_id)
    finally:
        app.close()
    console.print(f"token {token_id} revoked", highlight=False)
