"""Records the invoice workflow on the OpenAI-compatible provider into a cassette, so the
suite replays a real model conversation without a network (``test_recorded_workflow``).

Run by hand, never by the suite: ``python -m tests.cassettes.record_invoice_workflow``. It
starts the loopback chat-completions server answering as a small local model does (a tool
call, then a verdict as text, once in a ```json fence after a sentence, once with the tool
call itself written as text), onboards a vendor and runs one invoice to paid on SQLite
with the clock frozen, and writes every HTTP exchange to ``invoice_workflow.jsonl``.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx2
import time_machine

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.invoices import Invoice
from finbot.llm.recording import Cassette, RecordingTransport
from finbot.llm.router import ModelChoice, ModelRouter
from tests.openai_server import Reply, chunk, completion, openai_server
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    purchase_order,
    run_until_idle,
    small_scorer,
)

CASSETTE = Path(__file__).with_name("invoice_workflow.jsonl")
FROZEN_AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
"""Every clock the model's requests show (snapshots, tool results, dates) reads this."""
MODEL = "llama3.2:3b"
STEPS = ("onboarding:v-acme:onboarding", "invoice:inv-1:invoice", "invoice:inv-1:fraud",
         "invoice:inv-1:payment")


def the_invoice(*, quantity: str = "12") -> Invoice:
    """Invoice inv-1 (INV-1001: toner cartridges at 100.00 USD on PO-1), dated the frozen
    day; the recording holds 12 cartridges."""
    return replace(clean_invoice(quantity=quantity), issued_on=date(2026, 3, 2),
                   due_on=date(2026, 4, 1))


def model_router(base_url: str, transport: httpx2.BaseTransport) -> ModelRouter:
    """Every agent on one OpenAI-compatible model, its HTTP going through ``transport``."""
    return ModelRouter([ModelChoice("openai-compatible", MODEL, base_url, timeout_s=10.0,
                                    max_retries=0)], transport=transport)


def run_workflow(app: App, invoice: Invoice) -> None:
    """Onboard v-acme, then submit ``invoice`` against PO-1 and run it to its end."""
    open_company(app)
    app.vendor_work.register_vendor(clean_vendor())
    run_until_idle(app)
    app.vendor_work.add_purchase_order(purchase_order())
    app.vendor_work.submit_invoice(invoice)
    run_until_idle(app)


def decisions(app: App) -> dict[str, dict[str, Any]]:
    """The recorded decision of each deciding step, by decision id."""
    found: dict[str, dict[str, Any]] = {}
    with app.uow() as uow:
        for decision_id in STEPS:
            record = uow.audit.by_id(decision_id)
            if record is not None:
                found[decision_id] = record.data
    return found


def _call(call_id: str, name: str, **arguments: str) -> tuple[str, str, str]:
    return call_id, name, json.dumps(arguments)


def _verdict(outcome: str, confidence: float, reasoning: str, **extra: str) -> str:
    """A verdict as JSON text; ``extra``: an agent's own fields (the payments agent's
    amount)."""
    return json.dumps({"outcome": outcome, "confidence": confidence, "reasoning": reasoning,
                       **extra})


def _answer(reply_id: str, content: str | None = None, *,
            calls: list[tuple[str, str, str]] | None = None, usage: tuple[int, int]) -> Reply:
    body = completion(content, tool_calls=calls or [], model=MODEL, usage=usage)
    return Reply({**body, "id": reply_id, "created": int(FROZEN_AT.timestamp())})


def _streamed(reply_id: str, pieces: list[dict[str, Any]], finish: str,
              usage: tuple[int, int]) -> Reply:
    """A streamed answer as Ollama sends it: deltas, the finish reason, then the usage."""
    chunks = [chunk(delta) for delta in pieces] + [chunk({}, finish=finish),
                                                   chunk({}, usage=usage)]
    return Reply(stream=[{**c, "id": reply_id, "model": MODEL,
                          "created": int(FROZEN_AT.timestamp())} for c in chunks])


def _streamed_call(reply_id: str, call_id: str, subject_id: str,
                   usage: tuple[int, int]) -> Reply:
    return _streamed(reply_id, [{"role": "assistant", "tool_calls": [{
        "index": 0, "id": call_id, "type": "function", "function": {
            "name": "workflow_status",
            "arguments": json.dumps({"subject_id": subject_id})}}]}], "tool_calls", usage)


def _streamed_text(reply_id: str, words: list[str], usage: tuple[int, int]) -> Reply:
    return _streamed(reply_id, [{"role": "assistant", "content": words[0]},
                                *({"content": w} for w in words[1:])], "stop", usage)


