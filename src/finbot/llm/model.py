"""The one port agents depend on: a model that answers a request, whole or streamed.

Providers implement ``request``; ``stream`` yields text deltas and then, last, the whole
response, so a chat can show words as they come and still record the exchange. Providers
that cannot stream inherit a stream of one delta.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from finbot.llm.messages import ModelRequest, ModelResponse

StreamItem = str | ModelResponse
"""A text delta, or (last) the complete response."""


class Model(ABC):
    """A chat model with tools and structured output."""

    name: str
    """provider:model, e.g. ``offline:naive-v1`` or ``openai-compatible:llama3.2:1b``."""

    @abstractmethod
    def request(self, request: ModelRequest) -> ModelResponse:
        """Answer one request; raises ModelUnavailable when the provider cannot."""

    def stream(self, request: ModelRequest) -> Iterator[StreamItem]:
        response = self.request(request)
        if response.text:
            yield response.text
        yield response


def final_response(stream: Iterator[StreamItem]) -> ModelResponse:
    """Drain a stream and return its complete response."""
    for item in stream:
        if isinstance(item, ModelResponse):
            return item
    raise RuntimeError("a model stream ended without its response")
