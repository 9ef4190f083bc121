"""Circuit breakers per agent: watch live decisions, trip, fall back, probe, recover.

The breaker's state lives in the database so every process obeys a trip (each re-reads it
at most once a second); the sliding window lives in the process that made the decisions,
and the 7-day baseline comes from hourly outcome counts written with each decision. Every
trip and reset is an audit record, so the log shows which decisions were made while the
agent was pulled out of the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from finbot.domain.breakers import (
    HOUR_US,
    Baseline,
    BreakerSettings,
    BreakerState,
    Observation,
    StoredBreaker,
    Trip,
    Window,
    WindowStats,
    check_trips,
    cooled_down,
    unhealthy,
)
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import TransientConflict, UnitOfWork
from finbot.services.retry import retrying

_STATE_TTL_US = 1_000_000
_BASELINE_TTL_US = 300_000_000
_EVALUATE_ALWAYS_BELOW = 2_000
_EVALUATE_EVERY_US = 100_000


@dataclass(frozen=True)
class BreakerStatus:
    """One agent's breaker as `finbot breaker status` shows it."""

    agent_id: str
    state: BreakerState
    changed_at_us: int
    reason: str
    window: WindowStats | None


@dataclass
class _Local:
    """This process's view of one agent: its window, cached state and probe count."""

    window: Window
    stored: StoredBreaker | None = None
    read_at_us: int = -_STATE_TTL_US
    baseline: Baseline | None = None
    baseline_at_us: int = -_BASELINE_TTL_US
    probes_sent: int = 0
    probes_healthy: int = 0
    evaluated_at_us: int = 0


