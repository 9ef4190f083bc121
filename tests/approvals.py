"""Test helper: put a decision in the audit log, as the decision path would."""

from __future__ import annotations

from finbot.bootstrap import App


def approve(app: App, decision_id: str, *, payee: str, amount: str, currency: str = "USD",
            outcome: str = "APPROVE", mode: str = "live", limit: str = "100000") -> str:
    app.audit.append("decision", decision_id, {
        "mode": mode, "outcome": outcome, "reasoning": "approved in a test", "error": None,
        "agent_id": "test", "rules": [], "proposal": None,
        "policy": {"version": "test", "digest": "0" * 64, "max_single_payment": limit},
        "payment": {"vendor_id": "v-1", "amount": amount, "currency": currency,
                    "payee_account": payee}}, decision_id=decision_id)
    return decision_id
