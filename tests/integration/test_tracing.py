"""Traces across the whole path, caught by the SDK's in-memory exporter: an invoice
submitted over HTTP in the embedded mode and carried by the workers to its payment is one
trace (request, agent, model, gate, decision record, execution, ledger), each span under
the one that led to it; and no span holds a bank detail or a tax id."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from finbot.bootstrap import App
from finbot.config import Settings
from finbot.domain.payments import SagaState
from finbot.execution.escalations import payment_id_of
from finbot.observability.tracing import use_tracer_provider
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    company_with,
    purchase_order,
    run_until_idle,
)

IBAN = "DE89370400440532013000"
TAX_ID = "04-2103594"  # the clean vendor's
PAYMENT_DECISION = "invoice:inv-1:payment"


@dataclass(frozen=True)
class Submitted:
    """What the vendor's API client sent and was answered, with the token it used."""

    app: App
    token: str
    invoice: dict[str, str]
    request_id: str


def invoice_body() -> dict[str, object]:
    """The workflow kit's clean invoice, as its vendor's API client sends it."""
    invoice = clean_invoice()
    return {"vendor_id": invoice.vendor_id, "invoice_id": invoice.invoice_id,
            "number": invoice.number, "amount": str(invoice.amount),
            "currency": invoice.currency, "issued_on": invoice.issued_on.isoformat(),
            "due_on": invoice.due_on.isoformat(), "po_number": invoice.po_number,
            "text": invoice.text, "lines": [
                {"description": line.description, "quantity": str(line.quantity),
                 "unit_price": str(line.unit_price)} for line in invoice.lines]}


@contextmanager
def submitted_and_paid(settings: Settings, *, base_url: str | None = None
                       ) -> Iterator[Submitted]:
    """A vendor user's API client registers a second vendor (with an IBAN) and submits an
    invoice that passes every check; the workers then run until it is paid. With
    ``base_url`` the requests go to a real server there (the caller serves the app)."""
    with company_with(settings, clean_vendor()) as app:
        app.vendor_work.add_purchase_order(purchase_order())
        web = web_app(app)
        add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",))
        token = app.auth.issue_token("ann@acme.example", "ci")
        client = TestClient(web, base_url=base_url or "http://testserver",
                            headers={"Authorization": f"Bearer {token}"})
        vendor = client.post("/api/vendors", json={
            "legal_name": "Beta Widgets GmbH", "country": "DE", "iban": IBAN})
        assert vendor.status_code == 201, vendor.text
        answer = client.post("/api/invoices", json=invoice_body(),
                             headers={"Idempotency-Key": "inv-1"})
        assert answer.status_code == 201, answer.text
        run_until_idle(app)
        assert app.payments.get(payment_id_of(PAYMENT_DECISION)).state is SagaState.COMPLETED
        yield Submitted(app, token, answer.json(), answer.headers["x-request-id"])


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    use_tracer_provider(provider)
    yield exporter
    use_tracer_provider(None)
    provider.shutdown()


def _parents(trace: list[ReadableSpan]) -> dict[str, set[str | None]]:
    """For each span name, the names of the spans its spans are children of."""
    by_id = {s.context.span_id: s.name for s in trace if s.context is not None}
    found: dict[str, set[str | None]] = {}
    for s in trace:
        found.setdefault(s.name, set()).add(by_id.get(s.parent.span_id) if s.parent else None)
    return found


def test_an_invoice_submitted_over_http_is_one_trace_down_to_the_ledger(
        settings: Settings, exported: InMemorySpanExporter) -> None:
    with submitted_and_paid(settings) as submitted:
        pass
    spans = exported.get_finished_spans()
    [request] = [s for s in spans if s.name == "http.request"
                 and (s.attributes or {}).get("http.route") == "/api/invoices"]
    assert request.parent is None
    assert (request.attributes or {})["finbot.request_id"] == submitted.request_id
    trace = [s for s in spans if s.context.trace_id == request.context.trace_id]
    parents = _parents(trace)
    assert set(parents) >= {"http.request", "event.handle", "workflow.step", "policy.gate",
                            "agent.run", "llm.call", "decision.record",
                            "execution.saga_step", "ledger.transfer"}
    steps = {(s.attributes or {})["finbot.step"] for s in trace if s.name == "workflow.step"}
    assert steps == {"invoice", "fraud", "payment", "notify"}
    assert parents["workflow.step"] == {"http.request"}  # continued from invoice.submitted
    assert parents["policy.gate"] == {"workflow.step"}
    assert parents["agent.run"] == {"policy.gate"}
    assert parents["decision.record"] == {"policy.gate"}
    assert parents["llm.call"] == {"agent.run", "workflow.step"}  # the notify step's own
    assert parents["execution.saga_step"] == {"decision.record"}  # via decision.recorded
    assert parents["ledger.transfer"] == {"execution.saga_step", "event.handle"}  # + accrual
    assert parents["event.handle"] <= {"http.request", "decision.record", "workflow.step",
                                       "execution.saga_step", "event.handle"}


