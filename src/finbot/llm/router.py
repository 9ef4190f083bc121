"""Which model each agent talks to: a provider chain per agent, with fallback.

The defaults come from FINBOT_LLM_*; the config file may give an agent its own provider,
model and fallbacks. Each chain is built once, when the router is made, so a missing key
or model name fails at start-up with the setting to fix, not at the first invoice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import httpx2

from finbot.domain.errors import ModelUnavailable, NotFound
from finbot.llm.context import Price
from finbot.llm.messages import ModelRequest, ModelResponse
from finbot.llm.model import Model, StreamItem
from finbot.llm.offline import Gullibility, OfflineModel
from finbot.llm.openai_compatible import OpenAICompatibleModel

Provider = Literal["offline", "openai-compatible"]


@dataclass(frozen=True)
class ModelChoice:
    """One provider and model, with how to reach it."""

    provider: Provider = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 120.0
    max_retries: int = 3
    gullibility: Gullibility = Gullibility.MEDIUM
    price: Price = field(default_factory=Price)

    def build(self, *, transport: httpx2.BaseTransport | None = None) -> Model:
        if self.provider == "offline":
            return OfflineModel(gullibility=self.gullibility)
        return OpenAICompatibleModel(model=self.model, base_url=self.base_url,
                                     api_key=self.api_key, timeout_s=self.timeout_s,
                                     max_retries=self.max_retries, transport=transport)


class FallbackModel(Model):
    """Tries each model in turn while they are unavailable; the last error if all are."""

    def __init__(self, models: Sequence[Model]) -> None:
        if not models:
            raise ValueError("a fallback chain needs at least one model")
        self.models = list(models)
        self.name = self.models[0].name

    def request(self, request: ModelRequest) -> ModelResponse:
        failure: ModelUnavailable | None = None
        for model in self.models:
            try:
                return model.request(request)
            except ModelUnavailable as error:
                failure = error
        assert failure is not None
        raise failure

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        """Falls back only before the first word: a half-streamed answer is not retried."""
        failure: ModelUnavailable | None = None
        for model in self.models:
            started = False
            try:
                for item in model.stream(request):
                    started = True
                    yield item
                return
            except ModelUnavailable as error:
                if started:
                    raise
                failure = error
        assert failure is not None
        raise failure


class ModelRouter:
    """Builds and hands out each agent's model chain."""

    def __init__(self, default: Sequence[ModelChoice],
                 per_agent: Mapping[str, Sequence[ModelChoice]] | None = None, *,
                 transport: httpx2.BaseTransport | None = None) -> None:
        self._prices: dict[str, Price] = {}
        self._named: dict[str, Model] = {}
        self._transport = transport
        self._default = self._chain(default)
        self._per_agent = {agent: self._chain(chain)
                           for agent, chain in (per_agent or {}).items()}

    def model_for(self, agent_id: str) -> Model:
        return self._per_agent.get(agent_id, self._default)

    def named(self, name: str) -> Model:
        """The configured model called ``name`` (a challenger's); NotFound naming the
        known ones."""
        model = self._named.get(name)
        if model is None:
            raise NotFound(f"no model {name!r} among the router's choices; known: "
                           f"{', '.join(self.names())}", code="model_unknown", field="model")
        return model

    def names(self) -> list[str]:
        """Every model name the configured chains hold (fallbacks included)."""
        return sorted(self._named)

    def price_of(self, model: Model) -> Price:
        """What the first model of a chain charges (fallbacks are priced as the first)."""
        return self._prices.get(model.name, Price())

    def _chain(self, choices: Sequence[ModelChoice]) -> Model:
        models = [choice.build(transport=self._transport) for choice in choices]
        for choice, model in zip(choices, models, strict=True):
            self._prices.setdefault(model.name, choice.price)
            self._named.setdefault(model.name, model)
        return models[0] if len(models) == 1 else FallbackModel(models)
