"""The built-in offline model: deterministic, no weights, a plausible and naive assistant.

It works through the same protocol as a real model. First it calls the tools whose
required arguments it can fill from what it has read, round by round; then it answers:
under an output schema with a JSON object built from the tools' findings (a rejecting
finding → reject, a signal → escalate, none → approve) and a reasoning that names them;
in a chat with a plain summary of what the tools returned. Like a real model it can be
steered by instructions hidden in content (``injection``), as far as its gullibility
allows, and it says so in its reasoning. The same request always gets the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from finbot.llm.messages import ModelRequest, ModelResponse, ToolCallRequest, ToolSpec, Usage
from finbot.llm.model import Model, StreamItem
from finbot.llm.offline.answers import chat_answer, structured_answer
from finbot.llm.offline.injection import Directive, Gullibility, find_directives, obeyed
from finbot.llm.offline.reading import Reading, call_key

MODEL_ID = "naive-v1"


class OfflineModel(Model):
    """Deterministic stand-in for a real model; see the module docstring."""

    def __init__(self, *, gullibility: Gullibility | str = Gullibility.MEDIUM,
                 max_tool_rounds: int = 4) -> None:
        self.gullibility = Gullibility(gullibility)
        self.name = f"offline:{MODEL_ID}-{self.gullibility.value}"
        self._max_rounds = max_tool_rounds

    def request(self, request: ModelRequest) -> ModelResponse:
        reading = Reading.of(request)
        tools = frozenset(t.name for t in request.tools)
        directives = obeyed([d for _source, text in reading.content
                             for d in find_directives(text, tools=tools)], self.gullibility)
        calls = self._tool_calls(request, reading, directives)
        if calls:
            return self._response(request, "", calls)
        if request.output_schema is not None:
            answer = structured_answer(request.output_schema, reading, directives)
            return self._response(request, json.dumps(answer, sort_keys=True), ())
        return self._response(request, chat_answer(reading, directives), ())

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        response = self.request(request)
        words = response.text.split(" ")
        for index, word in enumerate(words):
            yield word if index == len(words) - 1 else f"{word} "
        yield response

    def _tool_calls(self, request: ModelRequest, reading: Reading,
                    directives: list[Directive]) -> tuple[ToolCallRequest, ...]:
        if not request.tools or reading.tool_rounds >= self._max_rounds:
            return ()
        called = {name for name, _ in reading.calls_made}
        wanted = [c for d in directives if d.kind == "tool" and d.value not in called
                  for c in [_directed_call(request.tools, d, reading.values)] if c]
        wanted += [(t.name, args) for t in request.tools
                   if (args := _fillable(t, reading.values)) is not None]
        calls: list[ToolCallRequest] = []
        seen = set(reading.calls_made)
        for name, arguments in wanted:
            key = (name, call_key(arguments))
            if key not in seen:
                seen.add(key)
                calls.append(ToolCallRequest(f"call_{reading.tool_rounds}_{len(calls)}", name,
                                             arguments, json.dumps(arguments, sort_keys=True)))
        return tuple(calls)

    def _response(self, request: ModelRequest, text: str,
                  calls: tuple[ToolCallRequest, ...]) -> ModelResponse:
        prompt_chars = sum(len(m.content) for m in request.messages)
        usage = Usage(prompt_chars // 4 + 1, len(text) // 4 + 8 * len(calls) + 1)
        return ModelResponse(text, calls, usage, self.name,
                             "tool_calls" if calls else "stop")


def _fillable(tool: ToolSpec, values: Mapping[str, Any]) -> dict[str, Any] | None:
    """The tool's arguments from values read so far, or None if a required one is unknown."""
    properties = dict(tool.parameters.get("properties", {}))
    required = list(tool.parameters.get("required", []))
    if any(name not in values for name in required):
        return None
    return {name: values[name] for name in properties if name in values}


def _directed_call(tools: tuple[ToolSpec, ...], directive: Directive,
                   values: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The call an injected "call tool X with ..." asks for."""
    tool = next((t for t in tools if t.name == directive.value), None)
    if tool is None:
        return None
    properties = list(dict(tool.parameters.get("properties", {})))
    arguments = _arguments_from(directive.argument, properties)
    for name in properties:
        if name not in arguments and name in values:
            arguments[name] = values[name]
    for name in tool.parameters.get("required", []):
        # a naive model fills what it was not told with what it knows: the data it read
        arguments.setdefault(name, json.dumps(dict(values), sort_keys=True, default=str))
    return tool.name, arguments


def _arguments_from(text: str, properties: list[str]) -> dict[str, Any]:
    """Arguments written as JSON, as ``k=v`` pairs, or as free text for the first one."""
    text = text.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    pairs = dict(part.split("=", 1) for part in text.replace(",", " ").split() if "=" in part)
    if pairs:
        return {k.strip(): v.strip().strip("'\"").rstrip(".;") for k, v in pairs.items()}
    return {properties[0]: text.rstrip(".;")} if text and properties else {}
