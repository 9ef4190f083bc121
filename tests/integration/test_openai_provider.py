"""The OpenAI-compatible provider against a real HTTP server speaking the protocol."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from finbot.domain.errors import (
    ConfigurationError,
    ModelError,
    ModelRequestsForbidden,
    ModelUnavailable,
)
from finbot.llm.messages import ModelRequest, ModelResponse, ToolSpec, system, tool_result, user
from finbot.llm.model import final_response
from finbot.llm.offline import OfflineModel
from finbot.llm.openai_compatible import OpenAICompatibleModel
from finbot.llm.recording import Cassette, RecordingTransport, ReplayDiverged, ReplayTransport
from finbot.llm.router import FallbackModel
from tests.openai_server import Reply, chunk, completion, openai_server

LOOKUP = ToolSpec("get_invoice", "Fetch one invoice by id", {
    "type": "object", "properties": {"invoice_id": {"type": "string"}},
    "required": ["invoice_id"]})
ANSWER = {"type": "object", "properties": {"outcome": {"enum": ["APPROVE", "REJECT"]}},
          "required": ["outcome"]}


def _ask(text: str = "Is invoice inv-1 payable?", **kwargs: object) -> ModelRequest:
    return ModelRequest((system("You review invoices."), user(text)), **kwargs)  # type: ignore[arg-type]


def _model(url: str, **kwargs: object) -> OpenAICompatibleModel:
    options: dict[str, object] = {"model": "tiny-1b", "base_url": url, "api_key": "sk-test",
                                  "timeout_s": 5.0, "max_retries": 0}
    options.update(kwargs)
    return OpenAICompatibleModel(**options)  # type: ignore[arg-type]


def test_a_plain_answer_carries_text_usage_and_the_model_name() -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(completion("It is payable.", usage=(21, 4))))
        response = _model(url).request(_ask())
    assert response.text == "It is payable."
    assert (response.usage.input_tokens, response.usage.output_tokens) == (21, 4)
    assert response.model_name == "tiny-1b"
    sent = script.requests[0]
    assert sent["_path"] == "/v1/chat/completions"
    assert sent["_authorization"] == "Bearer sk-test"
    assert sent["model"] == "tiny-1b"
    assert [m["role"] for m in sent["messages"]] == ["system", "user"]


def test_tool_calls_are_sent_as_functions_and_read_back_with_parsed_arguments() -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(completion(tool_calls=[
            ("call_9", "get_invoice", '{"invoice_id": "inv-1"}')])))
        response = _model(url).request(_ask(tools=(LOOKUP,)))
    assert script.requests[0]["tools"][0]["function"]["name"] == "get_invoice"
    [call] = response.tool_calls
    assert (call.id, call.name, dict(call.arguments)) == ("call_9", "get_invoice",
                                                          {"invoice_id": "inv-1"})


def test_a_tool_result_goes_back_with_its_call_id() -> None:
    with openai_server() as (url, script):
        script.replies += [Reply(completion(tool_calls=[("c1", "get_invoice",
                                                        '{"invoice_id":"inv-1"}')])),
                           Reply(completion("Paid on Friday."))]
        model, request = _model(url), _ask(tools=(LOOKUP,))
        first = model.request(request)
        second = model.request(request.extended(
            first.as_message(), tool_result(first.tool_calls[0], '{"status": "paid"}')))
    assert second.text == "Paid on Friday."
    assistant, tool = script.requests[1]["messages"][2:]
    assert assistant["tool_calls"][0]["id"] == "c1"
    assert (tool["role"], tool["tool_call_id"], tool["content"]) == ("tool", "c1",
                                                                     '{"status": "paid"}')


@pytest.mark.parametrize("content", [
    '<tool_call>{"name": "get_invoice", "arguments": {"invoice_id": "inv-1"}}</tool_call>',
    'Sure!\n```json\n{"name": "get_invoice", "arguments": "{\\"invoice_id\\": \\"inv-1\\"}"}\n```',
])
def test_a_small_models_tool_call_written_as_text_is_read_as_a_tool_call(content: str) -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(completion(content)))
        response = _model(url).request(_ask(tools=(LOOKUP,)))
    assert response.text == ""
    assert [(c.name, dict(c.arguments)) for c in response.tool_calls] == [
        ("get_invoice", {"invoice_id": "inv-1"})]


def test_structured_output_asks_for_the_schema_in_the_format_and_the_prompt() -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(completion('{"outcome": "APPROVE"}')))
        response = _model(url).request(_ask(output_schema=ANSWER))
    sent = script.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == ANSWER
    assert "JSON schema" in sent["messages"][0]["content"]
    assert json.loads(response.text) == {"outcome": "APPROVE"}


def test_a_stream_yields_words_in_order_then_the_whole_response() -> None:
    stream = [chunk({"role": "assistant", "content": "Your "}), chunk({"content": "invoice "}),
              chunk({"content": "is paid."}, finish="stop"), chunk({}, usage=(30, 5))]
    with openai_server() as (url, script):
        script.replies.append(Reply(stream=stream))
        items = list(_model(url).stream(_ask()))
    assert items[:-1] == ["Your ", "invoice ", "is paid."]
    last = items[-1]
    assert isinstance(last, ModelResponse)
    assert last.text == "Your invoice is paid."
    assert (last.usage.input_tokens, last.usage.output_tokens) == (30, 5)
    assert script.requests[0]["stream"] is True


def test_a_streamed_tool_call_arriving_in_pieces_is_assembled() -> None:
    stream = [chunk({"tool_calls": [{"index": 0, "id": "c7", "type": "function",
                                     "function": {"name": "get_invoice", "arguments": ""}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"invoice_'}}]}),
              chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'id": "inv-2"}'}}]},
                    finish="tool_calls")]
    with openai_server() as (url, script):
        script.replies.append(Reply(stream=stream))
        response = final_response(_model(url).stream(_ask(tools=(LOOKUP,))))
    [call] = response.tool_calls
    assert (call.id, call.name, dict(call.arguments)) == ("c7", "get_invoice",
                                                          {"invoice_id": "inv-2"})


def test_a_transient_server_error_is_retried_with_backoff() -> None:
    with openai_server() as (url, script):
        script.replies += [Reply(status=503, body={"error": {"message": "overloaded"}}),
                           Reply(completion("ok"))]
        response = _model(url, max_retries=2).request(_ask())
    assert response.text == "ok"
    assert len(script.requests) == 2


def test_a_server_that_keeps_failing_is_unavailable_after_the_retries() -> None:
    with openai_server() as (url, script):
        script.replies += [Reply(status=500, body={"error": {"message": "boom"}})] * 2
        with pytest.raises(ModelUnavailable, match="HTTP 500"):
            _model(url, max_retries=1).request(_ask())
    assert len(script.requests) == 2


def test_a_slow_server_times_out_as_unavailable() -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(completion("late"), delay_s=2.0))
        started = time.monotonic()
        with pytest.raises(ModelUnavailable):
            _model(url, timeout_s=0.3).request(_ask())
    assert time.monotonic() - started < 1.8


@pytest.mark.parametrize(("status", "setting"), [(401, "FINBOT_LLM_API_KEY"),
                                                 (404, "FINBOT_LLM_MODEL")])
def test_a_refused_key_or_unknown_model_names_the_setting_to_fix(status: int,
                                                                 setting: str) -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(status=status, body={"error": {"message": "nope"}}))
        with pytest.raises(ConfigurationError, match=setting):
            _model(url).request(_ask())


def test_a_bad_request_is_a_model_error_with_the_servers_message() -> None:
    with openai_server() as (url, script):
        script.replies.append(Reply(status=400, body={"error": {"message": "context too long"}}))
        with pytest.raises(ModelError, match="context too long"):
            _model(url).request(_ask())


def test_missing_settings_are_named_before_any_call() -> None:
    with pytest.raises(ConfigurationError, match="FINBOT_LLM_MODEL"):
        OpenAICompatibleModel(model=None, base_url="http://127.0.0.1:1/v1")
    with pytest.raises(ConfigurationError, match="FINBOT_LLM_API_KEY"):
        OpenAICompatibleModel(model="gpt-x")


def test_tests_can_never_reach_a_network_model() -> None:
    model = OpenAICompatibleModel(model="gpt-x", api_key="sk-real")
    with pytest.raises(ModelRequestsForbidden, match=r"api\.openai\.com"):
        model.request(_ask())
    with pytest.raises(ModelRequestsForbidden):
        list(model.stream(_ask()))


def test_a_recorded_conversation_replays_byte_for_byte_without_the_server(
        tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "conversation.jsonl")
    request = _ask(tools=(LOOKUP,))
    with openai_server() as (url, script):
        script.replies += [Reply(completion(tool_calls=[("c1", "get_invoice",
                                                        '{"invoice_id":"inv-1"}')])),
                           Reply(completion("Approved: it matches the PO."))]
        live = _model(url, transport=RecordingTransport(cassette))
        first = live.request(request)
        follow_up = request.extended(first.as_message(),
                                     tool_result(first.tool_calls[0], '{"status": "open"}'))
        second = live.request(follow_up)
    assert "sk-test" not in cassette.path.read_text()
    transport = ReplayTransport(Cassette(cassette.path))
    replay = _model(url, transport=transport)
    assert replay.request(request) == first
    assert replay.request(follow_up) == second
    assert transport.exhausted
    with pytest.raises(ReplayDiverged, match="differs from the recording; nothing recorded"):
        replay.request(_ask("A different question"))
    fresh = _model(url, transport=ReplayTransport(Cassette(cassette.path)))
    with pytest.raises(ReplayDiverged, match=r"first at request\.messages\[\d\]\.content"):
        fresh.request(_ask("A different question"))


def test_the_router_falls_back_when_the_first_provider_is_unavailable() -> None:
    with openai_server() as (url, script):
        script.replies += [Reply(status=503, body={"error": {"message": "down"}})]
        chain = FallbackModel([_model(url), OfflineModel()])
        response = chain.request(_ask(output_schema=ANSWER))
    assert json.loads(response.text)["outcome"] in {"APPROVE", "REJECT"}
    assert len(script.requests) == 1
