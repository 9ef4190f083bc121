"""Settings come from FINBOT_* variables; production refuses a placeholder secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from finbot.config import PLACEHOLDER_SECRET, Settings
from finbot.domain.errors import ConfigurationError


def test_settings_are_read_from_finbot_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_DATABASE_URL", "sqlite:///elsewhere.db")
    monkeypatch.setenv("FINBOT_PORT", "9123")
    settings = Settings(_env_file=None)
    assert settings.effective_database_url == "sqlite:///elsewhere.db"
    assert settings.port == 9123


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: object) -> None:
    settings = Settings(_env_file=None, data_dir="somewhere")
    assert settings.effective_database_url == "sqlite:///somewhere/finbot.db"


@pytest.mark.parametrize("secret", [PLACEHOLDER_SECRET, "short"])
def test_production_refuses_a_placeholder_or_short_secret(secret: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        Settings(_env_file=None, environment="production", secret_key=secret)
    assert error.value.field == "secret_key"


def test_production_accepts_a_real_secret() -> None:
    settings = Settings(_env_file=None, environment="production", secret_key="x" * 40)
    assert settings.environment == "production"


def test_development_runs_with_the_placeholder() -> None:
    assert Settings(_env_file=None).secret_key.get_secret_value() == PLACEHOLDER_SECRET


def test_secrets_come_from_files_as_containers_mount_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "secret_key"
    key.write_text("k" * 40 + "\n")
    monkeypatch.setenv("FINBOT_SECRET_KEY_FILE", str(key))
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "FINBOT_LLM_API_KEY").write_text("sk-from-a-secrets-dir\n")
    monkeypatch.setenv("FINBOT_SECRETS_DIR", str(tmp_path / "dir"))
    settings = Settings(_env_file=None, environment="production")
    assert settings.secret_key.get_secret_value() == "k" * 40
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-from-a-secrets-dir"


def test_a_secret_file_that_cannot_be_read_or_is_doubled_is_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigurationError) as unreadable:
        Settings(_env_file=None)
    assert "FINBOT_SECRET_KEY_FILE" in unreadable.value.message
    (tmp_path / "key").write_text("k" * 40)
    monkeypatch.setenv("FINBOT_SECRET_KEY_FILE", str(tmp_path / "key"))
    monkeypatch.setenv("FINBOT_SECRET_KEY", "k" * 40)
    with pytest.raises(ConfigurationError) as doubled:
        Settings(_env_file=None)
    assert "not both" in doubled.value.message
    monkeypatch.delenv("FINBOT_SECRET_KEY")
    monkeypatch.setenv("FINBOT_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigurationError, match="not a directory"):
        Settings(_env_file=None)
