"""Structured logs: both logging APIs leave as one JSON object a line with the ids of the
work in hand, and no line, whoever wrote it, carries a secret or personal data; the web
app's request ids; the no-op tracer's trace ids and the trace carried by events."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi import FastAPI
from fastapi.testclient import TestClient
from structlog.contextvars import bound_contextvars

from finbot.config import Settings
from finbot.entrypoints.web.app import NO_NATIVE_TELEMETRY
from finbot.observability import tracing
from finbot.observability.logs import configure_logging, reset_logging
from finbot.observability.requests import RequestContext
from finbot.observability.scrub import Scrubber, secret_key

SECRET = "the-settings-secret-key-0123456789abcdef"
TOKEN = "fbt_0f1e2d3c4b5a6978_Zk3jW-Hq_8vR2mLx0pYtN5sUe7cA1bD4gF6hJ9kL0mQ"
IBAN = "DE89370400440532013000"
CARD = "4111 1111 1111 1111"
TAX_ID = "04-2103594"
ACCOUNT = "123456789012"
EMAIL = "ann.lee@acme.example"
log = logging.getLogger("finbot.test")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", secrets=[SECRET], stream=stream)
    yield stream
    reset_logging()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_standard_library_and_structlog_write_one_json_object_a_line(
        captured: io.StringIO) -> None:
    log.info("step %s done", "fraud", extra={"outcome": "APPROVE"})
    structlog.get_logger("finbot.other").warning("breaker tripped", agent_id="fraud")
    first, second = lines(captured)
    assert (first["event"], first["outcome"], first["level"], first["logger"]) == (
        "step fraud done", "APPROVE", "info", "finbot.test")
    assert (second["event"], second["agent_id"], second["level"]) == (
        "breaker tripped", "fraud", "warning")
    assert all(line["timestamp"].endswith("Z") for line in (first, second))


def test_the_ids_of_the_work_in_hand_are_on_every_line(captured: io.StringIO) -> None:
    with bound_contextvars(request_id="r-1"):
        log.info("in a request")
    with bound_contextvars(workflow_id="invoice:inv-1", decision_id="invoice:inv-1:fraud"):
        log.info("in a step")
    request, step = lines(captured)
    assert request["request_id"] == "r-1"
    assert "decision_id" not in request
    assert (step["workflow_id"], step["decision_id"]) == ("invoice:inv-1",
                                                          "invoice:inv-1:fraud")
    assert "request_id" not in step


def test_a_consumer_logs_the_trace_its_event_carried(captured: io.StringIO) -> None:
    carried = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    with tracing.continued(carried), tracing.span("event.handle"):
        log.info("handled")
    with tracing.continued("4bf92f3577b34da6a3ce929d0e0e4736"):  # an older event: trace only
        log.info("handled an old one")
    new, old = lines(captured)
    assert (new["trace_id"], new["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736",
                                                 "00f067aa0ba902b7")
    assert old["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_secret_named_fields_are_masked_at_any_depth(captured: io.StringIO) -> None:
    log.info("login", extra={"password": "hunter2-hunter2", "api_key": "sk-live-1",
                             "headers": {"Authorization": "Bearer abcdefgh",
                                         "Cookie": "finbot_session=xyz"},
                             "csrf_token": "c", "session_id": "s", "input_tokens": 12})
    [line] = lines(captured)
    assert line["password"] == line["api_key"] == line["csrf_token"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "Cookie": "[redacted]"}
    assert line["session_id"] == "[redacted]"
    assert line["input_tokens"] == 12  # a count, not a token


def test_personal_and_banking_data_leave_every_string_and_the_message(
        captured: io.StringIO) -> None:
    log.warning("paying %s to %s (tax id %s), told %s", IBAN, CARD, TAX_ID, EMAIL,
                extra={"detail": f"account {ACCOUNT}", "items": [IBAN, {"note": EMAIL}],
                       "vendor": object.__new__(_Vendor)})
    text = captured.getvalue()
    for private in (IBAN, CARD, TAX_ID, ACCOUNT, EMAIL, "DE89 3704"):
        assert private not in text
    [line] = lines(captured)
    assert "[iban …3000]" in line["event"]
    assert "[tin]" in line["event"]
    assert line["items"] == ["[iban …3000]", {"note": "[email]"}]
    assert line["vendor"] == "Vendor(iban=[iban …3000])"  # any object, as redacted text


class _Vendor:
    def __str__(self) -> str:
        return f"Vendor(iban={IBAN})"


def test_tokens_secrets_and_tracebacks_are_redacted_too(captured: io.StringIO) -> None:
    try:
        raise ValueError(f"could not pay {IBAN} with secret_key={SECRET}")
    except ValueError:
        log.exception("GET /api/x?token=%s&page=2 sent %s and Bearer %s", TOKEN, TOKEN,
                      "eyJhbGciOiJIUzI1NiJ9.e30.c2ln")
    log.info("configured with %s; password: hunter2, 'api_key': 'k-123'", SECRET)
    text = captured.getvalue()
    for secret in (SECRET, TOKEN, TOKEN.split("_", 2)[2], "eyJhbGciOiJIUzI1NiJ9", IBAN,
                   "hunter2", "k-123"):
        assert secret not in text
    first, second = lines(captured)
    assert "ValueError" in first["exception"]
    assert "[iban …3000]" in first["exception"]
    assert "token=[redacted]&page=2" in first["event"]
    assert second["event"].startswith("configured with [redacted]; password: [redacted]")


def test_uvicorn_access_lines_become_fields_without_the_client_address(
        captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "203.0.113.9:5512",
                                             "GET", f"/ws/events?token={TOKEN}", "1.1", 101)
    [line] = lines(captured)
    assert (line["method"], line["path"], line["status"]) == (
        "GET", "/ws/events?token=[redacted]", 101)
    assert "203.0.113.9" not in captured.getvalue()


def test_the_level_and_the_console_format_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINBOT_LOG_LEVEL", "WARNING")
    assert Settings().log_level == "warning"
    assert Settings(environment="development").effective_log_format == "console"
    assert Settings(environment="test").effective_log_format == "json"
    assert Settings(environment="development", log_format="json").effective_log_format == (
        "json")
    stream = io.StringIO()
    configure_logging(level="warning", fmt="console", stream=stream)
    try:
        log.info("not written")
        log.warning("paid %s", IBAN)
    finally:
        reset_logging()
    assert "not written" not in stream.getvalue()
    assert "paid [iban …3000]" in stream.getvalue()
    assert "{" not in stream.getvalue()


def test_libraries_that_log_statements_or_headers_stay_at_warning(
        captured: io.StringIO) -> None:
    logging.getLogger("sqlalchemy.engine.Engine").info("INSERT ... ('%s',)", "raw value")
    logging.getLogger("httpcore.http11").debug("receive_response_headers.complete")
    assert captured.getvalue() == ""


def test_secret_field_names_are_told_from_ordinary_ones() -> None:
    assert all(map(secret_key, ("password", "X-API-Key", "set-cookie", "refresh_token",
                                "secret_key", "kek", "private_key_pem", "Authorization")))
    assert not any(map(secret_key, ("input_tokens", "key_id", "decision_id", "monkey")))
    assert Scrubber().value(("a", 1, None)) == ["a", 1, None]


@pytest.fixture
def echo() -> TestClient:
    web = FastAPI(telemetry=NO_NATIVE_TELEMETRY)  # as FinBot's app: FastAPI's own spans off
    web.add_middleware(RequestContext)

    @web.get("/hello")
    def hello() -> dict[str, str]:
        return {"trace": tracing.carried() or ""}

    return TestClient(web)


def test_each_request_gets_an_id_and_a_trace_even_with_tracing_off(echo: TestClient) -> None:
    first, second = echo.get("/hello"), echo.get("/hello")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    trace, _, span = first.json()["trace"].partition("-")
    assert (len(trace), len(span)) == (32, 16)
    assert second.json()["trace"].partition("-")[0] != trace


def test_a_plain_caller_request_id_is_kept_and_anything_else_replaced(
        echo: TestClient) -> None:
    kept = echo.get("/hello", headers={"X-Request-ID": "req-42.abc:1"})
    assert kept.headers["x-request-id"] == "req-42.abc:1"
    for sent in ("short", "x" * 129, f"id {IBAN}", "id\u00e9-12345678"):
        replaced = echo.get("/hello", headers=[(b"X-Request-ID", sent.encode())])
        assert replaced.headers["x-request-id"] not in (sent, sent.encode().decode("latin-1"))


def test_tracing_stays_off_without_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure_tracing(None) is False
    with tracing.span("policy.gate", **{"finbot.stage": "fraud"}) as span:
        assert not span.is_recording()
        assert span.get_span_context().is_valid  # ids for the logs, nothing recorded
        with tracing.span("decision.record") as inner:
            assert inner.get_span_context().trace_id == span.get_span_context().trace_id


def test_an_otlp_endpoint_turns_the_sdk_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    try:
        assert tracing.configure_tracing("http://127.0.0.1:4318/", service="finbot-test")
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "finbot-test"
        assert tracing.configure_tracing("http://127.0.0.1:4318/")  # once a process
        assert trace.get_tracer_provider() is provider
    finally:
        tracing.use_tracer_provider(None)
    provider.shutdown()


def test_a_callers_traceparent_is_continued(echo: TestClient) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    untraced = echo.get("/hello", headers={"traceparent": sent})
    assert untraced.json()["trace"] == "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer_provider(provider)
    try:
        echo.get("/hello", headers={"traceparent": sent})
    finally:
        tracing.use_tracer_provider(None)
    [request] = exporter.get_finished_spans()
    assert request.name == "http.request"
    assert request.parent is not None
    assert (request.parent.trace_id, request.parent.span_id) == (
        0x4bf92f3577b34da6a3ce929d0e0e4736, 0x00f067aa0ba902b7)
