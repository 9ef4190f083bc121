"""FinBot's settings: one typed class read from ``FINBOT_*`` variables or a ``.env`` file.

Nothing here runs at import time; ``Settings()`` is built by the entrypoints and handed
to ``bootstrap``. Outside development and test a placeholder secret is refused.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from limits import parse, parse_many
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from finbot.domain.errors import ConfigurationError

PLACEHOLDER_SECRET = "change-me"  # noqa: S105 (the value production refuses)
_DEV_ENVIRONMENTS = ("development", "test")
CONFIG_FILE = "finbot.yaml"
Gullibility = Literal["none", "low", "medium", "high"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class ModelSettings(BaseModel):
    """One provider and model for an agent, as written in the config file's ``agents``."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["offline", "openai-compatible"] = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key: SecretStr | None = None
    api_key_env: str | None = Field(
        default=None, description="Name of an environment variable holding the key "
                                  "(keeps keys out of the file)")
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    gullibility: Gullibility | None = None
    input_usd_per_million_tokens: Decimal = Decimal("0")
    output_usd_per_million_tokens: Decimal = Decimal("0")

    def key(self) -> str | None:
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class AgentModels(ModelSettings):
    """An agent's model, and the models to fall back on, in order, when it is unavailable."""

    fallback: list[ModelSettings] = Field(default_factory=list)


DEFAULT_RATE_LIMITS = {
    "default": "600/minute", "login": "10/minute;50/hour", "money": "60/minute",
    "chat": "20/minute", "upload": "30/minute",
}
"""Route classes and their limits (each per client address and, when signed in, per
user); login is the strictest, money and chat stricter than the rest."""

DEFAULT_RETENTION_DAYS: dict[str, float | None] = {
    "conversations": 365, "agent_notes": 730, "llm_records": 2, "idempotency_keys": 0,
    "sessions": 0, "arena_tool_logs": 30,
}
"""How many days each data class is kept (past expiry, for keys and sessions); None keeps
it for good. The ledger and the decision log are append-only and never purged."""

DEFAULT_BURST = "20/minute"
"""Money requests by one vendor user that make a burst: a fraud signal, not a refusal."""


SECRET_SETTINGS = ("secret_key", "database_url", "redis_url", "llm_api_key", "metrics_token",
                   "kek_previous")
"""Settings that may come from a file: FINBOT_<NAME>_FILE, or FINBOT_SECRETS_DIR
(FINBOT_KEK_FILE is a setting of its own: ``kek_file``)."""


