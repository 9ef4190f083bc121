"""The vendor assistant as a service and as ``finbot chat``: questions and replies are
stored in their conversation, the model sees the conversation so far, and a failing model
loses nothing the vendor wrote."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from finbot.agents.runner import ChatTurn
from finbot.bootstrap import App
from finbot.domain.errors import InvalidInput, ModelUnavailable, NotFound
from finbot.domain.vendors import MAX_MESSAGE_CHARS, Message
from finbot.entrypoints.cli.chat import chat
from finbot.llm.context import Price
from finbot.llm.messages import ModelRequest, ModelResponse
from finbot.llm.model import Model
from finbot.llm.offline import OfflineModel
from finbot.services.assistant import VendorAssistant
from tests.workflow_kit import two_vendors_with_an_invoice_each

QUESTION = "What is the status of invoice_number A-1?"
runner = CliRunner()


class Recording(Model):
    """The offline model, keeping every request it answered."""

    name = "recording:offline"

    def __init__(self) -> None:
        self.inner = OfflineModel()
        self.seen: list[ModelRequest] = []

    def request(self, request: ModelRequest) -> ModelResponse:
        self.seen.append(request)
        return self.inner.request(request)


class Down(Model):
    name = "down:1"

    def request(self, request: ModelRequest) -> ModelResponse:
        raise ModelUnavailable("the provider is down")


class Verbose(Model):
    name = "verbose:1"

    def request(self, request: ModelRequest) -> ModelResponse:
        return ModelResponse("x" * (MAX_MESSAGE_CHARS + 500))


class OneModel:
    """A model source that answers every agent with one model and notes who asked."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.asked: list[str] = []

    def model_for(self, agent_id: str) -> Model:
        self.asked.append(agent_id)
        return self.model

    def price_of(self, model: Model) -> Price:
        return Price(Decimal("2"), Decimal("6"))


@pytest.fixture
def vendors(app: App) -> App:
    two_vendors_with_an_invoice_each(app)
    return app


def _assistant(app: App, model: Model | None = None, *, history: int = 20
               ) -> VendorAssistant:
    models = OneModel(model) if model is not None else app.models
    return VendorAssistant(app.uow, models, app.agent_tools, history=history)


def _ask(assistant: VendorAssistant, vendor_id: str, text: str,
         conversation_id: str) -> tuple[str, ChatTurn]:
    items = list(assistant.ask(vendor_id, text, conversation_id=conversation_id))
    turn = items.pop()
    assert isinstance(turn, ChatTurn)
    assert all(isinstance(item, str) for item in items)
    return "".join(str(item) for item in items), turn


def _model_events(app: App, conversation_id: str) -> list[tuple[str, dict[str, Any]]]:
    with app.uow() as uow:
        return [(e.type, dict(e.payload)) for _, e in uow.outbox.after((0, 0), limit=10_000)
                if e.aggregate_id == conversation_id and e.type.startswith("llm.")]


def _stored(app: App, vendor_id: str, conversation_id: str) -> list[Message]:
    with app.uow() as uow:
        return uow.vendors.messages(vendor_id, conversation_id=conversation_id)


def test_a_question_about_the_vendors_invoice_is_answered_and_both_are_stored(
        vendors: App) -> None:
    assistant = _assistant(vendors)  # the settings' model: offline
    conversation = assistant.start("v-a")
    streamed, turn = _ask(assistant, "v-a", QUESTION, conversation)
    assert streamed == turn.text
    assert "invoice number: A-1" in turn.text
    assert "1200.00" in turn.text
    assert "B-7" not in turn.text
    assert "my_invoice" in {call.name for call in turn.tool_calls}
    stored = _stored(vendors, "v-a", conversation)
    assert [(m.role, m.author_id, m.text) for m in stored] == [
        ("vendor", "v-a", QUESTION), ("assistant", "communication", turn.text)]
    assert stored[0].created_at_us <= stored[1].created_at_us


def test_every_conversation_id_is_new_and_fits_the_column(vendors: App) -> None:
    assistant = _assistant(vendors)
    ids = {assistant.start("v-a") for _ in range(3)}
    assert len(ids) == 3
    assert all(re.fullmatch(r"chat-[0-9a-f]{32}", i) for i in ids)


