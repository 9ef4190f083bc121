"""A decision report (``services.explain``) as a file a regulator reads: a self-contained,
printable HTML page (Jinja2, escaped) or a PDF (fpdf2), and the explainer and replayer
wired from an ``App`` for the CLI and the staff portal."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import WrapMode
from jinja2 import Environment, FileSystemLoader, select_autoescape

from finbot.bootstrap import App, deciding_agents
from finbot.services.explain import Explainer
from finbot.services.replay import Replayer

TEMPLATES = Path(__file__).parent / "web" / "templates"


def explainer(app: App) -> Explainer:
    return Explainer(app.uow, app.audit, app.policies, app.queries.accounts)


def replayer(app: App) -> Replayer:
    return Replayer(app.uow, app.audit, app.policies, app.steps, app.agent_tools,
                    deciding_agents(app.fraud_scorer))


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES),
                       autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one HTML page with its styles inline: nothing else to fetch."""
    return _environment().get_template("explain_report.html").render(r=report)


def render_pdf(report: Mapping[str, Any]) -> bytes:
    """The report as a PDF: the same sections as the HTML page, in the same order."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(f"Decision report {report['decision']['id']}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    _line(pdf, f"Decision report: {report['decision']['id']}")
    for title, lines, block in _sections(report):
        pdf.set_font("Helvetica", "B", 12)
        pdf.ln(3)
        _line(pdf, title)
        pdf.set_font("Helvetica", "", 9)
        for text in lines:
            _line(pdf, text)
        if block:
            pdf.set_font("Courier", "", 7)
            _line(pdf, block)
    return bytes(pdf.output())


def _line(pdf: FPDF, text: str) -> None:
    # The core fonts hold Latin-1 only; anything else prints as "?" rather than failing.
    safe = text.encode("latin-1", "replace").decode("latin-1")
    pdf.multi_cell(0, 4.5, safe, new_x="LMARGIN", new_y="NEXT", wrapmode=WrapMode.CHAR)


def _sections(r: Mapping[str, Any]) -> Iterator[tuple[str, list[str], str]]:
    d, policy, proof = r["decision"], r["policy"], r["proof"]
    yield "1. What was decided", [
        f"Outcome: {d['outcome']} ({d['stage']} stage, {d['mode']} mode)",
        f"Agent: {d['agent_id']}; recorded {d['recorded_at']} as audit record {d['seq']}",
        *(f"Payment {k}: {v}" for k, v in sorted((d.get("payment") or {}).items())),
        *([f"Error: {d['error']}"] if d.get("error") else [])], ""
    model = r.get("model") or {}
    yield "2. Model and policy", [
        f"Agent version: {model.get('agent_version', 'none consulted')}",
        f"Model: {model.get('model_name', 'none consulted')}",
        f"Prompt SHA-256: {model.get('prompt_hash', '-')}",
        f"Policy version: {policy.get('version')}; digest {policy.get('digest')} ("
        + ("matches the published document" if policy.get("digest_matches")
           else "does not match a published document") + ")"], ""
    snapshot = r.get("input")
    yield "3. Input snapshot", [f"SHA-256: {snapshot['hash']}" if snapshot else
                                "No input snapshot: the agent was not asked."], (
        json.dumps(snapshot["snapshot"], indent=1, sort_keys=True) if snapshot else "")
    proposal = r.get("proposal") or {}
    yield "4. Reasoning", [str(r.get("reasoning")), *(
        f"Tool {c['name']}({json.dumps(c['arguments'])}) -> {json.dumps(c['result'])}"
        for c in proposal.get("tool_calls", []))], ""
    yield "5. Rules evaluated", [f"{'FIRED' if x['fired'] else 'no'}  {x['rule']}: "
                                 f"{x['detail']}" for x in r["rules"]], ""
    yield "6. Reviews", [f"{v['at']} {v['reviewer']}: {v['verdict']} - {v['rationale']}"
                         for v in r["reviews"]] or ["No reviews."], ""
    yield "7. Execution", [line for saga in r["execution"] for line in (
        f"Saga {saga['id']}: {saga['state']}, {saga['amount']} {saga['currency']} from "
        f"{saga['source_account']} to {saga['payee_account']}",
        *(f"  {s['at']} {s['step']}: {s['status']}" for s in saga["steps"]))] or [
        "Nothing was executed for this decision."], ""
    yield "8. Ledger entries", [f"{t['at']} {t['kind']} {t['id']}: debit {t['debit']}, "
                                f"credit {t['credit']}, {t['amount']} {t['currency']}"
                                for t in r["ledger"]] or ["No ledger entries."], ""
    yield "9. Proof of inclusion in the audit log", _proof_lines(proof), (
        proof["record"]["body"] if proof.get("available") else "")


def _proof_lines(proof: Mapping[str, Any]) -> list[str]:
    if not proof.get("available"):
        return [f"{proof['why']}: {proof['how']}."]
    return [("The proof verifies" if proof["verified"] else "The proof does NOT verify")
            + f": record {proof['record']['seq']} is leaf {proof['index']} of a checkpoint "
            f"over {proof['tree_size']} records.", f"Root: {proof['root_hash']}",
            f"Record hash: {proof['record']['hash']}",
            f"Previous hash: {proof['record']['prev_hash']}", "Audit path:",
            *(f"  {h}" for h in proof["path"]), f"How to verify: {proof['how']}",
            "Record body (canonical JSON):"]
