"""``finbot model``: train reproducibly into the registry, evaluate, print the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finbot.agents import fraud
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


def test_every_agent_version_has_a_card_kept_with_the_registry(data_dir: Path) -> None:
    """The cards are written from the specs and tools that run: each names the prompt's
    digest every decision records, the tools, the checks an approval rests on and the full
    prompt; printing one keeps it under models/agents/ by version and prompt digest."""
    listed = runner.invoke(cli, ["model", "agent-card"])
    assert listed.exit_code == 0, listed.output
    keys = listed.stdout.split()
    assert {"onboarding-1", "invoice-2", "fraud-3", "payments-2",
            "communication-1-assistant"} <= set(keys)
    assert len({k.split("-")[0] for k in keys}) == 5  # the five agents
    shown = runner.invoke(cli, ["model", "agent-card", "fraud-3"])
    assert shown.exit_code == 0, shown.output
    assert fraud.SPEC.prompt_hash in shown.stdout
    assert "`fraud_assessment`" in shown.stdout
    assert "Checks the agent must have run: `fraud_assessment`" in shown.stdout
    assert fraud.PROMPT.strip().splitlines()[-1] in shown.stdout
    kept = data_dir / "models" / "agents" / "fraud" / f"fraud_3-{fraud.SPEC.prompt_hash[:12]}.md"
    assert kept.read_text(encoding="utf-8") in shown.stdout
    unknown = runner.invoke(cli, ["model", "agent-card", "fraud-99"])
    assert unknown.exit_code == 2  # FinBot's errors: one line, status 2
    assert "known:" in unknown.output
    every = runner.invoke(cli, ["model", "agent-card", "--all"])
    assert every.exit_code == 0
    assert every.stdout.count("# Agent card:") == len(keys)