class BreakerService:
    """Decides whether an agent may be asked, and trips or resets its breaker."""

    def __init__(self, uow: UowFactory, audit: AuditLog, *,
                 settings: BreakerSettings | None = None, outbox: Outbox | None = None,
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox or Outbox(clock=clock)
        self._audit = audit
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._agents: dict[str, _Local] = {}

    def allows_agent(self, agent_id: str) -> bool:
        """True if the agent may decide now (closed, or a half-open probe); else the caller
        uses the rules-only fallback."""
        local, now = self._local(agent_id), self._clock()
        stored = self._state(agent_id, now)
        if stored.state is BreakerState.OPEN and cooled_down(stored, now, self.settings):
            stored = self._move(agent_id, BreakerState.HALF_OPEN, "cool-down over; probing",
                                (), expect=stored)
        if stored.state is BreakerState.CLOSED:
            return True
        if stored.state is BreakerState.HALF_OPEN and (
                local.probes_sent < self.settings.half_open_probes):
            local.probes_sent += 1
            return True
        return False

    def count_in(self, uow: UnitOfWork, agent_id: str, outcome: str, at_us: int) -> None:
        """Add a live decision to the hourly counts, inside the decision's transaction."""
        uow.breakers.count_outcome(agent_id, at_us - at_us % HOUR_US, outcome)

    def observe(self, agent_id: str, observation: Observation) -> None:
        """Feed one live decision to the window; trip or recover as the rules say."""
        local = self._local(agent_id)
        stored = self._state(agent_id, observation.at_us)
        if stored.state is BreakerState.HALF_OPEN:
            if observation.latency_us is not None:  # only answers from the agent are probes
                self._probe(agent_id, local, stored, observation)
            return
        local.window.add(observation)
        if stored.state is BreakerState.CLOSED and self._due(local, observation.at_us):
            stats = local.window.stats(observation.at_us)
            trips = check_trips(stats, self._baseline(agent_id, observation.at_us),
                                self.settings)
            if trips:
                self._move(agent_id, BreakerState.OPEN, "; ".join(t.detail for t in trips),
                           trips, expect=stored)

    def _due(self, local: _Local, now: int) -> bool:
        """Evaluate a small window on every decision, a busy one every 100 ms at most."""
        if len(local.window) < _EVALUATE_ALWAYS_BELOW or now - local.evaluated_at_us >= (
                _EVALUATE_EVERY_US):
            local.evaluated_at_us = now
            return True
        return False

    def trip(self, agent_id: str, reason: str) -> StoredBreaker:
        """Open the breaker by hand (an operator, or a drill)."""
        return self._move(agent_id, BreakerState.OPEN, reason, (), expect=None)

    def reset(self, agent_id: str, reason: str) -> StoredBreaker:
        """Close the breaker by hand and start a fresh window."""
        self._local(agent_id).window.clear()
        return self._move(agent_id, BreakerState.CLOSED, reason, (), expect=None)

    def status(self) -> list[BreakerStatus]:
        now = self._clock()
        with self._uow() as uow:
            stored = {s.agent_id: s for s in uow.breakers.all()}
        for agent_id in self._agents:
            stored.setdefault(agent_id, self._state(agent_id, now))
        return [BreakerStatus(s.agent_id, s.state, s.changed_at_us, s.reason,
                              self._window_stats(s.agent_id, now))
                for s in sorted(stored.values(), key=lambda s: s.agent_id)]

    def _window_stats(self, agent_id: str, now: int) -> WindowStats | None:
        local = self._agents.get(agent_id)
        if local is None:
            return None
        return local.window.stats(now)

    def _probe(self, agent_id: str, local: _Local, stored: StoredBreaker,
               observation: Observation) -> None:
        if unhealthy(observation, self.settings):
            self._move(agent_id, BreakerState.OPEN, "a half-open probe failed "
                       f"({'unusable proposal' if observation.error else 'too slow'})", (),
                       expect=stored)
            return
        local.probes_healthy += 1
        if local.probes_healthy >= self.settings.half_open_probes:
            local.window.clear()
            self._move(agent_id, BreakerState.CLOSED,
                       f"{local.probes_healthy} healthy probes; agent back in the loop", (),
                       expect=stored)

    def _local(self, agent_id: str) -> _Local:
        local = self._agents.get(agent_id)
        if local is None:
            local = self._agents[agent_id] = _Local(Window(
                self.settings.window_us, error_window_us=self.settings.error_window_us))
        return local

    def _state(self, agent_id: str, now: int) -> StoredBreaker:
        local = self._local(agent_id)
        if local.stored is None or now - local.read_at_us >= _STATE_TTL_US:
            with self._uow() as uow:
                found = uow.breakers.get(agent_id)
            self._remember(local, found or StoredBreaker(agent_id, BreakerState.CLOSED, 0,
                                                         "never tripped", -1), now)
        assert local.stored is not None
        return local.stored

    def _remember(self, local: _Local, stored: StoredBreaker, now: int) -> None:
        if local.stored is None or (local.stored.state, local.stored.changed_at_us) != (
                stored.state, stored.changed_at_us):
            local.probes_sent = local.probes_healthy = 0
        local.stored, local.read_at_us = stored, now

    def _baseline(self, agent_id: str, now: int) -> Baseline:
        local = self._local(agent_id)
        if local.baseline is None or now - local.baseline_at_us >= _BASELINE_TTL_US:
            hour = now - now % HOUR_US
            with self._uow() as uow:
                counts = uow.breakers.outcome_counts(
                    agent_id, since_hour=hour - self.settings.baseline_hours * HOUR_US,
                    before_hour=hour)
            local.baseline = Baseline.from_counts(
                counts, min_decisions=self.settings.baseline_min_decisions_per_hour)
            local.baseline_at_us = now
        return local.baseline

    def _move(self, agent_id: str, to: BreakerState, reason: str, trips: Sequence[Trip], *,
              expect: StoredBreaker | None) -> StoredBreaker:
        """Persist a transition with its audit record. With ``expect``, only if the state
        is still the one read (another process may have moved it first)."""
        if not reason.strip():
            raise InvalidInput("a breaker change needs a reason", field="reason")
        def attempt() -> StoredBreaker:
            now = self._clock()
            with self._uow() as uow:
                current = uow.breakers.get(agent_id)
                if expect is not None and current is not None and (
                        current.version != expect.version):
                    return current  # someone else moved it; theirs stands
                moved = StoredBreaker(agent_id, to, now, reason,
                                      current.version + 1 if current else 0)
                if not uow.breakers.save(moved, expected_version=(
                        current.version if current else None)):
                    raise TransientConflict(f"breaker {agent_id} moved under us")
                self._audit.append_in(uow, "breaker", f"breaker:{agent_id}:{moved.version}",
                                      _record(agent_id, current, moved, trips))
                self._outbox.emit_in(uow, "breaker.changed", f"agent:{agent_id}", {
                    "agent_id": agent_id, "to_state": to.value, "reason": reason,
                    "from_state": current.state.value if current else "closed"})
                uow.commit()
            return moved
        moved = retrying(attempt)
        self._remember(self._local(agent_id), moved, self._clock())
        return moved


def _record(agent_id: str, before: StoredBreaker | None, after: StoredBreaker,
            trips: Sequence[Trip]) -> dict[str, Any]:
    return {"agent_id": agent_id,
            "from": before.state.value if before else BreakerState.CLOSED.value,
            "to": after.state.value, "reason": after.reason,
            "trips": [{"rule": t.rule, "detail": t.detail} for t in trips]}
