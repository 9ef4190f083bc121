"""What models FinBot decides with, for the staff who answer for it: the fraud model's
stored versions with their metrics and cards, the model and prompt each agent runs, and
each agent version's card, kept with the registry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finbot.agents import communication
from finbot.agents.cards import card
from finbot.agents.ports import AgentTools
from finbot.agents.runner import AgentSpec, Tool
from finbot.domain.errors import NotFound
from finbot.llm.router import ModelRouter
from finbot.services.orchestrator import DecidingAgent

if TYPE_CHECKING:
    from finbot.fraud.metadata import ModelInfo
    from finbot.fraud.registry import ModelRegistry


@dataclass(frozen=True)
class CardSource:
    """What an agent's card is written from: its spec, the tools it is offered and the
    workflow stage it decides (None: it answers)."""

    spec: AgentSpec[Any]
    tools: Sequence[Tool]
    stage: str | None = None


@dataclass(frozen=True)
class AgentModel:
    """One agent as configured in this process: its version, prompt digest and model."""

    agent_id: str
    version: str
    prompt_hash: str
    model: str


class ModelCatalogue:
    """Reads the fraud model registry and the agents' model configuration."""

    def __init__(self, models_dir: Path, router: ModelRouter,
                 agents: Sequence[AgentSpec[Any]], *,
                 cards: Sequence[CardSource] = ()) -> None:
        self._models_dir = models_dir
        self._router = router
        self._agents = agents
        self._cards = {_card_key(c.spec): c for c in cards}

    @property
    def _registry(self) -> ModelRegistry:
        from finbot.fraud.registry import ModelRegistry  # LightGBM: loaded on first use

        return ModelRegistry(self._models_dir)

    def fraud_models(self) -> list[ModelInfo]:
        """Every stored fraud model version, newest first."""
        registry = self._registry
        return [registry.info(v) for v in reversed(registry.versions())]

    def fraud_model(self, version: str) -> tuple[ModelInfo, str]:
        """One version's metadata and its model card (markdown); UnknownModel if absent."""
        registry = self._registry
        return registry.info(version), registry.card(version)

    def agents(self) -> list[AgentModel]:
        return [AgentModel(spec.agent_id, spec.version, spec.prompt_hash,
                           self._router.model_for(spec.agent_id).name)
                for spec in self._agents]

    def agent_cards(self) -> list[str]:
        """The card keys (the versions with ``-`` for ``/``: ``fraud-3``), in the order the
        agents were given."""
        return list(self._cards)

    def agent_card(self, key: str) -> str:
        """The Markdown card of one agent version (its key, ``fraud-3``), as stored with
        the model registry: written on first use under ``agents/<agent>/`` by version and
        prompt digest, and kept (a card of a version that no longer runs stays readable).
        NotFound naming the known keys for an unknown one."""
        source = self._cards.get(key)
        if source is None:
            raise NotFound(f"no agent card {key!r}; known: {', '.join(self._cards)}",
                           field="agent")
        spec = source.spec
        text = card(spec, model=self._router.model_for(spec.agent_id).name,
                    tools=source.tools, stage=source.stage)
        path = self.card_path(spec)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(path)
        return text

    def card_path(self, spec: AgentSpec[Any]) -> Path:
        version = spec.version.replace("/", "_")
        return (self._models_dir / "agents" / spec.agent_id
                / f"{version}-{spec.prompt_hash[:12]}.md")


def _card_key(spec: AgentSpec[Any]) -> str:
    """A version as a URL-safe key: ``fraud/3`` is ``fraud-3``."""
    return spec.version.replace("/", "-")


def card_sources(deciding: Mapping[str, DecidingAgent], tools: AgentTools) -> list[CardSource]:
    """Every agent version FinBot runs, with the tools it is offered: the deciding agents
    (their tools as built for a task; building them reads nothing) and the communication
    agent's three uses."""
    task = {"invoice_id": "", "vendor_id": ""}
    found = [CardSource(agent.spec, agent.tools(tools)(task), agent.stage.value)
             for agent in deciding.values()]
    notify, assistant, copilot = communication.SPECS
    return [*found,
            CardSource(notify, [communication.status_tool(tools, "", "", "")]),
            CardSource(assistant, communication.vendor_tools(tools, "")),
            CardSource(copilot, communication.admin_tools(tools))]
