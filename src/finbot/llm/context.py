"""The model an agent is actually handed: any model, wrapped with who is asking and why.

Every call carries the agent, workflow and session it belongs to; emits ``llm.requested``
and ``llm.responded`` events with personal data redacted; counts tokens, latency and cost;
runs guardrail hooks before and after; and keeps each exchange, so the decision it led to
can be replayed exactly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from finbot.domain.audit import canonical_json, sha256_hex
from finbot.llm.messages import ModelRequest, ModelResponse, Usage, last_user_text
from finbot.llm.model import Model, StreamItem
from finbot.llm.recording import Exchange
from finbot.llm.remembered import for_short_texts
from finbot.observability.tracing import closed, opened, span
from finbot.privacy.redaction import redact_text

EXCERPT_CHARS = 400


@dataclass(frozen=True)
class CallContext:
    """Who is asking the model, and in which piece of work."""

    agent_id: str
    workflow_id: str = ""
    session_id: str = ""
    tenant: str = ""


@dataclass(frozen=True)
class Price:
    """What a provider charges, in USD per million tokens (Decimal: it is money)."""

    input_per_million: Decimal = Decimal("0")
    output_per_million: Decimal = Decimal("0")

    def cost_micro_usd(self, usage: Usage) -> int:
        total = (usage.input_tokens * self.input_per_million
                 + usage.output_tokens * self.output_per_million)
        return int(total)  # USD per million tokens x tokens = micro-USD


class Hook(Protocol):
    """A guardrail around model calls: it may rewrite or refuse a request or a response
    (refusing by raising a FinbotError)."""

    def before(self, context: CallContext, request: ModelRequest) -> ModelRequest: ...
    def after(self, context: CallContext, request: ModelRequest,
              response: ModelResponse) -> ModelResponse: ...


EventSink = Callable[[str, Mapping[str, Any]], None]
"""Receives (event type, payload) for each llm.* event; wired to the outbox."""


@dataclass(frozen=True)
class _Call:
    """One call in flight: the request as sent (and its JSON, built once), id, start."""

    request: ModelRequest
    request_json: dict[str, Any]
    call_id: str
    started: float


@dataclass
class CallTotals:
    """What the calls through one wrapper cost so far."""

    calls: int = 0
    usage: Usage = field(default_factory=Usage)
    latency_us: int = 0
    cost_micro_usd: int = 0


class ModelSource(Protocol):
    """Where an agent's model chain and its price come from (``ModelRouter``; a fixed
    model in tests)."""

    def model_for(self, agent_id: str) -> Model: ...

    def price_of(self, model: Model) -> Price: ...


def contextual_model(source: ModelSource, context: CallContext, *,
                     sink: EventSink | None = None) -> ContextualModel:
    """The model chain of ``context``'s agent from ``source``, wrapped with its identity,
    its events (to ``sink``) and its accounting at the chain's price."""
    inner = source.model_for(context.agent_id)
    return ContextualModel(inner, context, sink=sink, price=source.price_of(inner))


class ContextualModel(Model):
    """Wraps a model with identity, events, accounting, hooks and exchange recording."""

    def __init__(self, inner: Model, context: CallContext, *, sink: EventSink | None = None,
                 hooks: Sequence[Hook] = (), price: Price | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.context = context
        self.exchanges: list[Exchange] = []
        self.totals = CallTotals()
        self._sink = sink
        self._hooks = tuple(hooks)
        self._price = price or Price()

    def request(self, request: ModelRequest) -> ModelResponse:
        with span("llm.call", **self._span_attributes()) as current:
            call = self._begin(request)
            try:
                response = self.inner.request(call.request)
            except Exception as error:
                self._failed(call, error)
                raise
            response = self._end(call, response)
            current.set_attributes(self._usage_attributes(response))
        return response

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        """The inner model's stream, with the same events, accounting and hooks as a
        request; its span is not made current (the reader may resume the stream in
        another thread)."""
        current = opened("llm.call", **self._span_attributes())
        failure: BaseException | None = None
        try:
            call = self._begin(request)
            try:
                for item in self.inner.stream(call.request):
                    if isinstance(item, ModelResponse):
                        item = self._end(call, item)
                        current.set_attributes(self._usage_attributes(item))
                    yield item
            except Exception as error:
                self._failed(call, error)
                raise
        except Exception as error:
            failure = error
            raise
        finally:
            closed(current, failure)

    def _span_attributes(self) -> dict[str, str]:
        provider, _, model = self.name.partition(":")
        return {"gen_ai.system": provider, "gen_ai.request.model": model,
                "finbot.agent_id": self.context.agent_id}

    def _usage_attributes(self, response: ModelResponse) -> dict[str, str | int]:
        return {"gen_ai.response.model": response.model_name or self.name,
                "gen_ai.usage.input_tokens": response.usage.input_tokens,
                "gen_ai.usage.output_tokens": response.usage.output_tokens}

    def _begin(self, request: ModelRequest) -> _Call:
        for hook in self._hooks:
            request = hook.before(self.context, request)
        call = _Call(request, request.to_json(), uuid.uuid4().hex, time.monotonic())
        self._emit("llm.requested", {
            "call_id": call.call_id, "model": self.name, "messages": len(request.messages),
            "tools": len(request.tools),
            "request_sha256": sha256_hex(canonical_json(call.request_json)),
            "excerpt": _excerpt(last_user_text(request.messages))})
        return call

    def _end(self, call: _Call, response: ModelResponse) -> ModelResponse:
        for hook in self._hooks:
            response = hook.after(self.context, call.request, response)
        latency_us = int((time.monotonic() - call.started) * 1_000_000)
        cost = self._price.cost_micro_usd(response.usage)
        self.totals.calls += 1
        self.totals.usage += response.usage
        self.totals.latency_us += latency_us
        self.totals.cost_micro_usd += cost
        self.exchanges.append(Exchange(self.name, call.request_json, response.to_json(),
                                       latency_us))
        self._emit("llm.responded", {
            "call_id": call.call_id, "model": response.model_name or self.name,
            "latency_us": latency_us, "input_tokens": response.usage.input_tokens,
            "output_tokens": response.usage.output_tokens, "cost_micro_usd": cost,
            "tool_calls": ",".join(c.name for c in response.tool_calls),
            "excerpt": _excerpt(response.text), "error": ""})
        return response

    def _failed(self, call: _Call, error: Exception) -> None:
        self._emit("llm.responded", {
            "call_id": call.call_id, "model": self.name,
            "latency_us": int((time.monotonic() - call.started) * 1_000_000), "input_tokens": 0,
            "output_tokens": 0, "cost_micro_usd": 0, "tool_calls": "", "excerpt": "",
            "error": _excerpt(f"{type(error).__name__}: {error}")})

    def _emit(self, type_: str, payload: dict[str, Any]) -> None:
        if self._sink is not None:
            self._sink(type_, {"agent_id": self.context.agent_id,
                               "workflow_id": self.context.workflow_id, **payload})


@for_short_texts(maxsize=1024)
def _excerpt(text: str) -> str:
    """The first ``EXCERPT_CHARS`` of ``text`` once personal data is redacted (the whole
    text is redacted first: a number cut in two would escape the patterns)."""
    return redact_text(text)[:EXCERPT_CHARS]
