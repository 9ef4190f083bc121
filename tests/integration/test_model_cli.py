"""``finbot model``: train reproducibly into the registry, evaluate, print the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finbot.entrypoints.cli.app import cli

runner = CliRunner()
SMALL = ["--vendors", "60", "--invoices", "1500", "--fraud-rate", "0.04"]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FINBOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FINBOT_ENVIRONMENT", "test")
    return tmp_path


def _train(*extra: str) -> dict[str, object]:
    result = runner.invoke(cli, ["model", "train", *SMALL, "--json", *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_training_twice_with_one_seed_registers_one_version(data_dir: Path) -> None:
    first, second = _train("--seed", "3"), _train("--seed", "3")
    assert first["version"] == second["version"]
    assert first["model_hash"] == second["model_hash"]
    assert first["data_hash"] == second["data_hash"]
    assert _train("--seed", "4")["model_hash"] != first["model_hash"]
    listed = runner.invoke(cli, ["model", "list"])
    assert listed.stdout.count("fraud-") == 2


def test_a_version_is_evaluated_on_fresh_data_by_segment(data_dir: Path) -> None:
    version = str(_train()["version"])
    result = runner.invoke(cli, ["model", "evaluate", version, *SMALL, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["version"] == version
    assert report["roc_auc"] > 0.8
    assert report["by_country"]
    assert report["by_vendor_size"]


def test_the_card_names_the_data_hash_and_metrics_by_segment(data_dir: Path) -> None:
    trained = _train()
    card = runner.invoke(cli, ["model", "card", str(trained["version"])])
    assert card.exit_code == 0, card.output
    assert str(trained["data_hash"]) in card.stdout
    assert "vendor_size=small" in card.stdout
    assert "Known failure modes" in card.stdout


def test_an_unknown_version_is_a_clear_error(data_dir: Path) -> None:
    result = runner.invoke(cli, ["model", "card", "fraud-000000000000"])
    assert result.exit_code == 2
    assert "model_unknown" in result.output
