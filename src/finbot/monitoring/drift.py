"""Per-agent drift of a current window against a baseline window, on three streams: the
agent's outcome mix (PSI over the categories), the amounts it decided on and the
confidence it stated (PSI over the baseline's deciles, and the two-sample KS test).

A stream has drifted when both windows hold at least ``MIN_SAMPLES`` values and its PSI
exceeds ``PSI_ALERT`` (0.25, the usual line for a significant shift; below 0.1 is
stable), or its KS p-value is below ``KS_P_ALERT`` (0.01). Only live decisions count:
they are the agent's own (fallback decisions are the rules', shadow ones never act).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from finbot.monitoring.points import DecisionPoint
from finbot.monitoring.stats import ks_p_value, psi_of_counts, psi_of_values

PSI_ALERT = 0.25
KS_P_ALERT = 0.01
MIN_SAMPLES = 30
Stream = Literal["outcome", "amount", "confidence"]


@dataclass(frozen=True)
class StreamDrift:
    """One agent's stream compared across the windows."""

    agent_id: str
    stream: Stream
    baseline_n: int
    current_n: int
    psi: float
    ks_p: float | None  # None for the categorical outcome stream

    @property
    def enough(self) -> bool:
        return min(self.baseline_n, self.current_n) >= MIN_SAMPLES

    @property
    def drifted(self) -> bool:
        return self.enough and (self.psi > PSI_ALERT or (
            self.ks_p is not None and self.ks_p < KS_P_ALERT))

    @property
    def reason(self) -> str:
        ks = f", KS p={self.ks_p:.2g}" if self.ks_p is not None else ""
        return (f"drift in {self.agent_id}'s {self.stream} stream: PSI {self.psi:.3f}{ks} "
                f"over {self.current_n} decisions against {self.baseline_n}")


_NUMERIC: dict[Stream, Callable[[DecisionPoint], float | None]] = {
    "amount": lambda p: p.amount, "confidence": lambda p: p.confidence}


def agent_drift(baseline: Sequence[DecisionPoint], current: Sequence[DecisionPoint]
                ) -> list[StreamDrift]:
    """Every agent's three streams, agents in name order."""
    before, now = _by_agent(baseline), _by_agent(current)
    found: list[StreamDrift] = []
    for agent in sorted(set(before) | set(now)):
        b, c = before.get(agent, []), now.get(agent, [])
        found.append(StreamDrift(agent, "outcome", len(b), len(c), psi_of_counts(
            Counter(p.outcome for p in b), Counter(p.outcome for p in c)), None))
        for stream, read in _NUMERIC.items():
            bv, cv = _values(b, read), _values(c, read)
            found.append(StreamDrift(agent, stream, len(bv), len(cv), psi_of_values(bv, cv),
                                     ks_p_value(bv, cv)))
    return found


def _by_agent(points: Sequence[DecisionPoint]) -> dict[str, list[DecisionPoint]]:
    grouped: dict[str, list[DecisionPoint]] = defaultdict(list)
    for point in points:
        if point.mode == "live":
            grouped[point.agent_id].append(point)
    return grouped


def _values(points: Sequence[DecisionPoint],
            read: Callable[[DecisionPoint], float | None]) -> list[float]:
    return [v for v in map(read, points) if v is not None]
