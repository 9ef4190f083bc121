"""The CLI and the web app over a real database: seed, inspect, verify, serve."""

from __future__ import annotations

from typing import Any

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.entrypoints.cli.app import cli
from finbot.services.demo import seed_demo
from tests.api_kit import add_user, sign_in, web_app
from tests.approvals import approve

runner = CliRunner()


def test_demo_seed_is_idempotent_and_the_ledger_verifies(env: None) -> None:
    first = runner.invoke(cli, ["demo", "seed", "--vendors", "3"])
    assert first.exit_code == 0, first.output
    again = runner.invoke(cli, ["demo", "seed", "--vendors", "3"])
    assert "0 new transfers" in again.output
    verify = runner.invoke(cli, ["ledger", "verify"])
    assert verify.exit_code == 0
    assert "ledger verifies" in verify.output
    accounts = runner.invoke(cli, ["ledger", "accounts", "--json"])
    assert "vendor:003:payable:USD" in accounts.output


def test_an_unknown_account_is_a_clear_error_with_exit_status_2(env: None) -> None:
    result = runner.invoke(cli, ["ledger", "balance", "nope"])
    assert result.exit_code == 2
    assert "error[not_found]" in result.output


def test_a_bad_time_is_a_clear_error(env: None) -> None:
    runner.invoke(cli, ["demo", "seed", "--vendors", "1"])
    result = runner.invoke(cli, ["ledger", "balance", "company:bank", "--at", "yesterday"])
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def _command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command path under a click-style group, found by walking it."""
    paths = []
    for name, command in group.commands.items():
        paths.append([*prefix, name])
        if hasattr(command, "commands"):
            paths.extend(_command_paths(command, (*prefix, name)))
    return paths


def test_every_command_has_help() -> None:
    paths = _command_paths(typer.main.get_command(cli))
    assert ["review", "approve"] in paths
    assert ["audit", "verify"] in paths
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Usage" in result.output


def test_ledger_routes_answer_staff_with_cursor_pages(app: App) -> None:
    seed_demo(app.ledger, vendors=2, invoices_per_vendor=2)
    web = web_app(app)
    anonymous = TestClient(web)
    assert anonymous.get("/api/ledger/accounts").status_code == 401
    client = sign_in(web, add_user(app, "aude@finbot.example", "auditor"))
    assert client.get("/api/ledger/accounts/company:bank").json()["type"] == "asset"
    assert client.get("/api/ledger/accounts/nope").json()["code"] == "not_found"
    transfers = client.get("/api/ledger/transfers?limit=2").json()
    assert len(transfers["items"]) == 2
    after = client.get(f"/api/ledger/transfers?limit=2&cursor={transfers['next_cursor']}")
    assert after.json()["items"][0]["seq"] > transfers["items"][-1]["seq"]


def test_a_payment_through_the_cli_completes_and_the_ledger_verifies(env: None,
                                                                   app: App) -> None:
    runner.invoke(cli, ["demo", "seed", "--vendors", "1"])
    approve(app, "d-1", payee="vendor:001:payable:USD", amount="10.00")
    approve(app, "d-2", payee="vendor:001:payable:USD", amount="99999999", limit="999999999")
    paid = runner.invoke(cli, ["payments", "pay", "p-1", "--payee", "vendor:001:payable:USD",
                               "--amount", "10.00", "--decision", "d-1"])
    assert paid.exit_code == 0, paid.output
    assert '"completed"' in paid.output
    refused = runner.invoke(cli, ["payments", "pay", "p-2", "--payee", "vendor:001:payable:USD",
                                  "--amount", "99999999", "--decision", "d-2"])
    assert refused.exit_code == 1
    assert "exceeds_credits" in refused.output
    assert runner.invoke(cli, ["ledger", "verify"]).exit_code == 0


def test_background_rounds_expire_reservations_and_checkpoint_the_audit_chain(app: App) -> None:
    from finbot.entrypoints.workers import CHECKPOINT_EVERY, background_round

    app.audit.append("note", "n-1", {"text": "started"})
    background_round(app, 1)
    with app.uow() as uow:
        assert uow.audit.checkpoints() == []
    background_round(app, CHECKPOINT_EVERY)
    with app.uow() as uow:
        assert [size for size, _, _ in uow.audit.checkpoints()] == [1]
    assert app.audit.verify() == []
