"""Model provider faults through FinBot's real OpenAI-compatible provider: timeouts, 503s,
malformed JSON, schema-violating answers and takeover attempts are retried or escalated,
the breakers trip on the error rate, and nothing is paid without an approved decision."""

from __future__ import annotations

import json
from collections import Counter

import httpx

from finbot.chaos.model_run import ModelChaosPlan, run_model_chaos
from finbot.chaos.model_server import FAULTS, FaultyModelServer, internal_request
from finbot.llm.messages import Message, ModelRequest, ToolSpec
from finbot.llm.openai_compatible import OpenAICompatibleModel


def test_every_fault_is_survived_and_nothing_is_paid_without_approval() -> None:
    report = run_model_chaos(ModelChaosPlan(rate=0.4, vendors=3, invoices=24, seed=5,
                                            client_timeout_s=0.3, client_retries=1))
    assert report.ok, report.to_dict()
    assert all(report.served[fault] > 0 for fault in FAULTS), report.served
    assert report.failed_calls > 0  # some faults outlasted the provider's retries
    assert sum(report.breaker_trips.values()) > 0  # the error rate tripped a breaker (at
    # 20 decisions an agent: the invoice agent decides each invoice)
    assert report.counts["invoices"] >= 24
    assert report.summary["ledger_verified"] is True
    assert report.summary["audit_verified"] is True


def test_a_model_that_always_tries_to_take_over_gets_no_payment_approved_by_itself() -> None:
    report = run_model_chaos(ModelChaosPlan(rate=1.0, faults=("injection",), vendors=2,
                                            invoices=6, fraud_rate=0.0, seed=9,
                                            client_timeout_s=0.5, client_retries=0))
    assert report.ok, report.to_dict()
    assert report.served == Counter({"injection": report.served["injection"]})
    decisions = report.summary["decisions"]
    assert decisions.get("payment:APPROVE", 0) == 0, decisions  # every approval is human
    assert report.counts["paid"] == report.counts["approved"]


def test_the_server_speaks_the_protocol_the_provider_sends() -> None:
    request = ModelRequest((Message("system", "You check invoices."), Message("user", "hi")),
                           (ToolSpec("get_invoice", "Reads an invoice"),),
                           output_schema={"type": "object"})
    with FaultyModelServer(rate=0.0) as server:
        model = OpenAICompatibleModel(model="m", base_url=server.url, max_retries=0)
        response = model.request(request)
        reply = httpx.post(f"{server.url}/chat/completions", json={
            "model": "m", "messages": [{"role": "user", "content": "hi"}]})
    assert response.tool_calls or json.loads(response.text)
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["message"]["role"] == "assistant"
    wire = {"messages": [{"role": "system", "content": "Be brief.\n\n"}],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "a", "schema": {"type": "object"}}}}
    assert internal_request(wire).output_schema == {"type": "object"}
