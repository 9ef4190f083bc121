"""What the offline model takes in from a request: trusted instructions, untrusted content,
the values it can use as tool arguments, and the findings the tools reported.

Only system turns are trusted. User turns, tool results and the tools' descriptions are
content: the model reads them for data and, being naive, for instructions too (see
``injection``). A description is part of the prompt a real model reads, and whoever runs a
tool server writes it, so a poisoned description steers the model like a poisoned result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from finbot.llm.messages import ModelRequest
from finbot.llm.parsing import parse_json_object
from finbot.llm.remembered import for_short_texts

Severity = Literal["reject", "escalate"]

FINDING_KEYS = frozenset({"findings", "problems", "issues", "flags", "risk_signals",
                          "warnings", "errors", "failed_checks", "checks", "signals"})
_REJECT = frozenset({"reject", "block", "blocked", "critical", "error", "fail", "failed",
                     "high", "fatal"})
_ESCALATE = frozenset({"escalate", "review", "warning", "warn", "medium", "suspicious"})


@dataclass(frozen=True)
class Finding:
    """One problem or signal a tool reported."""

    severity: Severity
    detail: str


@dataclass
class Reading:
    """A request as the offline model understands it."""

    instructions: str
    content: list[tuple[str, str]]  # (where it came from, text)
    values: dict[str, Any] = field(default_factory=dict)
    listed: dict[str, list[Any]] = field(default_factory=dict)  # "paths": [...] as "path"
    records: list[tuple[str, Any]] = field(default_factory=list)  # (tool, parsed result)
    findings: list[Finding] = field(default_factory=list)
    calls_made: set[tuple[str, str]] = field(default_factory=set)
    tool_rounds: int = 0

    @classmethod
    def of(cls, request: ModelRequest) -> Reading:
        reading = cls("\n\n".join(m.content for m in request.messages if m.role == "system"),
                      [(f"tool description {t.name}", t.description) for t in request.tools])
        for message in request.messages:
            if message.role == "user":
                reading._take("user", message.content, record=False)
            elif message.role == "tool":
                reading._take(f"tool {message.name or ''}".strip(), message.content,
                              record=True)
            elif message.role == "assistant" and message.tool_calls:
                reading.tool_rounds += 1
                reading.calls_made |= {(c.name, call_key(c.arguments))
                                       for c in message.tool_calls}
        return reading

    def _take(self, source: str, text: str, *, record: bool) -> None:
        self.content.append((source, text))
        digest = _digest(text)
        if digest is None:
            return
        if record:
            self.records.append((source.removeprefix("tool ").strip(), digest.data))
            self.findings += digest.findings
        for name, value in digest.scalars:
            self.values.setdefault(name, value)
        for name, items in digest.lists:
            self.listed.setdefault(name, list(items))


@dataclass(frozen=True)
class _Digest:
    """What one message's JSON says: the value itself (only ever read), its findings,
    its scalars and its lists of scalars, outermost first."""

    data: Any
    findings: tuple[Finding, ...]
    scalars: tuple[tuple[str, Any], ...]
    lists: tuple[tuple[str, tuple[Any, ...]], ...]


@for_short_texts(maxsize=2048)
def _digest(text: str) -> _Digest | None:
    data = _json_value(text)
    if data is None:
        return None
    return _Digest(data, tuple(findings_in(data)), tuple(scalars(data)),
                   tuple((name, tuple(items)) for name, items in scalar_lists(data)))


def call_key(arguments: Mapping[str, Any]) -> str:
    return json.dumps(dict(arguments), sort_keys=True, default=str)


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return parse_json_object(text)


def scalars(data: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, scalar value) in nested JSON, outermost first."""
    if isinstance(data, Mapping):
        nested = []
        for key, value in data.items():
            if isinstance(value, str | int | float | bool) and value is not None:
                yield str(key), value
            else:
                nested.append(value)
        for value in nested:
            yield from scalars(value)
    elif isinstance(data, list):
        for item in data:
            yield from scalars(item)


def scalar_lists(data: Any) -> Iterator[tuple[str, list[Any]]]:
    """Every list of scalars under a plural key in nested JSON, by the singular name
    (``{"paths": [...]}`` → ``("path", [...])``), outermost first."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if (isinstance(value, list) and value and str(key).endswith("s")
                    and all(isinstance(item, str | int | float) for item in value)):
                yield str(key)[:-1], value
        for value in data.values():
            if isinstance(value, Mapping | list):
                yield from scalar_lists(value)
    elif isinstance(data, list):
        for item in data:
            yield from scalar_lists(item)


def findings_in(data: Any) -> Iterator[Finding]:
    """Findings under any of ``FINDING_KEYS``, at any depth."""
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key in FINDING_KEYS and isinstance(value, list):
                yield from (f for item in value if (f := _finding(item)) is not None)
            elif isinstance(value, Mapping | list):
                yield from findings_in(value)
    elif isinstance(data, list):
        for item in data:
            yield from findings_in(item)


def _finding(item: Any) -> Finding | None:
    if isinstance(item, str):
        return Finding("escalate", item)
    if not isinstance(item, Mapping):
        return None
    detail = str(item.get("detail") or item.get("message") or item.get("reason")
                 or item.get("check") or item.get("name") or item)
    if item.get("passed") is True or item.get("ok") is True:
        return None
    failed = item.get("passed") is False or item.get("ok") is False
    severity = str(item.get("severity", "reject" if failed else "escalate")).lower()
    if severity in _REJECT:
        return Finding("reject", detail)
    return Finding("escalate", detail) if severity in _ESCALATE else None
