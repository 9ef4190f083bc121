"""Small builders for the agents' read-only tools, and the scope check every tool applies.

A tool is bound to the task it serves: a tool given the workflow's vendor refuses any other
vendor's id, so a model steered by injected text cannot read across vendors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from finbot.agents.ports import AgentTools
from finbot.agents.runner import Tool
from finbot.domain.errors import NotFound
from finbot.domain.invoices import Invoice
from finbot.llm.messages import ToolSpec


def tool(name: str, description: str, run: Callable[[Mapping[str, Any]], Any],
         **parameters: str) -> Tool:
    """A tool whose parameters are all required strings, described by ``parameters``."""
    return Tool(ToolSpec(name, description, {
        "type": "object",
        "properties": {p: {"type": "string", "description": d} for p, d in parameters.items()},
        "required": list(parameters)}), run)


def same_id(arguments: Mapping[str, Any], name: str, allowed: str, *, what: str) -> str:
    """The argument ``name``, refused unless it is the one id this task may read."""
    given = str(arguments.get(name, ""))
    if given != allowed:
        raise NotFound(f"{what} {given!r} is not part of this task; only {allowed!r} is",
                       field=name)
    return given


def invoice_facts(invoice: Invoice) -> dict[str, Any]:
    """An invoice as the agents read it; ``text`` is the vendor's own words (untrusted)."""
    return {
        "invoice_id": invoice.invoice_id, "invoice_number": invoice.number,
        "vendor_id": invoice.vendor_id, "amount": str(invoice.amount),
        "tax": str(invoice.tax), "currency": invoice.currency,
        "issued_on": invoice.issued_on.isoformat(), "due_on": invoice.due_on.isoformat(),
        "po_number": invoice.po_number or "", "status": invoice.status.value,
        "lines": [{"description": x.description, "quantity": str(x.quantity),
                   "unit_price": str(x.unit_price), "amount": str(x.amount)}
                  for x in invoice.lines],
        "text": invoice.text,
    }


def vendor_notes(tools: AgentTools, vendor_id: str) -> dict[str, Any]:
    """The vendor's notes, newest first, each with who wrote it and whether it is trusted
    (a vendor's own note never is, whatever its words claim)."""
    return {"notes": [note.as_context() for note in tools.vendors.notes(vendor_id)]}


def masked(value: str) -> str:
    """An account or tax number with all but its last four characters hidden: enough for
    an agent to tell two apart, not enough to misuse."""
    value = value.replace(" ", "")
    return f"***{value[-4:]}" if len(value) > 4 else ("***" if value else "")


def plain(amount: Decimal) -> str:
    return f"{amount:f}"