def test_the_saga_continues_the_trace_of_the_payment_decision(
        settings: Settings, exported: InMemorySpanExporter) -> None:
    with submitted_and_paid(settings):
        pass
    spans = exported.get_finished_spans()
    [record] = [s for s in spans if s.name == "decision.record"
                and (s.attributes or {})["finbot.decision_id"] == PAYMENT_DECISION]
    steps = [s for s in spans if s.name == "execution.saga_step"]
    assert {(s.attributes or {})["finbot.saga_state"] for s in steps} >= {
        "started", "reserved", "sent"}
    assert all(s.parent is not None and s.parent.span_id == record.context.span_id
               for s in steps)
    transfers = [s for s in spans if s.name == "ledger.transfer"]
    assert {(s.attributes or {})["finbot.transfer_kind"] for s in transfers} == {
        "accrual", "pending", "post_pending"}
    assert {(s.attributes or {})["finbot.ledger_result"] for s in transfers} == {"ok"}


def test_no_span_holds_a_bank_detail_a_tax_id_or_a_prompt(
        settings: Settings, exported: InMemorySpanExporter) -> None:
    with submitted_and_paid(settings) as submitted:
        pass
    spans = exported.get_finished_spans()
    models = [s for s in spans if s.name == "llm.call"]
    assert models
    assert all((s.attributes or {})["gen_ai.system"] == "offline" for s in models)
    assert all(isinstance((s.attributes or {})["gen_ai.usage.input_tokens"], int)
               for s in models)
    told = " ".join(f"{s.name} {s.status.description or ''} {dict(s.attributes or {})}"
                    for s in spans)
    for private in (IBAN, "DE89 3704", TAX_ID, "042103594", submitted.token,
                    "Office supplies", "Beta Widgets"):
        assert private not in told


def test_a_streamed_chat_reply_is_a_model_span_under_its_request(
        settings: Settings, exported: InMemorySpanExporter) -> None:
    """The assistant's streamed model calls are spans too, each ended when its stream is,
    under the chat request, with token counts and none of the vendor's words, although
    the server reads the stream in another thread."""
    question = f"What is the status of invoice_number A-1? My IBAN is {IBAN}."
    with company_with(settings, clean_vendor()) as app:
        web = web_app(app)
        ann = sign_in(web, add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",)))
        page = ann.get("/vendor/messages").text
        conversation = page.split('name="conversation_id" value="')[1].split('"')[0]
        with ann.stream("POST", "/vendor/messages/v-acme/chat", data={
                "text": question, "conversation_id": conversation}) as reply:
            assert reply.status_code == 200
            answer = b"".join(reply.iter_raw()).decode()
    assert answer
    spans = exported.get_finished_spans()
    [request] = [s for s in spans if s.name == "http.request"
                 and (s.attributes or {}).get("http.route") == "/vendor/messages/{vendor_id}/chat"]
    models = [s for s in spans if s.name == "llm.call"
              and s.context.trace_id == request.context.trace_id]
    assert len(models) >= 2  # a tool round, then the answer
    for model in models:
        attributes = dict(model.attributes or {})
        assert attributes["finbot.agent_id"] == "communication"
        assert isinstance(attributes["gen_ai.usage.output_tokens"], int)
        assert model.parent is not None
        assert model.parent.span_id == request.context.span_id
        assert IBAN not in str(attributes)
        assert "A-1" not in str(attributes)
