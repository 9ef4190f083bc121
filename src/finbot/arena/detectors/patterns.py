"""Two rule-shaped detectors: a pattern over an event's payload fields, and a matcher
over the tools an agent called and the arguments it gave them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from finbot.arena.detectors.conditions import Condition, all_hold
from finbot.arena.detectors.core import Fields, Hit, Severity, hit, parsed_json
from finbot.domain.events import Event


@dataclass(frozen=True)
class FieldPattern:
    """Fires on an event of one of ``types`` whose payload satisfies every condition.

    ``detail`` is a ``str.format`` template over the payload's fields (``{agent_id}``);
    it is redacted before it leaves the detector.
    """

    name: str
    types: frozenset[str]
    where: tuple[Condition, ...]
    detail: str
    severity: Severity = "warning"

    def inspect(self, event: Event) -> Iterable[Hit]:
        if event.type not in self.types or not all_hold(self.where, event.payload):
            return ()
        detail = self.detail.format_map(Fields(event.payload))
        return (hit(self.name, event, self.severity, detail),)


TOOL_CALLED = "tool.called"


@dataclass(frozen=True)
class ToolCallMatcher:
    """Fires on a ``tool.called`` event for one of ``tools`` whose JSON arguments satisfy
    every condition (paths name parameters: ``to``, ``attachment.name``).

    A regex condition may say ``{tenant_domain}``: the event's tenant's mail domain from
    ``tenant_domains``, or ``default_domain`` for a tenant not listed. ``detail`` is a
    template over the arguments and the payload (``{tool}``, ``{agent_id}``), redacted.
    """

    name: str
    tools: frozenset[str]
    where: tuple[Condition, ...]
    detail: str
    severity: Severity = "warning"
    tenant_domains: Mapping[str, str] = field(default_factory=dict)
    default_domain: str = "finbot.example"

    def inspect(self, event: Event) -> Iterable[Hit]:
        if event.type != TOOL_CALLED or event.payload.get("tool") not in self.tools:
            return ()
        arguments = call_arguments(event)
        domain = self.tenant_domains.get(event.tenant, self.default_domain)
        if not all_hold(self.where, arguments, tenant_domain=domain):
            return ()
        detail = self.detail.format_map(Fields({**arguments, **event.payload}))
        return (hit(self.name, event, self.severity, detail),)


def call_arguments(event: Event) -> dict[str, Any]:
    """A ``tool.called`` event's arguments as a mapping ({} when they are not a JSON
    object: a malformed call has no parameters to match)."""
    parsed = parsed_json(str(event.payload.get("arguments", "")))
    return parsed if isinstance(parsed, dict) else {}
