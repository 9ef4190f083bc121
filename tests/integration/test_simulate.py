"""``finbot simulate`` drives every workflow headless and its summary adds up."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from finbot.entrypoints.cli.app import cli


@pytest.mark.usefixtures("env")
def test_a_small_simulation_pays_the_legitimate_and_catches_the_fraud() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--vendors", "4", "--invoices", "24",
                                      "--fraud-rate", "0.4", "--seed", "11", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["ledger_verified"] is True
    assert summary["audit_verified"] is True
    assert summary["failed_steps"] == 0
    assert summary["fraud_missed"] == 0
    assert summary["fraud_caught"] > 0
    assert summary["paid"] == summary["legitimate_paid"] > 0
    assert sum(summary["vendors"].values()) == 4
    assert sum(summary["invoices"].values()) >= 24
