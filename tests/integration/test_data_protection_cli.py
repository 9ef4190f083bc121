"""The data-protection commands over a real database: keys status and rotate, a vendor's
erasure, and a retention run, each with the summary an operator reads."""

from __future__ import annotations

import base64
import json

import pytest
from typer.testing import CliRunner

from finbot.bootstrap import bootstrap
from finbot.entrypoints.cli.app import cli
from tests.workflow_kit import clean_vendor

runner = CliRunner()
OLD, NEW = (f"{n}:{base64.b64encode(bytes([n]) * 32).decode()}" for n in (1, 2))


@pytest.mark.parametrize("command", [["keys", "--help"], ["keys", "rotate", "--help"],
                                     ["vendors", "erase", "--help"],
                                     ["retention", "run", "--help"]])
def test_the_commands_explain_themselves(command: list[str]) -> None:
    result = runner.invoke(cli, command)
    assert result.exit_code == 0, result.output


def test_keys_rotate_rewraps_onto_the_new_kek_and_status_counts_them(
        env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_KEK", OLD)
    app = bootstrap()
    for vendor_id in ("v-1", "v-2", "v-3"):
        app.vendor_work.register_vendor(clean_vendor(vendor_id))
    app.close()
    monkeypatch.setenv("FINBOT_KEK", NEW)
    monkeypatch.setenv("FINBOT_KEK_PREVIOUS", OLD)
    before = json.loads(runner.invoke(cli, ["keys", "status", "--json"]).output)
    assert before["per_kek"] == {"kek-1": 3}
    assert before["current"] == 2
    rotated = runner.invoke(cli, ["keys", "rotate", "--data-keys", "--batch", "2", "--json"])
    assert rotated.exit_code == 0, rotated.output
    assert json.loads(rotated.output) == {"kek_version": 2, "rewrapped": 3,
                                          "fresh_data_keys": True, "remaining": 0}
    monkeypatch.delenv("FINBOT_KEK_PREVIOUS")
    after = runner.invoke(cli, ["keys", "status"])
    assert after.exit_code == 0, after.output
    assert "live" in after.output


def test_production_refuses_to_start_without_a_kek(env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "production")
    monkeypatch.setenv("FINBOT_SECRET_KEY", "s" * 40)
    result = runner.invoke(cli, ["keys", "status"])
    assert result.exit_code == 2
    assert "FINBOT_KEK" in result.output


def test_vendors_erase_shreds_the_vendor_and_says_when(env: None) -> None:
    app = bootstrap()
    app.vendor_work.register_vendor(clean_vendor("v-gone"))
    app.close()
    result = runner.invoke(cli, ["vendors", "erase", "v-gone", "--yes", "--by", "dpo"])
    assert result.exit_code == 0, result.output
    assert "erased vendor v-gone" in result.output
    again = runner.invoke(cli, ["vendors", "erase", "v-gone", "--yes"])
    assert again.exit_code == 2
    assert "error[vendor_erased]" in again.output
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 0
    assert runner.invoke(cli, ["ledger", "verify"]).exit_code == 0


def test_retention_run_reports_each_class(env: None) -> None:
    dry = runner.invoke(cli, ["retention", "run", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert report["dry_run"] is True
    assert {c["name"] for c in report["classes"]} >= {"conversations", "llm_records",
                                                       "idempotency_keys"}
    table = runner.invoke(cli, ["retention", "run"])
    assert table.exit_code == 0, table.output
    assert "conversations" in table.output
