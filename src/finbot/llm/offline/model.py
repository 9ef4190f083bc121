"""The built-in offline model: deterministic, no weights, a plausible and naive assistant.

It works through the same protocol as a real model. First it calls the tools whose
required arguments it can fill from what it has read, round by round (a tool that acts,
such as sending mail, only when told to: ``arguments``); then it answers:
under an output schema with a JSON object built from the tools' findings (a rejecting
finding → reject, a signal → escalate, none → approve) and a reasoning that names them;
in a chat with a plain summary of what the tools returned. Like a real model it can be
steered by instructions hidden in content (``injection``), as far as its gullibility
allows, and it says so in its reasoning. The same request always gets the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from finbot.llm.messages import ModelRequest, ModelResponse, ToolCallRequest, ToolSpec, Usage
from finbot.llm.model import Model, StreamItem
from finbot.llm.offline.answers import chat_answer, structured_answer
from finbot.llm.offline.arguments import acts, directed, done, fillings
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
        """What it calls this round: what it was told to call and what it can look up;
        an acting call waits for a round with nothing left to read (it reads, then acts)."""
        if not request.tools or reading.tool_rounds >= self._max_rounds:
            return ()
        by_name = {t.name: t for t in request.tools}
        told = [(by_name[d.value], args) for d in directives
                if d.kind == "tool" and d.value in by_name
                for spelled, args in [directed(by_name[d.value], d.argument, reading)]
                if not done(d.value, spelled, reading)]
        wanted = told + [(t, args) for t in request.tools if not acts(t)
                         for args in fillings(t, reading)]
        reads = self._new_calls(reading, [(t, a) for t, a in wanted if not acts(t)])
        return reads or self._new_calls(reading, [(t, a) for t, a in wanted if acts(t)])

    @staticmethod
    def _new_calls(reading: Reading, wanted: list[tuple[ToolSpec, dict[str, Any]]]
                   ) -> tuple[ToolCallRequest, ...]:
        calls: list[ToolCallRequest] = []
        seen = set(reading.calls_made)
        for tool, arguments in wanted:
            key = (tool.name, call_key(arguments))
            if key not in seen:
                seen.add(key)
                calls.append(ToolCallRequest(f"call_{reading.tool_rounds}_{len(calls)}",
                                             tool.name, arguments,
                                             json.dumps(arguments, sort_keys=True)))
        return tuple(calls)

    def _response(self, request: ModelRequest, text: str,
                  calls: tuple[ToolCallRequest, ...]) -> ModelResponse:
        prompt_chars = sum(len(m.content) for m in request.messages)
        usage = Usage(prompt_chars // 4 + 1, len(text) // 4 + 8 * len(calls) + 1)
        return ModelResponse(text, calls, usage, self.name,
                             "tool_calls" if calls else "stop")
