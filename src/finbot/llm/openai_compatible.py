"""The OpenAI-compatible provider: OpenAI, Ollama, vLLM, llama.cpp's server, by base URL.

Built on the official ``openai`` SDK, which retries connection errors, 408/429 and 5xx
with exponential backoff. What it cannot fix becomes ModelUnavailable (try another
provider) or a ConfigurationError naming the setting to change. Small models' habits are
absorbed here: tool calls written as text are read as tool calls, and JSON answers are
accepted in fences or prose (see ``parsing``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx2
import openai

from finbot.domain.errors import ConfigurationError, ModelError, ModelUnavailable
from finbot.llm.messages import Message, ModelRequest, ModelResponse, ToolCallRequest, Usage
from finbot.llm.model import Model, StreamItem
from finbot.llm.network import check_model_request
from finbot.llm.parsing import parse_arguments, tool_calls_in_text

OPENAI_URL = "https://api.openai.com/v1"
SCHEMA_HINT = ("When you have what you need, answer with only a JSON object matching this "
               "JSON schema, and nothing else:\n")
"""Spells the answer's schema out in the system turn (followed by the schema's JSON)."""
_UNAVAILABLE = (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


class OpenAICompatibleModel(Model):
    """A chat-completions endpoint. ``transport`` replaces the network (record/replay)."""

    def __init__(self, *, model: str | None, base_url: str | None = None,
                 api_key: str | None = None, timeout_s: float = 120.0, max_retries: int = 3,
                 transport: httpx2.BaseTransport | None = None,
                 json_mode: bool = True) -> None:
        if not model:
            raise ConfigurationError(
                "no model name for the openai-compatible provider: set FINBOT_LLM_MODEL "
                "(or the agent's `model` in the config file)", field="llm_model")
        url = (base_url or OPENAI_URL).rstrip("/")
        if not api_key and url == OPENAI_URL:
            raise ConfigurationError(
                "the openai-compatible provider needs FINBOT_LLM_API_KEY for api.openai.com, "
                "or FINBOT_LLM_BASE_URL pointing at a local server (Ollama, vLLM, "
                "llama.cpp)", field="llm_api_key")
        self.name = f"openai-compatible:{model}"
        self.model = model
        self.base_url = url
        self._json_mode = json_mode
        http = httpx2.Client(transport=transport) if transport is not None else None
        self._client = openai.OpenAI(api_key=api_key or "not-needed", base_url=url,
                                     timeout=timeout_s, max_retries=max_retries,
                                     http_client=http)

    def request(self, request: ModelRequest) -> ModelResponse:
        check_model_request(self.base_url)
        with _translated_errors(self):
            completion = self._client.chat.completions.create(**self._payload(request))
        if not completion.choices:
            raise ModelError(f"{self.name} answered with no choices")
        choice = completion.choices[0]
        usage = completion.usage
        return self._response(
            choice.message.content or "",
            [(c.id, c.function.name, c.function.arguments)
             for c in choice.message.tool_calls or () if c.type == "function"],
            request, Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
            completion.model, choice.finish_reason or "stop")

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        check_model_request(self.base_url)
        text: list[str] = []
        calls: dict[int, list[str]] = {}
        usage, model, finish = Usage(), self.model, "stop"
        with _translated_errors(self):
            for chunk in self._client.chat.completions.create(
                    **self._payload(request), stream=True,
                    stream_options={"include_usage": True}):
                model = chunk.model or model
                if chunk.usage:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices:
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        yield choice.delta.content
                    for delta in choice.delta.tool_calls or ():
                        _merge_call_delta(calls, delta)
        yield self._response("".join(text), [(c[0], c[1], c[2]) for _, c in sorted(
            calls.items())], request, usage, model, finish)

    def _payload(self, request: ModelRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model, "temperature": request.temperature,
            "messages": [wire_message(m) for m in _with_schema_hint(request)]}
        if request.max_tokens:
            payload["max_tokens"] = request.max_tokens
        if request.tools:
            payload["tools"] = [{"type": "function", "function": t.to_json()}
                                for t in request.tools]
        elif request.output_schema is not None and self._json_mode:
            payload["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "answer", "schema": dict(request.output_schema)}}
        return payload

    def _response(self, text: str, wire_calls: list[tuple[str, str, str]],
                  request: ModelRequest, usage: Usage, model: str,
                  finish: str) -> ModelResponse:
        calls = [ToolCallRequest(call_id or f"call_{i}", name,
                                 parse_arguments(raw) or {}, raw or "")
                 for i, (call_id, name, raw) in enumerate(wire_calls)]
        if not calls and request.tools:
            written = tool_calls_in_text(text, {t.name for t in request.tools})
            calls = [ToolCallRequest(f"text_call_{i}", name, arguments,
                                     json.dumps(arguments, sort_keys=True))
                     for i, (name, arguments) in enumerate(written)]
            text = "" if calls else text
        return ModelResponse(text, tuple(calls), usage, model, finish)


def _with_schema_hint(request: ModelRequest) -> tuple[Message, ...]:
    """The messages, with the answer's schema spelled out in the system turn: many local
    servers ignore ``response_format`` and every model reads the prompt."""
    if request.output_schema is None:
        return request.messages
    hint = SCHEMA_HINT + json.dumps(request.output_schema, sort_keys=True)
    messages = list(request.messages)
    if messages and messages[0].role == "system":
        messages[0] = Message("system", f"{messages[0].content}\n\n{hint}")
    else:
        messages.insert(0, Message("system", hint))
    return tuple(messages)


def wire_message(message: Message) -> dict[str, Any]:
    """A turn as chat-completions JSON (``tool_calls`` as functions, ``tool_call_id``)."""
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name,
                          "arguments": c.raw_arguments or json.dumps(dict(c.arguments))}}
            for c in message.tool_calls]
    if message.role == "tool":
        wire["tool_call_id"] = message.tool_call_id
    return wire


def _merge_call_delta(calls: dict[int, list[str]], delta: Any) -> None:
    """Streamed tool calls arrive in pieces keyed by index: id and name once, the
    arguments' JSON a few characters at a time."""
    call = calls.setdefault(delta.index, ["", "", ""])
    if delta.id:
        call[0] = delta.id
    if delta.function is not None:
        call[1] += delta.function.name or ""
        call[2] += delta.function.arguments or ""


@contextmanager
def _translated_errors(model: OpenAICompatibleModel) -> Iterator[None]:
    """Map the SDK's exceptions to FinBot's tree, naming the setting when it is ours."""
    try:
        yield
    except openai.OpenAIError as error:
        raise _translated(model, error) from error


def _translated(model: OpenAICompatibleModel, error: openai.OpenAIError) -> Exception:
    where = f"{model.name} at {model.base_url}"
    if isinstance(error, _UNAVAILABLE):
        return ModelUnavailable(f"{where} is unavailable: {_brief(error)}")
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ConfigurationError(f"{where} refused the API key: set FINBOT_LLM_API_KEY "
                                  f"({_brief(error)})", field="llm_api_key")
    if isinstance(error, openai.NotFoundError):
        return ConfigurationError(
            f"{where} does not know model {model.model!r} or the URL is wrong: check "
            f"FINBOT_LLM_MODEL and FINBOT_LLM_BASE_URL ({_brief(error)})", field="llm_model")
    return ModelError(f"{where} failed: {_brief(error)}")


def _brief(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    body = getattr(error, "body", None)
    detail = body.get("message") if isinstance(body, Mapping) else None
    return f"HTTP {status}: {detail or error}" if status else f"{type(error).__name__}: {error}"
