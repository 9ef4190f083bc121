"""The CLI and the web app over a real database: seed, inspect, verify, serve."""

from __future__ import annotations

from typing import Any

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.config import Settings
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.web.app import create_web_app, operator_token
from finbot.services.demo import seed_demo
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


def test_the_overview_and_json_routes_answer_loopback_operators(app: App) -> None:
    seed_demo(app.ledger, vendors=2, invoices_per_vendor=2)
    client = TestClient(create_web_app(app), client=("127.0.0.1", 5000))
    assert client.get("/").status_code == 401  # test environment: token required
    auth = {"Authorization": f"Bearer {operator_token(app)}"}
    page = client.get("/", headers=auth)
    assert page.status_code == 200
    assert "company:bank" in page.text
    assert client.get("/api/ledger/accounts/company:bank", headers=auth).json()["type"] == "asset"
    assert client.get("/api/ledger/accounts/nope", headers=auth).json()["code"] == "not_found"
    transfers = client.get("/api/ledger/transfers?limit=2", headers=auth).json()
    assert len(transfers["transfers"]) == 2
    assert transfers["next"] is not None


def test_the_operator_token_is_printed_only_on_request(env: None, app: App) -> None:
    result = runner.invoke(cli, ["operator-token"])
    assert result.exit_code == 0
    token = result.output.strip()
    client = TestClient(create_web_app(app), client=("127.0.0.1", 5000))
    assert client.get("/api/ledger/accounts",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_the_development_server_refuses_remote_clients(app: App, settings: Settings) -> None:
    app.settings = settings.model_copy(update={"environment": "development"})
    assert TestClient(create_web_app(app), client=("10.1.2.3", 5000)).get("/").status_code == 403
    assert TestClient(create_web_app(app), client=("127.0.0.1", 5000)).get("/").status_code == 200


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
