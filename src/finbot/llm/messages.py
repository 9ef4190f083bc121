"""The words agents and models exchange: messages, tool specs and tool calls, responses.

These values are the whole model protocol. Every provider translates them to and from its
own API, so an agent never sees a vendor's wire format, and a recorded exchange is just
these values as JSON (``to_json``/``from_json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A read-only tool the model may call: its name, what it does, a JSON schema of its
    arguments."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}})

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description,
                "parameters": dict(self.parameters)}


@dataclass(frozen=True)
class ToolCallRequest:
    """The model asks for a tool: ``arguments`` parsed, ``raw_arguments`` as sent."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    raw_arguments: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": dict(self.arguments),
                "raw_arguments": self.raw_arguments}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ToolCallRequest:
        return cls(str(data["id"]), str(data["name"]), dict(data.get("arguments") or {}),
                   str(data.get("raw_arguments", "")))


@dataclass(frozen=True)
class Message:
    """One turn. ``tool`` messages carry a tool's result for ``tool_call_id``; assistant
    messages may carry the tool calls the model made."""

    role: Role
    content: str
    tool_calls: tuple[ToolCallRequest, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            data["tool_calls"] = [c.to_json() for c in self.tool_calls]
        if self.tool_call_id is not None:
            data["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            data["name"] = self.name
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        calls = tuple(ToolCallRequest.from_json(c) for c in data.get("tool_calls", ()))
        return cls(data["role"], str(data.get("content", "")), calls,
                   data.get("tool_call_id"), data.get("name"))


def system(content: str) -> Message:
    return Message("system", content)


def user(content: str) -> Message:
    return Message("user", content)


def tool_result(call: ToolCallRequest, content: str) -> Message:
    return Message("tool", content, tool_call_id=call.id, name=call.name)


@dataclass(frozen=True)
class ModelRequest:
    """One call to a model. With ``output_schema`` the final answer must be a JSON object
    matching that schema; with ``tools`` the model may first ask for tool calls."""

    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    output_schema: Mapping[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"messages": [m.to_json() for m in self.messages],
                "tools": [t.to_json() for t in self.tools],
                "output_schema": dict(self.output_schema) if self.output_schema else None,
                "temperature": self.temperature, "max_tokens": self.max_tokens}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelRequest:
        return cls(tuple(Message.from_json(m) for m in data["messages"]),
                   tuple(ToolSpec(t["name"], t["description"], t["parameters"])
                         for t in data.get("tools", ())),
                   data.get("output_schema"), data.get("temperature", 0.0),
                   data.get("max_tokens"))

    def extended(self, *messages: Message) -> ModelRequest:
        """The same request with more turns appended (a tool result, a retry prompt)."""
        return ModelRequest(self.messages + messages, self.tools, self.output_schema,
                            self.temperature, self.max_tokens)


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, as the provider counted them (0 when it does not say)."""

    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens)


@dataclass(frozen=True)
class ModelResponse:
    """What the model said: text (the JSON answer under an output schema), or tool calls."""

    text: str
    tool_calls: tuple[ToolCallRequest, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model_name: str = ""
    finish_reason: str = "stop"

    def as_message(self) -> Message:
        return Message("assistant", self.text, self.tool_calls)

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "tool_calls": [c.to_json() for c in self.tool_calls],
                "usage": {"input_tokens": self.usage.input_tokens,
                          "output_tokens": self.usage.output_tokens},
                "model_name": self.model_name, "finish_reason": self.finish_reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelResponse:
        usage = data.get("usage") or {}
        return cls(str(data.get("text", "")),
                   tuple(ToolCallRequest.from_json(c) for c in data.get("tool_calls", ())),
                   Usage(int(usage.get("input_tokens", 0)), int(usage.get("output_tokens", 0))),
                   str(data.get("model_name", "")), str(data.get("finish_reason", "stop")))


def last_user_text(messages: Sequence[Message]) -> str:
    """The most recent user turn's text ('' when there is none)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")