def test_a_follow_up_question_reaches_the_model_with_the_conversation_so_far(
        vendors: App) -> None:
    model = Recording()
    sources = OneModel(model)
    assistant = VendorAssistant(vendors.uow, sources, vendors.agent_tools)
    conversation = assistant.start("v-a")
    _, first = _ask(assistant, "v-a", QUESTION, conversation)
    asked_before = len(model.seen)
    _ask(assistant, "v-a", "And when is it due?", conversation)
    follow_up = model.seen[asked_before]
    assert follow_up.messages[0].role == "system"
    assert [(m.role, m.content) for m in follow_up.messages[1:]] == [
        ("user", QUESTION), ("assistant", first.text), ("user", "And when is it due?")]
    assert set(sources.asked) == {"communication"}
    assert len(_stored(vendors, "v-a", conversation)) == 4


def test_the_model_sees_only_the_latest_messages_of_a_long_conversation(
        vendors: App) -> None:
    model = Recording()
    assistant = _assistant(vendors, model, history=2)
    conversation = assistant.start("v-a")
    _, first = _ask(assistant, "v-a", QUESTION, conversation)
    asked_before = len(model.seen)
    _ask(assistant, "v-a", "And when is it due?", conversation)
    assert [(m.role, m.content) for m in model.seen[asked_before].messages[1:]] == [
        ("assistant", first.text), ("user", "And when is it due?")]


def test_a_conversation_id_never_carries_another_vendors_messages(vendors: App) -> None:
    model = Recording()
    assistant = _assistant(vendors, model)
    _ask(assistant, "v-a", QUESTION, "chat-shared")
    asked_before = len(model.seen)
    _ask(assistant, "v-b", "What are my invoices?", "chat-shared")
    assert [(m.role, m.content) for m in model.seen[asked_before].messages[1:]] == [
        ("user", "What are my invoices?")]
    assert [m.vendor_id for m in _stored(vendors, "v-b", "chat-shared")] == ["v-b", "v-b"]


def test_an_unknown_vendor_is_not_found_and_nothing_is_stored(vendors: App) -> None:
    assistant = _assistant(vendors, Recording())
    with pytest.raises(NotFound):
        assistant.start("v-nobody")
    with pytest.raises(NotFound):
        assistant.ask("v-nobody", QUESTION, conversation_id="chat-x")
    assert _stored(vendors, "v-nobody", "chat-x") == []


@pytest.mark.parametrize(("text", "conversation_id"), [
    ("   ", "chat-x"), ("x" * (MAX_MESSAGE_CHARS + 1), "chat-x"), (QUESTION, ""),
    (QUESTION, "c" * 65)], ids=["blank", "too-long", "no-conversation", "long-conversation"])
def test_a_malformed_question_is_refused_before_anything_is_stored(
        vendors: App, text: str, conversation_id: str) -> None:
    model = Recording()
    with pytest.raises(InvalidInput):
        _assistant(vendors, model).ask("v-a", text, conversation_id=conversation_id)
    with vendors.uow() as uow:
        assert uow.vendors.messages("v-a") == []
    assert model.seen == []


def test_a_failing_model_keeps_the_vendors_question(vendors: App) -> None:
    assistant = _assistant(vendors, Down())
    reply = assistant.ask("v-a", QUESTION, conversation_id="chat-down")
    assert [m.role for m in _stored(vendors, "v-a", "chat-down")] == ["vendor"]
    with pytest.raises(ModelUnavailable):
        list(reply)
    assert [(m.role, m.text) for m in _stored(vendors, "v-a", "chat-down")] == [
        ("vendor", QUESTION)]


def test_each_model_call_of_a_chat_is_announced_and_costed_like_an_agents(
        vendors: App) -> None:
    """The assistant's model is wrapped as the deciding agents' are: every call is an
    llm.requested and an llm.responded event (identity, tokens, cost, redacted excerpts),
    written with the stored reply."""
    model = Recording()
    assistant = _assistant(vendors, model)
    conversation = assistant.start("v-a")
    _, turn = _ask(assistant, "v-a", QUESTION + " My IBAN is DE89370400440532013000.",
                   conversation)
    events = _model_events(vendors, conversation)
    assert turn.tool_calls
    assert len(model.seen) >= 2
    assert [t for t, _ in events] == ["llm.requested", "llm.responded"] * len(model.seen)
    for _, payload in events:
        assert payload["agent_id"] == "communication"
        assert payload["workflow_id"] == conversation
        assert "DE89370400440532013000" not in str(payload)
    responded = [p for t, p in events if t == "llm.responded"]
    assert all(p["error"] == "" and p["output_tokens"] > 0 for p in responded)
    assert all(p["cost_micro_usd"] > 0 for p in responded)  # this source's price applies


