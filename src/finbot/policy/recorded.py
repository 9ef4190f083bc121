"""The gate's facts as a decision record keeps them, and back: what the rules judged (the
payment, the payee as the vendor record described it, the history that counted) is part
of the decision's input, so a replay judges the same facts rather than today's records,
whose history may have moved on since (an invoice approved later, a bank change since).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from finbot.policy.guardrails import PaymentFacts, VendorFacts


def facts_json(facts: PaymentFacts) -> dict[str, Any]:
    """``facts`` as JSON the audit chain stores exactly (amounts as text, times ISO)."""
    vendor = facts.vendor
    return {
        "invoice": {str(k): None if v is None else str(v) for k, v in facts.invoice.items()},
        "amount": str(facts.amount), "currency": facts.currency, "now": facts.now.isoformat(),
        "volume_today": str(facts.volume_today), "volume_30d": str(facts.volume_30d),
        "po_amount": None if facts.po_amount is None else str(facts.po_amount),
        "recent_payments": [[at.isoformat(), str(amount)]
                            for at, amount in facts.recent_payments],
        "payee_account": facts.payee_account,
        "vendor": {"vendor_id": vendor.vendor_id, "name": vendor.name,
                   "country": vendor.country, "created_at": vendor.created_at.isoformat(),
                   "timezone": vendor.timezone,
                   "bank_changed_at": (vendor.bank_changed_at.isoformat()
                                       if vendor.bank_changed_at else None),
                   "avg_daily_volume": str(vendor.avg_daily_volume),
                   "paid_before": vendor.paid_before, "tenant": vendor.tenant},
    }


def facts_from_json(data: Mapping[str, Any]) -> PaymentFacts:
    """The facts a record kept (``facts_json``'s inverse)."""
    v = data["vendor"]
    vendor = VendorFacts(
        v["vendor_id"], v["name"], v["country"], datetime.fromisoformat(v["created_at"]),
        v["timezone"],
        datetime.fromisoformat(v["bank_changed_at"]) if v["bank_changed_at"] else None,
        Decimal(v["avg_daily_volume"]), bool(v["paid_before"]), v["tenant"])
    return PaymentFacts(
        dict(data["invoice"]), Decimal(data["amount"]), data["currency"], vendor,
        datetime.fromisoformat(data["now"]), Decimal(data["volume_today"]),
        Decimal(data["volume_30d"]),
        None if data["po_amount"] is None else Decimal(data["po_amount"]),
        tuple((datetime.fromisoformat(at), Decimal(amount))
              for at, amount in data["recent_payments"]),
        data["payee_account"])
