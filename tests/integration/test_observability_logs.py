"""The logs a real server and the workers write, captured from stderr as an operator sees
them: one JSON object a line, carrying the request, trace, decision and workflow ids where
they apply (with no tracing configured: the trace of a request is carried to the workers
through the events), and never the secret key, an API token, a password used at login, a
vendor's IBAN or a tax id, even where a caller put one in a path or a query string."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from finbot.config import Settings
from finbot.observability.logs import reset_logging
from finbot.observability.setup import observe
from tests.api_kit import PASSWORD, add_user, web_app
from tests.integration.test_tracing import IBAN, TAX_ID, invoice_body
from tests.workflow_kit import clean_vendor, company_with, purchase_order, run_until_idle

SECRET_KEY = "k3y-" + "q8Zr" * 10


@contextmanager
def serving(web: FastAPI) -> Iterator[str]:
    """``web`` served by uvicorn on a free loopback port, as ``finbot up`` serves it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port,
                                           log_config=None, log_level=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def logged(settings: Settings, capsys: pytest.CaptureFixture[str]) -> Iterator[Settings]:
    """Settings with a real secret key, their logs set up as an entry point sets them."""
    chosen = settings.model_copy(update={"secret_key": SecretStr(SECRET_KEY),
                                         "log_level": "debug"})
    observe(chosen, role="test")
    capsys.readouterr()
    yield chosen
    reset_logging()


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_served_request_and_its_workflow_log_json_with_their_ids_and_no_secret(
        logged: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with company_with(logged, clean_vendor()) as app:
        app.vendor_work.add_purchase_order(purchase_order())
        web = web_app(app)
        add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",))
        token = app.auth.issue_token("ann@acme.example", "ci")
        with serving(web) as url, httpx.Client(base_url=url) as client:
            login = client.post("/api/auth/login", json={"email": "ann@acme.example",
                                                         "password": PASSWORD})
            assert login.status_code == 200
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.post("/api/vendors", headers=bearer, json={
                "legal_name": "Beta Widgets GmbH", "country": "DE",
                "iban": IBAN}).status_code == 201
            submitted = client.post("/api/invoices", json=invoice_body(), headers={
                **bearer, "Idempotency-Key": "inv-1", "X-Request-ID": "req-from-the-client"})
            assert submitted.status_code == 201
            assert submitted.headers["x-request-id"] == "req-from-the-client"
            client.get(f"/api/vendors/{IBAN}", headers=bearer)  # an IBAN in a path
            client.get("/healthz", params={"api_token": token, "tax_id": TAX_ID})
        run_until_idle(app)
    text = capsys.readouterr().err
    lines = _lines(text)  # every line is one JSON object
    [access] = [x for x in lines if x.get("path") == "/api/invoices"]
    assert (access["method"], access["status"], access["logger"]) == (
        "POST", 201, "uvicorn.access")
    assert access["request_id"] == "req-from-the-client"
    assert len(access["trace_id"]) == 32
    decided = [x for x in lines if x["event"] == "decision recorded"
               and x.get("workflow_id") == "invoice:inv-1"]
    assert {x["decision_id"] for x in decided} == {
        f"invoice:inv-1:{step}" for step in ("invoice", "fraud", "payment")}
    assert {x["trace_id"] for x in decided} == {access["trace_id"]}  # carried by events
    [paid] = [x for x in lines if x["event"] == "payment settled"]
    assert (paid["decision_id"], paid["state"]) == ("invoice:inv-1:payment", "completed")
    assert paid["trace_id"] == access["trace_id"]
    assert all("request_id" not in x for x in decided)
    assert not any("127.0.0.1:" in x["event"] for x in lines if x["logger"] == "uvicorn.access")
    for secret in (SECRET_KEY, token, token.split("_", 2)[2], PASSWORD, IBAN, TAX_ID):
        assert secret not in text