def test_a_failing_models_call_is_announced_with_its_error(vendors: App) -> None:
    with pytest.raises(ModelUnavailable):
        list(_assistant(vendors, Down()).ask("v-a", QUESTION, conversation_id="chat-err"))
    events = _model_events(vendors, "chat-err")
    assert [t for t, _ in events] == ["llm.requested", "llm.responded"]
    assert events[1][1]["error"] == "ModelUnavailable: the provider is down"


def test_a_reply_longer_than_a_message_is_stored_truncated(vendors: App) -> None:
    _, turn = _ask(_assistant(vendors, Verbose()), "v-a", QUESTION, "chat-long")
    assert len(turn.text) == MAX_MESSAGE_CHARS + 500
    answer = _stored(vendors, "v-a", "chat-long")[-1]
    assert answer.role == "assistant"
    assert answer.text == turn.text[:MAX_MESSAGE_CHARS]


# -- finbot chat -------------------------------------------------------------------------


@pytest.fixture
def chat_cli() -> typer.Typer:
    cli = typer.Typer()
    cli.command()(chat)
    return cli


def _conversation_of(output: str) -> str:
    found = re.search(r"conversation (chat-[0-9a-f]{32})", output)
    assert found is not None, output
    return found.group(1)


def test_chat_with_a_message_prints_the_reply_and_the_conversation(
        vendors: App, env: None, chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-a", "-m", QUESTION])
    assert result.exit_code == 0, result.output
    assert "invoice number: A-1" in result.stdout
    conversation = _conversation_of(result.stdout)
    again = runner.invoke(chat_cli, ["--vendor", "v-a", "--message", "And when is it due?",
                                     "--conversation", conversation])
    assert again.exit_code == 0, again.output
    assert f"conversation {conversation}" in again.stdout
    assert [m.role for m in _stored(vendors, "v-a", conversation)] == [
        "vendor", "assistant", "vendor", "assistant"]


def test_chat_without_a_message_converses_until_an_empty_line(
        vendors: App, env: None, chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-a"],
                           input=f"{QUESTION}\nWhat are my invoices?\n\nnot read\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("you> ") == 3
    assert "invoice number: A-1" in result.stdout
    stored = _stored(vendors, "v-a", _conversation_of(result.stdout))
    assert [(m.role, m.text) for m in stored if m.role == "vendor"] == [
        ("vendor", QUESTION), ("vendor", "What are my invoices?")]
    assert len(stored) == 4


def test_chat_ends_at_the_end_of_input(vendors: App, env: None,
                                       chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-a"], input=QUESTION)
    assert result.exit_code == 0, result.output
    assert len(_stored(vendors, "v-a", _conversation_of(result.stdout))) == 2


def test_chat_as_an_unknown_vendor_is_a_clear_error(env: None, chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-nobody", "-m", QUESTION])
    assert result.exit_code == 2
    assert "error[not_found]: no vendor 'v-nobody'" in result.stderr


def test_chat_needs_a_vendor_and_has_help(chat_cli: typer.Typer) -> None:
    assert runner.invoke(chat_cli, ["-m", QUESTION]).exit_code == 2
    help_text = runner.invoke(chat_cli, ["--help"]).stdout
    for option in ("--vendor", "--message", "--conversation"):
        assert option in help_text


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured network model that every call is refused to, with no offline fallback."""
    monkeypatch.setenv("FINBOT_LLM_PROVIDER", "openai-compatible")
    monkeypatch.setenv("FINBOT_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("FINBOT_LLM_MODEL", "absent")
    monkeypatch.setenv("FINBOT_LLM_FALLBACK_OFFLINE", "false")
    monkeypatch.setenv("FINBOT_MODEL_REQUESTS", "deny")


def test_chat_reports_a_failing_model_and_keeps_the_question(
        vendors: App, env: None, no_model: None, chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-a", "-m", QUESTION])
    assert result.exit_code == 2
    assert "error[model_requests_forbidden]" in result.stderr
    with vendors.uow() as uow:
        assert [(m.role, m.text) for m in uow.vendors.messages("v-a")] == [
            ("vendor", QUESTION)]


def test_a_failing_model_does_not_end_an_interactive_chat(
        vendors: App, env: None, no_model: None, chat_cli: typer.Typer) -> None:
    result = runner.invoke(chat_cli, ["--vendor", "v-a"], input=f"{QUESTION}\nHello?\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("error[model_requests_forbidden]") == 2
    stored = _stored(vendors, "v-a", _conversation_of(result.stdout))
    assert [(m.role, m.text) for m in stored] == [("vendor", QUESTION), ("vendor", "Hello?")]