class _SecretFiles(PydanticBaseSettingsSource):
    """``FINBOT_<NAME>_FILE=path``: the setting is that file's content, trailing newline
    dropped (container secrets, e.g. /run/secrets/...), for the settings that hold
    secrets. Setting both the variable and its _FILE twin is refused."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            variable = f"FINBOT_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if variable in os.environ:
                raise ConfigurationError(f"set {variable} or {variable}_FILE, not both",
                                         field=name)
            try:
                values[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as error:
                raise ConfigurationError(f"{variable}_FILE={path} cannot be read: "
                                         f"{error.strerror}", field=name) from None
        return values


class Settings(BaseSettings):
    """Every setting FinBot reads; see docs/configuration.md for each one."""

    model_config = SettingsConfigDict(env_prefix="FINBOT_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: a SQLite file in data_dir")
    redis_url: str | None = Field(default=None, description="Redis for production events")
    events_prefix: str = Field(default="finbot:events:", min_length=1, max_length=64,
                               description="Key prefix of the event streams in Redis")
    postgres_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        description="Server used by benchmarks and tests to create scratch databases")
    events_retention_days: float = Field(
        default=7, gt=0, description="How long events stay in the outbox and streams "
                                     "before they are archived to files")
    events_archive_dir: Path | None = Field(
        default=None, description="Where trimmed events are archived; default: "
                                  "<data_dir>/archive")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    llm_provider: Literal["offline", "openai-compatible"] = "offline"
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint, e.g. "
                                  "http://127.0.0.1:11434/v1 for Ollama")
    llm_api_key: SecretStr | None = None
    llm_model: str | None = Field(default=None, description="Model name at the endpoint")
    llm_timeout_s: float = Field(default=120.0, gt=0, description="Per model call; small "
                                 "local models on a laptop CPU need it generous")
    llm_max_retries: int = Field(default=3, ge=0, le=10)
    llm_gullibility: Gullibility = Field(
        default="medium", description="How easily the offline model follows instructions "
                                      "hidden in content (none, low, medium, high)")
    llm_fallback_offline: bool = Field(
        default=False, description="Fall back to the offline model when the configured "
                                   "provider is unavailable")
    agents: dict[str, AgentModels] = Field(
        default_factory=dict, description="Per-agent model overrides (config file only)")

    session_ttl_s: int = Field(default=12 * 3600, ge=60, le=30 * 24 * 3600,
                               description="How long a signed-in browser session lives")
    cookie_secure: bool = Field(
        default=False, description="Mark the session cookie Secure (serve over HTTPS); "
        "always on in production")
    home_tenant: str = Field(default="default", min_length=1, max_length=64,
                             description="The tenant that runs this deployment's ledger")
    log_level: LogLevel = Field(default="info", description="The least severe log lines "
                                "written (debug, info, warning, error, critical)")
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="Log lines as JSON (default) or, for a person at a "
        "terminal, console text (the default in development)")
    otlp_endpoint: str | None = Field(
        default=None, description="An OpenTelemetry collector's OTLP/HTTP base URL (e.g. "
        "http://127.0.0.1:4318) to export traces to; unset (and no OTEL_EXPORTER_OTLP_"
        "ENDPOINT), tracing is off and costs nothing")
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token a Prometheus scraper sends to read "
        "/metrics; without it only the home tenant's signed-in staff may")
    rate_limits: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="Per route class: limits per client address and per user, in the "
        "`limits` notation ('10/minute;100/hour')")
    money_burst: str = Field(
        default=DEFAULT_BURST, description="Money requests by one vendor user in a window "
        "above which the vendor's invoices are escalated for 24 hours as a fraud signal "
        "(`limits` notation, e.g. '20/minute'); below the hard `money` rate limit")
    database_pool_size: int = Field(
        default=20, ge=1, le=500, description="Database connections a process keeps open; "
        "the web server also runs at most this many requests' blocking work at once, so a "
        "request never waits for (or opens) a connection")
    challenger_rolling_window: int = Field(
        default=50, ge=1, le=10_000, description="How many of a canary's latest compared "
        "steps its rolling agreement is measured over")
    challenger_rolling_min: int = Field(
        default=20, ge=1, le=10_000, description="How many compared steps a canary needs "
        "before a low rolling agreement rolls it back")
    webhook_allow_private: bool = Field(
        default=False, description="Let outbound webhooks (guardrail webhooks) reach "
        "loopback and private addresses: only for a lab whose services run beside FinBot")
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, ge=1024,
                                  description="The largest document an upload may carry")
    idempotency_ttl_s: int = Field(default=24 * 3600, gt=0)
    pending_timeout_s: int = Field(default=3600, gt=0,
                                   description="How long a payment reservation lives")
    rail_latency_ms: float = Field(default=0.0, ge=0)
    rail_failure_rate: float = Field(default=0.0, ge=0, le=1)
    rail_timeout_rate: float = Field(default=0.0, ge=0, le=1)
    rail_unknown_rate: float = Field(default=0.0, ge=0, le=1)
    rail_seed: int | None = None
    kek: SecretStr | None = Field(
        default=None, description="The key-encryption key(s) wrapping vendors' data keys: "
        "VERSION:BASE64 (32 bytes), the highest version current; outside development this "
        "or kek_file is required")
    kek_file: Path | None = Field(
        default=None, description="A file holding the KEK entries (a container secret)")
    kek_previous: SecretStr | None = Field(
        default=None, description="Older KEK entries still read during a rotation")
    retention_days: dict[str, float | None] = Field(
        default_factory=lambda: dict(DEFAULT_RETENTION_DAYS),
        description="Days each data class is kept (see DEFAULT_RETENTION_DAYS)")
    payment_source_account: str = Field(
        default="company:bank", min_length=1, max_length=128,
        description="The ledger account approved escalations are paid from")

    @classmethod
    def settings_customise_sources(
            cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment and .env, then the YAML config file
        (FINBOT_CONFIG_FILE, default ./finbot.yaml when it exists)."""
        path = Path(os.environ.get("FINBOT_CONFIG_FILE", CONFIG_FILE))
        if "FINBOT_CONFIG_FILE" in os.environ and not path.is_file():
            raise ConfigurationError(f"FINBOT_CONFIG_FILE={path} does not exist",
                                     field="config_file")
        yaml = YamlConfigSettingsSource(settings_cls, yaml_file=path if path.is_file() else None)
        secrets_dir = os.environ.get("FINBOT_SECRETS_DIR")
        if secrets_dir is not None and not Path(secrets_dir).is_dir():
            raise ConfigurationError(f"FINBOT_SECRETS_DIR={secrets_dir} is not a directory",
                                     field="secrets_dir")
        secrets = (SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir)
                   if secrets_dir else file_secret_settings)
        return (init_settings, env_settings, _SecretFiles(settings_cls), dotenv_settings, yaml,
                secrets)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if self.environment not in _DEV_ENVIRONMENTS and (
                secret == PLACEHOLDER_SECRET or len(secret) < 32):
            raise ConfigurationError(
                "FINBOT_SECRET_KEY must be set to a random value of at least 32 characters "
                f"when FINBOT_ENVIRONMENT={self.environment}", field="secret_key")
        return self

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @field_validator("money_burst")
    @classmethod
    def _one_limit(cls, text: str) -> str:
        try:
            parse(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a limit such as '20/minute'") from None
        return text

    @field_validator("rate_limits")
    @classmethod
    def _limits(cls, limits: dict[str, str]) -> dict[str, str]:
        for kind, text in limits.items():
            try:
                parse_many(text)
            except ValueError:
                raise ValueError(f"rate limit {kind}: {text!r} is not in the limits "
                                 "notation, e.g. '10/minute;100/hour'") from None
        return limits

    @field_validator("retention_days")
    @classmethod
    def _known_classes(cls, days: dict[str, float | None]) -> dict[str, float | None]:
        unknown = set(days) - set(DEFAULT_RETENTION_DAYS)
        if unknown:
            raise ValueError(f"unknown data classes {sorted(unknown)}; known: "
                             f"{', '.join(DEFAULT_RETENTION_DAYS)}")
        if any(d is not None and d < 0 for d in days.values()):
            raise ValueError("retention is zero or more days (or null: kept for good)")
        return {**DEFAULT_RETENTION_DAYS, **days}

    @property
    def models_dir(self) -> Path:
        """Where the fraud model registry keeps its versions."""
        return self.data_dir / "models"

    @property
    def effective_log_format(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if self.environment == "development" else "json"

    @property
    def archive_dir(self) -> Path:
        return self.events_archive_dir or self.data_dir / "archive"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'finbot.db').as_posix()}"
