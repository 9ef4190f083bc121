"""Runs detectors over a stream of events, in order, and collects their hits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from finbot.arena.detectors.core import Detector, Hit
from finbot.arena.detectors.standard import standard_detectors
from finbot.domain.events import Event


class Pipeline:
    """Every detector sees every event; hits come out in event order, then detector order."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)

    def scan(self, events: Iterable[Event]) -> list[Hit]:
        """The hits of every detector on ``events``."""
        inspectors = [detector.inspect for detector in self.detectors]
        return [found for event in events for inspect in inspectors
                for found in inspect(event)]

    @classmethod
    def standard(cls, *, tenant_domains: Mapping[str, str] | None = None,
                 tool_baseline: Mapping[str, str] | None = None) -> Pipeline:
        """The shipped detectors, ready to use. ``tenant_domains`` (tenant → mail domain)
        tells the dead-drop detector which addresses are inside; ``tool_baseline`` (tool →
        description SHA-256) the registered tool descriptions."""
        return cls(standard_detectors(tenant_domains=tenant_domains,
                                      tool_baseline=tool_baseline))
