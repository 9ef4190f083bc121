"""``finbot simulate`` drives every workflow headless and its summary adds up."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from finbot.bootstrap import bootstrap
from finbot.config import Settings
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.workers import settled, stream_backlog
from tests.conftest import REDIS_URL


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


@pytest.mark.redis
@pytest.mark.usefixtures("env")
def test_a_simulation_in_production_wiring_relays_and_settles(
        redis_prefix: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    client, prefix = redis_prefix
    monkeypatch.setenv("FINBOT_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("FINBOT_EVENTS_PREFIX", prefix)
    result = CliRunner().invoke(cli, ["simulate", "--vendors", "3", "--invoices", "9",
                                      "--fraud-rate", "0", "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["ledger_verified"] is True
    assert summary["audit_verified"] is True
    assert summary["paid"] == summary["legitimate_paid"] > 0
    app = bootstrap(Settings())  # the same environment: the run left nothing behind
    try:
        with app.uow() as uow:
            assert uow.outbox.stats()["unrelayed"] == 0
        assert client.xlen(f"{prefix}business") > 0  # it went through the streams
        assert settled(app)
        assert not any(stream_backlog(app).values())
    finally:
        app.close()
