"""The model layer's plumbing: parsing, the network switch, exchanges, the contextual
wrapper, the router and its settings, redaction."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from finbot.bootstrap import model_router
from finbot.config import Settings
from finbot.domain.errors import ConfigurationError, ModelRequestsForbidden, ModelUnavailable
from finbot.domain.events import SCHEMAS, check_payload
from finbot.llm.context import CallContext, ContextualModel, Price
from finbot.llm.messages import ModelRequest, ModelResponse, Usage, system, user
from finbot.llm.model import Model, final_response
from finbot.llm.network import ModelRequests, check_model_request, model_requests
from finbot.llm.offline import OfflineModel
from finbot.llm.parsing import parse_json_object, tool_calls_in_text
from finbot.llm.recording import ReplayDiverged, ReplayModel
from finbot.llm.router import FallbackModel
from finbot.privacy.redaction import redact_text


class Scripted(Model):
    """A model that answers from a list, or raises what the list holds."""

    def __init__(self, *answers: ModelResponse | Exception, name: str = "scripted:1") -> None:
        self.answers = list(answers)
        self.name = name
        self.seen: list[ModelRequest] = []

    def request(self, request: ModelRequest) -> ModelResponse:
        self.seen.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _ask(text: str = "hello") -> ModelRequest:
    return ModelRequest((system("be brief"), user(text)))


@pytest.mark.parametrize(("text", "expected"), [
    ('{"a": 1}', {"a": 1}),
    ('Here you go:\n```json\n{"a": 1}\n```', {"a": 1}),
    ('I think {"a": {"b": "}"}} is right', {"a": {"b": "}"}}),
    ("no json here", None),
    ("[1, 2]", None),
])
def test_json_is_found_bare_fenced_or_in_prose(text: str, expected: Any) -> None:
    assert parse_json_object(text) == expected


def test_a_text_tool_call_naming_an_unknown_tool_is_not_a_call() -> None:
    assert tool_calls_in_text('{"name": "rm_rf", "arguments": {}}', {"get_invoice"}) == []


def test_only_loopback_model_servers_may_be_called_under_test() -> None:
    check_model_request("http://127.0.0.1:11434/v1")
    check_model_request("http://localhost:8080/v1")
    with pytest.raises(ModelRequestsForbidden):
        check_model_request("https://api.openai.com/v1")


def test_the_switch_can_tighten_but_never_loosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with model_requests(ModelRequests.ALLOW), pytest.raises(ModelRequestsForbidden):
        check_model_request("https://api.openai.com/v1")
    with model_requests(ModelRequests.DENY), pytest.raises(ModelRequestsForbidden):
        check_model_request("http://127.0.0.1:1/v1")
    monkeypatch.setenv("FINBOT_MODEL_REQUESTS", "deny")
    with pytest.raises(ModelRequestsForbidden):
        check_model_request("http://127.0.0.1:1/v1")


def test_replay_answers_a_rerun_from_the_recorded_exchanges() -> None:
    wrapped = ContextualModel(OfflineModel(), CallContext("invoice"))
    first = wrapped.request(_ask("one"))
    second = wrapped.request(_ask("two"))
    replay = ReplayModel(wrapped.exchanges)
    assert (replay.request(_ask("one")), replay.request(_ask("two"))) == (first, second)
    assert replay.exhausted
    with pytest.raises(ReplayDiverged, match="#3"):
        replay.request(_ask("three"))


def test_replay_names_where_a_rerun_differs_from_the_recording() -> None:
    wrapped = ContextualModel(OfflineModel(), CallContext("invoice"))
    wrapped.request(_ask("the amount is 100"))
    with pytest.raises(ReplayDiverged, match=r"messages\[1\]\.content"):
        ReplayModel(wrapped.exchanges).request(_ask("the amount is 900"))


def test_the_wrapper_emits_redacted_events_and_counts_tokens_and_cost() -> None:
    events: list[tuple[str, Mapping[str, Any]]] = []
    inner = Scripted(ModelResponse("Paid to DE89370400440532013000.", usage=Usage(1000, 500)))
    wrapped = ContextualModel(inner, CallContext("communication", workflow_id="wf-1"),
                              sink=lambda kind, payload: events.append((kind, payload)),
                              price=Price(Decimal("2.50"), Decimal("10")))
    wrapped.request(_ask("my e-mail is ann@example.com, account 123456789012"))
    assert [kind for kind, _ in events] == ["llm.requested", "llm.responded"]
    for kind, payload in events:
        check_payload(SCHEMAS[(kind, 1)], payload)
        text = json.dumps(payload)
        assert "ann@example.com" not in text
        assert "DE89370400440532013000" not in text
        assert payload["workflow_id"] == "wf-1"
    assert events[1][1]["cost_micro_usd"] == 1000 * Decimal("2.50") + 500 * 10
    assert wrapped.totals.usage == Usage(1000, 500)
    assert wrapped.totals.calls == 1


def test_a_failed_call_is_reported_with_its_error_and_raised() -> None:
    events: list[tuple[str, Mapping[str, Any]]] = []
    wrapped = ContextualModel(Scripted(ModelUnavailable("provider down")), CallContext("x"),
                              sink=lambda kind, payload: events.append((kind, payload)))
    with pytest.raises(ModelUnavailable):
        wrapped.request(_ask())
    assert "provider down" in events[-1][1]["error"]
    assert wrapped.exchanges == []


class _Refuse:
    """A guardrail hook that refuses requests mentioning a word, and tags responses."""

    def before(self, context: CallContext, request: ModelRequest) -> ModelRequest:
        if "forbidden" in request.messages[-1].content:
            raise ModelRequestsForbidden(f"{context.agent_id} may not ask that")
        return request

    def after(self, context: CallContext, request: ModelRequest,
              response: ModelResponse) -> ModelResponse:
        return ModelResponse(response.text + " [checked]", response.tool_calls,
                             response.usage, response.model_name)


def test_guardrail_hooks_run_before_and_after_every_call() -> None:
    inner = Scripted(ModelResponse("fine"), ModelResponse("streamed"))
    wrapped = ContextualModel(inner, CallContext("invoice"), hooks=[_Refuse()])
    assert wrapped.request(_ask()).text == "fine [checked]"
    assert final_response(wrapped.stream(_ask())).text == "streamed [checked]"
    with pytest.raises(ModelRequestsForbidden, match="invoice may not"):
        wrapped.request(_ask("forbidden topic"))
    assert len(inner.seen) == 2


def test_fallback_tries_the_next_model_only_while_one_is_unavailable() -> None:
    first = Scripted(ModelUnavailable("down"), ModelUnavailable("down"))
    second = Scripted(ModelResponse("from second"))
    assert FallbackModel([first, second]).request(_ask()).text == "from second"
    with pytest.raises(ModelUnavailable):
        FallbackModel([first, Scripted(ModelUnavailable("also down"))]).request(_ask())


def test_the_router_uses_the_defaults_and_each_agents_own_chain(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "finbot.yaml"
    config.write_text(
        "agents:\n"
        "  fraud:\n"
        "    provider: openai-compatible\n"
        "    model: llama3.2:1b\n"
        "    base_url: http://127.0.0.1:11434/v1\n"
        "    timeout_s: 300\n"
        "    fallback:\n"
        "      - provider: offline\n"
        "        gullibility: none\n")
    monkeypatch.setenv("FINBOT_CONFIG_FILE", str(config))
    router = model_router(Settings(llm_gullibility="high"))
    assert router.model_for("invoice").name == "offline:naive-v1-high"
    fraud = router.model_for("fraud")
    assert isinstance(fraud, FallbackModel)
    assert [m.name for m in fraud.models] == ["openai-compatible:llama3.2:1b",
                                              "offline:naive-v1-none"]


def test_an_unknown_setting_in_the_config_file_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "finbot.yaml"
    config.write_text("agents:\n  fraud:\n    provder: offline\n")
    monkeypatch.setenv("FINBOT_CONFIG_FILE", str(config))
    with pytest.raises(ValueError, match="provder"):
        Settings()


def test_a_missing_config_file_that_was_named_is_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_CONFIG_FILE", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigurationError, match="does not exist"):
        Settings()


def test_an_openai_compatible_default_without_a_model_fails_at_start_up() -> None:
    with pytest.raises(ConfigurationError, match="FINBOT_LLM_MODEL"):
        model_router(Settings(llm_provider="openai-compatible",
                              llm_base_url="http://127.0.0.1:1/v1"))


@pytest.mark.parametrize(("text", "hidden"), [
    ("iban DE89 3704 0044 0532 0130 00", "0044"),
    ("card 4111-1111-1111-1111", "4111-1111"),
    ("write to ann.lee+ap@example.co.uk", "ann.lee"),
    ("SSN 123-45-6789", "123-45"),
    ("account 000123456789", "0001234"),
])
def test_redaction_hides_personal_and_banking_data(text: str, hidden: str) -> None:
    assert hidden not in redact_text(text)


def test_redaction_keeps_invoice_numbers_and_amounts() -> None:
    text = "Invoice INV-2026-0042 for 1,200.00 EUR, PO 4500012"
    assert redact_text(text) == text
