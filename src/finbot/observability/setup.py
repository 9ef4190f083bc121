"""The one call an entry point makes (``finbot up``, ``web``, ``worker``, ``simulate``, and
each web worker process): logs and traces as the settings say."""

from __future__ import annotations

from pydantic import SecretStr

from finbot.config import Settings
from finbot.observability.logs import configure_logging
from finbot.observability.tracing import configure_tracing


def observe(settings: Settings, *, role: str) -> None:
    """Structured logs at FINBOT_LOG_LEVEL in FINBOT_LOG_FORMAT with the settings' secrets
    masked, and spans exported when an OTLP endpoint is configured; ``role`` names this
    process in its traces (``finbot-web``, ``finbot-worker-agents``)."""
    secrets = [value.get_secret_value() for name in type(settings).model_fields
               if isinstance(value := getattr(settings, name), SecretStr)]
    secrets += [key for models in settings.agents.values()
                for choice in (models, *models.fallback) if (key := choice.key())]
    configure_logging(level=settings.log_level, fmt=settings.effective_log_format,
                      secrets=secrets)
    configure_tracing(settings.otlp_endpoint, service=f"finbot-{role}")
