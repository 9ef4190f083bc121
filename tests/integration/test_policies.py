"""Policies are versioned data: publishing a change adds a version, never edits one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from finbot.bootstrap import App
from finbot.domain.errors import InvalidInput, NotFound
from finbot.entrypoints.cli.app import cli
from finbot.entrypoints.cli.policy import load_policy_file


def test_publishing_a_change_adds_a_version_and_keeps_the_old_one(app: App) -> None:
    with pytest.raises(NotFound):
        app.policies.current()
    first = app.policies.publish(load_policy_file(None))
    assert first.version == "v1"
    again = app.policies.publish(load_policy_file(None))
    assert again.version == "v1"
    changed = load_policy_file(None)
    changed["hard"]["max_single_payment"] = "5000.00"
    second = app.policies.publish(changed)
    assert second.version == "v2"
    assert str(app.policies.current().hard.max_single_payment) == "5000.00"
    assert str(app.policies.get("v1").hard.max_single_payment) == "25000.00"
    with app.uow() as uow:
        assert uow.audit.by_id("policy:v2") is not None
    assert app.audit.verify() == []


def test_the_database_refuses_to_edit_a_policy(app: App) -> None:
    app.policies.publish(load_policy_file(None))
    with pytest.raises(Exception, match="append-only"), app.engine.begin() as conn:
        conn.execute(text("UPDATE policies SET body = '{}'"))


def test_a_bad_policy_file_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("hard: [not, a, mapping")
    with pytest.raises(InvalidInput):
        load_policy_file(bad)
    bad.write_text("- just a list\n")
    with pytest.raises(InvalidInput):
        load_policy_file(bad)


def test_the_cli_publishes_and_shows_policies(app: App, database_url: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "test")
    runner = CliRunner()
    published = runner.invoke(cli, ["policy", "publish"])
    assert published.exit_code == 0, published.output
    assert "v1" in published.output
    shown = runner.invoke(cli, ["policy", "show"])
    assert shown.exit_code == 0
    assert "25000.00" in shown.output
    assert '"base_currency": "USD"' in shown.output
    assert '"EUR": {' in shown.output
    assert "23000.00" in shown.output
    typo = tmp_path / "typo.yaml"
    typo.write_text("hard:\n  max_singel_payment: '1'\n")
    refused = runner.invoke(cli, ["policy", "publish", str(typo)])
    assert refused.exit_code == 2
    assert "max_singel_payment" in refused.output
