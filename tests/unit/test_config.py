"""Settings come from FINBOT_* variables; production refuses a placeholder secret."""

from __future__ import annotations

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
