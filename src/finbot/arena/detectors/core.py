"""What every detector shares: the hit it reports, the protocol it follows, and how it
reads a field out of an event's payload."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from finbot.domain.events import Event
from finbot.privacy.redaction import redact_text

Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Hit:
    """One thing a detector saw in one event."""

    detector: str  # the detector's name
    event_id: str
    aggregate_id: str
    tenant: str
    severity: Severity
    detail: str  # plain words, never raw PII


class Detector(Protocol):
    """A plugin over the event stream: it reads one event at a time and names what it saw."""

    @property
    def name(self) -> str:
        """The detector's name, as its hits carry it (a plain ``name: str`` attribute will
        do; read-only here so frozen dataclasses qualify)."""

    def inspect(self, event: Event) -> Iterable[Hit]: ...


def hit(detector: str, event: Event, severity: Severity, detail: str) -> Hit:
    """A hit on ``event`` whose detail is redacted, whatever the caller put in it."""
    return Hit(detector, event.event_id, event.aggregate_id, event.tenant, severity,
               redact_text(detail))


_MISSING = object()


def field_value(payload: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` in ``payload`` (``MISSING`` when absent). A step into
    JSON text (such as ``tool.called``'s ``arguments``) reads the parsed document."""
    value: Any = payload
    for step in path.split("."):
        if isinstance(value, str):
            value = parsed_json(value)
        if not isinstance(value, Mapping) or step not in value:
            return _MISSING
        value = value[step]
    return value


def is_missing(value: object) -> bool:
    """Whether ``field_value`` found nothing."""
    return value is _MISSING


def parsed_json(text: str) -> Any:
    """``text`` parsed as JSON, or None when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


class Fields(dict[str, Any]):
    """A payload for ``str.format_map`` in a detail template: an absent name reads '?'."""

    def __missing__(self, key: str) -> str:
        return "?"
