"""One live step decided by its agent's champion with the challengers beside it.

The live decider is the champion, a promoted challenger, or a canary whose share takes the
step's subject (by hash, so a retry routes the same way). Every other active challenger
(and, under a canary, the champion) then decides a copy of the same input snapshot in
shadow mode: logged, never queued, executed or counted by any breaker; the pair of
decisions is stored for the agreement report. A canary whose breaker has tripped, or whose
rolling agreement fell below its bar, is rolled back to shadow.

Shadows run inline, after the live decision has committed with its step marked done: the
live decision's latency and the workflow's next step do not wait for them, but this runner
is busy for the shadows' time before it takes another step (another runner may take it).
A failing shadow is logged and dropped; it never fails the step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from finbot.agents.ports import AgentTools
from finbot.agents.runner import Tool
from finbot.domain.breakers import BreakerState
from finbot.domain.challengers import Challenger, ChallengerPair, ChallengerState
from finbot.domain.decisions import Mode
from finbot.domain.workflows import Step
from finbot.llm.context import EventSink
from finbot.llm.model import Model
from finbot.llm.router import ModelRouter
from finbot.services.challengers import ChallengerService
from finbot.services.decisions import Agent, Along
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork

if TYPE_CHECKING:
    from finbot.services.orchestrator import DecidingAgent

logger = logging.getLogger(__name__)

ToolsFor = Callable[[AgentTools], Callable[[Mapping[str, Any]], Sequence[Tool]]]
Propose = Callable[["DecidingAgent", Model, EventSink | None], Agent]
"""Builds an agent (a DecidingAgent's spec and tools on ``model``) for this step."""
Decide = Callable[[str, Agent, Mode, Along | None], object]
"""Runs the gate on this step's facts and snapshot under a decision id and mode."""


@dataclass(frozen=True)
class Entrants:
    """What the step runner lends the contest for one step."""

    propose: Propose
    decide: Decide
    written: Callable[[], None] = lambda: None
    """Writes the decisions made so far, whose records may wait to be written together
    (see ``DecisionService.grouped``)."""


class Contest:
    """Runs one step's champion and challengers (see the module docstring). ``fraud_tools``
    gives the fraud agent's tools on another fraud model version."""

    def __init__(self, uow: UowFactory, challengers: ChallengerService, models: ModelRouter,
                 *, fraud_tools: Callable[[str], ToolsFor], outbox: Outbox,
                 rolling_window: int = 50, rolling_min: int = 20,
                 clock: Callable[[], int], reader: UowFactory | None = None) -> None:
        """``reader``: units of work for the standing challengers' read at every step,
        which takes no write lock (default ``uow``)."""
        self._uow = uow
        self._reader = reader or uow
        self._challengers = challengers
        self._models = models
        self._fraud_tools = fraud_tools
        self._outbox = outbox
        self._window = rolling_window
        self._rolling_min = rolling_min
        self._clock = clock

    def run(self, step: Step, agent: DecidingAgent, entrants: Entrants, sink: EventSink,
            along: Along) -> None:
        agent_id = agent.spec.agent_id
        with self._reader() as uow:
            standing = uow.challengers.active(agent_id)
            canary = next((c for c in standing if c.routes(step.subject_id)), None)
            tripped = canary is not None and self._tripped(uow, canary)
        if canary is not None and tripped:
            self._rolled_back(canary, "its breaker tripped")
            canary = None
        promoted = next((c for c in standing if c.state is ChallengerState.PROMOTED), None)
        champion = self._entrant(agent, promoted)
        if canary is None:
            entrants.decide(step.decision_id, entrants.propose(*champion, sink), Mode.LIVE,
                            along)
            base_id = step.decision_id
        else:
            entrants.decide(step.decision_id,
                            entrants.propose(*self._entrant(agent, canary), sink),
                            Mode.LIVE, along)
            base_id = f"{step.decision_id}~champion@{canary.challenger_id}"
        if standing:  # the live decision is in the log before its shadows run
            entrants.written()
        if canary is not None:
            self._shadow(step, entrants, champion, ChallengerPair(
                canary.challenger_id, step.decision_id, base_id, step.decision_id, "canary",
                self._clock()))
            entrants.written()  # the watch reads the pair just stored
            self._watch(canary)
        for other in standing:
            if other in (canary, promoted):
                continue
            shadow_id = f"{step.decision_id}~shadow@{other.challenger_id}"
            self._shadow(step, entrants, self._entrant(agent, other), ChallengerPair(
                other.challenger_id, step.decision_id, base_id, shadow_id, "shadow",
                self._clock()))

    def _entrant(self, agent: DecidingAgent, challenger: Challenger | None
                 ) -> tuple[DecidingAgent, Model]:
        """The agent (spec, tools) and model a challenger decides with; the champion's
        for None. Its decisions carry the challenger's own id (its own breaker)."""
        model = self._models.model_for(agent.spec.agent_id)
        if challenger is None:
            return agent, model
        spec = replace(agent.spec, agent_id=challenger.breaker_id,
                       version=challenger.agent_version or agent.spec.version,
                       prompt=challenger.prompt or agent.spec.prompt)
        tools = (self._fraud_tools(challenger.fraud_version) if challenger.fraud_version
                 else agent.tools)
        if challenger.model_name:
            model = self._models.named(challenger.model_name)
        return replace(agent, spec=spec, tools=tools), model

    def _shadow(self, step: Step, entrants: Entrants, entrant: tuple[DecidingAgent, Model],
                pair: ChallengerPair) -> None:
        """Decide ``pair``'s shadow side in shadow mode, storing the pair with it."""
        events: list[tuple[str, Mapping[str, Any]]] = []
        shadow_id = (pair.challenger_decision_id if pair.routed == "shadow"
                     else pair.champion_decision_id)

        def stored(uow: UnitOfWork, _decision: Mapping[str, Any]) -> None:
            self._outbox.emit_many_in(uow, step.workflow_id, events, tenant=step.tenant)
            uow.challengers.add_pair(pair)
        try:
            with self._uow() as uow:
                if uow.audit.by_id(shadow_id) is not None:
                    return  # decided by an earlier run of this step
            agent = entrants.propose(*entrant, lambda t, p: events.append((t, p)))
            entrants.decide(shadow_id, agent, Mode.SHADOW, stored)
        except Exception:  # a shadow never fails the live step
            logger.warning("shadow decision %s failed", shadow_id, exc_info=True)

    def _watch(self, canary: Challenger) -> None:
        """Roll the canary back if its breaker tripped or its rolling agreement fell."""
        with self._uow() as uow:
            tripped = self._tripped(uow, canary)
        if tripped:
            self._rolled_back(canary, "its breaker tripped")
            return
        rolling = self._challengers.rolling(canary.challenger_id, last=self._window)
        if rolling.count >= self._rolling_min and rolling.rate is not None and (
                rolling.rate < canary.min_agreement):
            self._rolled_back(canary, f"rolling agreement {rolling.rate:.2%} over the last "
                                      f"{rolling.count} steps is below "
                                      f"{canary.min_agreement:.2%}")

    @staticmethod
    def _tripped(uow: UnitOfWork, canary: Challenger) -> bool:
        stored = uow.breakers.get(canary.breaker_id)
        return stored is not None and stored.state is not BreakerState.CLOSED

    def _rolled_back(self, canary: Challenger, reason: str) -> None:
        try:
            self._challengers.roll_back(canary.challenger_id, reason)
        except Exception:  # moved meanwhile (retired, promoted, rolled back elsewhere)
            logger.info("canary %s not rolled back", canary.challenger_id, exc_info=True)
