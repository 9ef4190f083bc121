"""Tool poisoning: a tool whose description changed after it was registered.

A tool server announces each tool's description by its SHA-256 (``tool.described``). A
hash that differs from the registered baseline means the words the model reads about a
tool are no longer the ones that were reviewed: a critical hit. A tool with no baseline is
trusted on first use, per tenant, and its later changes are caught the same way (a
"rug pull"); ``learn=False`` instead reports every tool it does not know.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from finbot.arena.detectors.core import Hit, hit
from finbot.domain.events import Event
from finbot.llm.messages import ToolSpec

TOOL_DESCRIBED = "tool.described"


def description_sha256(description: str) -> str:
    """The hex SHA-256 of a tool description's UTF-8 bytes."""
    return hashlib.sha256(description.encode()).hexdigest()


def baseline_of(specs: Iterable[ToolSpec]) -> dict[str, str]:
    """The baseline of registered tools: name → SHA-256 of its description."""
    return {spec.name: description_sha256(spec.description) for spec in specs}


@dataclass
class ToolDrift:
    """Fires when a tool's announced description hash is not its baseline's."""

    baseline: Mapping[str, str] = field(default_factory=dict)
    name: str = "tool_drift"
    learn: bool = True
    _seen: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def inspect(self, event: Event) -> Iterable[Hit]:
        if event.type != TOOL_DESCRIBED:
            return ()
        tool, digest = str(event.payload["tool"]), str(event.payload["description_sha256"])
        server = str(event.payload.get("server", ""))
        expected = self.baseline.get(tool) or self._seen.get((event.tenant, tool))
        if expected is None and self.learn:
            self._seen[(event.tenant, tool)] = digest
            return ()
        if expected is None:
            return (hit(self.name, event, "warning",
                        f"tool {tool} from server {server} is not registered"),)
        if digest == expected:
            return ()
        return (hit(self.name, event, "critical", f"tool {tool} from server {server} "
                    f"changed its description (sha256 {digest[:12]}, expected "
                    f"{expected[:12]})"),)
