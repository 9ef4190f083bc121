"""What models FinBot decides with, for the staff who answer for it: the fraud model's
stored versions with their metrics and cards, and the model and prompt each agent runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finbot.agents.runner import AgentSpec
from finbot.llm.router import ModelRouter

if TYPE_CHECKING:
    from finbot.fraud.metadata import ModelInfo
    from finbot.fraud.registry import ModelRegistry


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
                 agents: Sequence[AgentSpec[Any]]) -> None:
        self._models_dir = models_dir
        self._router = router
        self._agents = agents

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
