"""Reading what small models actually write: JSON in code fences, tool calls as text.

A 1-2 B parameter model served by llama.cpp or Ollama often answers a tool call in its
content instead of the protocol's field, wraps JSON in Markdown fences or adds a sentence
around it. These functions find the JSON object such an answer means, or say there is none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TOOL_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (bare, fenced or inside prose), else None."""
    for candidate in _candidates(text):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _candidates(text: str) -> Iterator[str]:
    stripped = text.strip()
    yield stripped
    for fenced in _FENCE.findall(text):
        yield fenced.strip()
    yield from _balanced_objects(text)


def _balanced_objects(text: str) -> Iterator[str]:
    """Each top-level ``{...}`` span, found by counting braces outside strings."""
    depth, start, in_string, escaped = 0, -1, False, False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            start = index if depth == 0 else start
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                yield text[start:index + 1]


def parse_arguments(raw: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Tool-call arguments as a dict; None when they are not a JSON object."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    return parse_json_object(raw)


def tool_calls_in_text(text: str, tools: Collection[str]) -> list[tuple[str, dict[str, Any]]]:
    """Tool calls a model wrote as text: ``<tool_call>{...}</tool_call>`` or a bare
    ``{"name": ..., "arguments": ...}`` naming one of ``tools``."""
    spans = _TOOL_TAG.findall(text) or [text]
    calls = []
    for span in spans:
        data = parse_json_object(span)
        if data is None:
            continue
        name = data.get("name") or data.get("tool") or data.get("function")
        arguments = data.get("arguments", data.get("parameters", {}))
        if isinstance(arguments, str):
            arguments = parse_arguments(arguments)
        if isinstance(name, str) and name in tools and isinstance(arguments, dict):
            calls.append((name, arguments))
    return calls