ONBOARDING = [
    _answer("chatcmpl-401", calls=[_call("call_k3v9q2fd", "vendor_profile",
                                         vendor_id="v-acme")], usage=(742, 24)),
    _answer("chatcmpl-402", calls=[
        _call("call_7wm2x8ab", "verify_registration", vendor_id="v-acme"),
        _call("call_p0d4n6rc", "screen_sanctions", vendor_id="v-acme"),
        _call("call_h5t1y3ue", "check_industry", vendor_id="v-acme")], usage=(931, 66)),
    _answer("chatcmpl-403", _verdict(
        "APPROVE", 0.9, "Acme Office Supplies Inc (US): the tax id is a valid US EIN, the "
        "routing number passes its ABA checksum, all required documents are uploaded, no "
        "sanctions match, and office supplies is not a prohibited industry."),
        usage=(1384, 71)),
    _streamed_call("chatcmpl-404", "call_r8s2w4kz", "v-acme", usage=(214, 19)),
    _streamed_text("chatcmpl-405", ["Welcome to FinBot, ", "Acme Office Supplies Inc. ",
                                    "Your account is now active, ",
                                    "so you can submit invoices in the portal."],
                   usage=(301, 27)),
]
INVOICE = [
    _answer("chatcmpl-406", calls=[_call("call_x2c7m1qe", "check_invoice",
                                         invoice_id="inv-1")], usage=(688, 21)),
    _answer("chatcmpl-407", "All six checks passed, so the invoice can be approved.\n"
            "```json\n" + _verdict(
                "APPROVE", 0.95, "Invoice INV-1001 for 1,200.00 USD fits the 50,000.00 USD "
                "remaining on PO-1; the vendor is active, the one line adds up, it matches no "
                "earlier invoice and it is within the 10,000.00 approval threshold.")
            + "\n```", usage=(1102, 104)),
    _answer("chatcmpl-408", '<tool_call>\n{"name": "fraud_assessment", "arguments": '
            '{"invoice_id": "inv-1"}}\n</tool_call>', usage=(702, 27)),
    _answer("chatcmpl-409", _verdict(
        "APPROVE", 0.9, "The fraud model fraud-6e330a116fef gives a probability of 0.0008, "
        "well below the 0.5 review threshold, and no fraud rule fired: no velocity, no bank "
        "change, no split invoices, and 1,200.00 USD is under the new-payee limit."),
        usage=(1318, 83)),
    _answer("chatcmpl-410", calls=[_call("call_b6f0j9sw", "plan_payment",
                                         invoice_id="inv-1")], usage=(671, 20)),
    _answer("chatcmpl-411", _verdict(
        "APPROVE", 0.94, "Pay INV-1001 by ACH: 1200.00 USD to payee account ***6789, sent "
        "2026-03-02 and arriving 2026-03-03, before the 2026-04-01 due date, for a 0.25 USD "
        "fee.", amount="1200.00"), usage=(1066, 69)),
    _streamed_call("chatcmpl-412", "call_e4g8u5ny", "inv-1", usage=(214, 19)),
    _streamed_text("chatcmpl-413", ["Good news: invoice INV-1001 ", "for 1200.00 USD ",
                                    "has been approved. ", "Payment is scheduled; ",
                                    "no action is needed from you."], usage=(318, 33)),
]


def record() -> list[dict[str, Any]]:
    """Run the workflow against the scripted server, writing the cassette afresh; the
    decisions it recorded."""
    CASSETTE.unlink(missing_ok=True)
    with openai_server() as (url, script), tempfile.TemporaryDirectory() as data:
        script.replies += ONBOARDING + INVOICE
        settings = Settings(environment="test", database_url=f"sqlite:///{data}/finbot.db",
                            data_dir=Path(data), redis_url=None)
        models = model_router(url, RecordingTransport(Cassette(CASSETTE)))
        with time_machine.travel(FROZEN_AT, tick=False):
            app = bootstrap(settings, models=models, fraud_scorer=small_scorer)
            try:
                run_workflow(app, the_invoice())
                found = decisions(app)
            finally:
                app.close()
        if script.replies:
            raise SystemExit(f"{len(script.replies)} scripted replies were never asked for")
    outcomes = {decision_id: d["outcome"] for decision_id, d in found.items()}
    if outcomes != dict.fromkeys(STEPS, "APPROVE"):
        raise SystemExit(f"the recorded decisions are not all APPROVE: {outcomes} "
                         f"{[d['error'] for d in found.values()]}")
    return list(found.values())


def main() -> None:
    small_scorer()  # trained before the clock stops: it is cached for the whole run
    for decision in record():
        print(f"{decision['stage']:<10} {decision['outcome']:<8} {decision['reasoning']}")
    print(f"wrote {len(Cassette(CASSETTE).entries)} exchanges to {CASSETTE}")


if __name__ == "__main__":
    main()
