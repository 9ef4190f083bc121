"""How every agent runs: a versioned prompt, read-only tools, a model, a checked answer.

The loop hands the model the task and the tools; runs the read-only tools it asks for
(refusing unknown tools and arguments that do not fit the tool's schema, in words the model
can act on); and accepts a final answer only when it validates against the agent's output
schema. A malformed answer is sent back with the validation error a bounded number of
times, then ModelOutputInvalid: the gate escalates the item and nothing executes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from finbot.domain.audit import sha256_hex
from finbot.domain.decisions import ToolCall
from finbot.domain.errors import FinbotError, ModelOutputInvalid
from finbot.llm.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    ToolCallRequest,
    ToolSpec,
    system,
    tool_result,
    user,
)
from finbot.llm.model import Model
from finbot.llm.parsing import parse_arguments, parse_json_object

Output = TypeVar("Output", bound=BaseModel)


class Verdict(BaseModel):
    """What every deciding agent answers: an outcome, how sure, and why in plain words."""

    outcome: Literal["APPROVE", "REJECT", "ESCALATE"]
    confidence: float = Field(ge=0, le=1)
    reasoning: str = Field(min_length=20, description="The specific facts relied on")


@dataclass(frozen=True)
class Tool:
    """A tool: its spec for the model and the function that answers it. An agent's own
    tools only read; the arena's, given to agents in a sandbox, act on its world."""

    spec: ToolSpec
    run: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class AgentSpec(Generic[Output]):
    """One agent version: id, version, prompt and output schema."""

    agent_id: str
    version: str
    prompt: str
    output: type[Output]
    required_tools: frozenset[str] = frozenset()
    """The checks an APPROVE must rest on; the gate escalates an APPROVE without them."""

    @property
    def prompt_hash(self) -> str:
        return sha256_hex(self.prompt)


@dataclass(frozen=True)
class AgentRun(Generic[Output]):
    """An agent's answer with every tool call it made."""

    output: Output
    tool_calls: tuple[ToolCall, ...]
    steps: int


def run_agent(spec: AgentSpec[Output], model: Model, tools: Sequence[Tool],
              task: Mapping[str, Any], *, max_steps: int = 8,
              max_invalid: int = 2) -> AgentRun[Output]:
    """Run one task to a validated answer; ModelOutputInvalid if none comes."""
    by_name = {tool.spec.name: tool for tool in tools}
    request = ModelRequest((system(spec.prompt), user(json.dumps(task, sort_keys=True,
                                                                 default=str))),
                           tuple(t.spec for t in tools), _schema_of(spec.output))
    calls: list[ToolCall] = []
    invalid = 0
    for step in range(1, max_steps + 1):
        response = model.request(request)
        if response.tool_calls:
            results = [_call(by_name, call, calls) for call in response.tool_calls]
            request = request.extended(response.as_message(), *results)
            continue
        try:
            return AgentRun(_validated(spec.output, response.text), tuple(calls), step)
        except ModelOutputInvalid as error:
            invalid += 1
            if invalid > max_invalid:
                raise
            request = request.extended(response.as_message(), user(
                f"That answer was not valid: {error.message}. Reply with only a JSON object "
                "matching the schema."))
    raise ModelOutputInvalid(f"{spec.agent_id} gave no answer in {max_steps} steps")


@dataclass(frozen=True)
class ChatTurn:
    """The assistant's reply to one chat turn, and the tool calls it made on the way."""

    text: str
    tool_calls: tuple[ToolCall, ...]


def chat(prompt: str, model: Model, tools: Sequence[Tool], history: Sequence[Message], *,
         max_steps: int = 6) -> Iterator[str | ChatTurn]:
    """Answer the last user message of ``history``: text deltas as the model streams them,
    then (last) the whole turn. Tool rounds run in between, unseen by the reader."""
    by_name = {tool.spec.name: tool for tool in tools}
    request = ModelRequest((system(prompt), *history), tuple(t.spec for t in tools))
    calls: list[ToolCall] = []
    for _ in range(max_steps):
        response = None
        for item in model.stream(request):
            if isinstance(item, ModelResponse):
                response = item
            elif item:
                yield item
        if response is None:
            raise ModelOutputInvalid("the model's stream ended without an answer")
        if not response.tool_calls:
            yield ChatTurn(response.text, tuple(calls))
            return
        results = [_call(by_name, call, calls) for call in response.tool_calls]
        request = request.extended(response.as_message(), *results)
    raise ModelOutputInvalid(f"no answer after {max_steps} tool rounds")


def chat_reply(prompt: str, model: Model, tools: Sequence[Tool],
               history: Sequence[Message]) -> ChatTurn:
    """The whole reply of ``chat``, for callers that do not stream."""
    for item in chat(prompt, model, tools, history):
        if isinstance(item, ChatTurn):
            return item
    raise ModelOutputInvalid("the chat ended without a reply")


def _validated(output: type[Output], text: str) -> Output:
    data = parse_json_object(text)
    if data is None:
        raise ModelOutputInvalid("the answer holds no JSON object")
    try:
        return output.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}"
                             for e in error.errors()[:5])
        raise ModelOutputInvalid(problems) from None


def _call(tools: Mapping[str, Tool], call: ToolCallRequest, made: list[ToolCall]) -> Message:
    """Run one requested tool; what the model reads back is its result or why not."""
    tool = tools.get(call.name)
    if tool is None:
        result: Any = {"error": f"there is no tool named {call.name!r}; tools: "
                                f"{', '.join(sorted(tools))}"}
    else:
        result = _checked_run(tool, call)
    made.append(ToolCall(call.name, dict(call.arguments), result))
    return tool_result(call, json.dumps(result, sort_keys=True, default=str))


def _checked_run(tool: Tool, call: ToolCallRequest) -> Any:
    parameters = tool.spec.parameters
    allowed = set(dict(parameters.get("properties", {})))
    missing = [n for n in parameters.get("required", []) if n not in call.arguments]
    unknown = sorted(set(call.arguments) - allowed)
    if call.raw_arguments and parse_arguments(call.raw_arguments) is None:
        return {"error": "the arguments were not a JSON object"}
    if missing or unknown:
        return {"error": f"missing arguments {missing}, unknown arguments {unknown}"}
    try:
        return tool.run(call.arguments)
    except FinbotError as error:
        return {"error": error.message}


@cache
def _schema_of(output: type[BaseModel]) -> dict[str, Any]:
    """An output model's JSON schema, built once (pydantic builds it anew on each call)."""
    return output.model_json_schema()
