"""Rolling back a model version: which decisions it made, which invoices they touched, and
the deterministic ids of every compensating step, so a rollback can be run again safely.

A selector names a version by its full label or one of its parts (see ``VersionSelector``).
A *case* is what one rollback undoes: an invoice whose decisions the version took part in
(a check by the version taints the invoice's payment too), or a lone decision with no
invoice. The blast radius reports each case's standing. Pure: the execution layer reads
the log, the sagas and the ledger; this decides.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from finbot.domain.audit import AuditRecord
from finbot.domain.decisions import Mode
from finbot.domain.errors import InvalidInput

MIN_HASH_PREFIX = 7
"""The shortest prompt-hash prefix a selector may give (as with git's short hashes)."""

Standing = Literal["pending", "settled", "unpaid", "rolled_back"]
"""Where a case stands: decided or reserved but not paid out; paid out (posted); nothing
moved (rejected, blocked or failed); already rolled back."""

STEPS = ("halt", "reverse", "requeue")
"""A case's steps in order; each leaves an audit record ``step_id(case, step)``."""


@dataclass(frozen=True)
class VersionSelector:
    """Which model version to roll back. ``text`` matches a decision's model version when
    it equals the version's full label (``agent/model/prompt-hash[:12]/policy``), its agent
    version (``invoice/2``) or its model name (``offline:naive-v1-medium``), or when it is
    a prefix of at least seven hex digits of its prompt hash. Decisions without a proposal
    (hard-rule BLOCKs, the rules-only fallback) have no model version and never match."""

    text: str

    @classmethod
    def parse(cls, text: str) -> VersionSelector:
        if not text or not text.strip() or len(text) > 200:
            raise InvalidInput("a model version is a label, an agent version, a model name "
                               "or a prompt-hash prefix", field="model_version")
        return cls(text.strip())

    def matches(self, version: Mapping[str, Any] | None) -> bool:
        if not version:
            return False
        prompt = str(version.get("prompt_hash", ""))
        return self.text in (_label(version), version.get("agent_version"),
                             version.get("model_name")) or self._prefix_of(prompt)

    def _prefix_of(self, prompt_hash: str) -> bool:
        text = self.text.lower()
        return (len(text) >= MIN_HASH_PREFIX and set(text) <= set(string.hexdigits.lower())
                and prompt_hash.startswith(text))


def _label(version: Mapping[str, Any]) -> str:
    return (f"{version.get('agent_version')}/{version.get('model_name')}/"
            f"{str(version.get('prompt_hash', ''))[:12]}/{version.get('policy_version')}")


@dataclass(frozen=True)
class Decided:
    """One decision record as a rollback reads it."""

    decision_id: str
    seq: int
    created_at: int
    stage: str
    mode: str
    outcome: str
    vendor_id: str
    amount: Decimal
    currency: str
    invoice_id: str | None
    payee_account: str | None
    model_version: Mapping[str, Any] | None

    @classmethod
    def of(cls, record: AuditRecord) -> Decided:
        data = record.data
        payment = data.get("payment") or {}
        version = (data.get("proposal") or {}).get("model_version")
        return cls(record.record_id, record.seq, record.created_at,
                   str(data.get("stage", "payment")), str(data.get("mode", "shadow")),
                   str(data.get("outcome")), str(payment.get("vendor_id", "")),
                   Decimal(str(payment.get("amount", "0"))), str(payment.get("currency", "")),
                   payment.get("invoice_id"), payment.get("payee_account"), version)

    @property
    def case_id(self) -> str:
        return f"invoice:{self.invoice_id}" if self.invoice_id else self.decision_id

    @property
    def executes(self) -> bool:
        return Mode(self.mode).executes

    def public(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "stage": self.stage, "mode": self.mode,
                "outcome": self.outcome, "vendor_id": self.vendor_id,
                "amount": str(self.amount), "currency": self.currency,
                "invoice_id": self.invoice_id, "created_at": self.created_at}


@dataclass(frozen=True)
class Case:
    """One invoice (or lone decision) to roll back: the decisions the version made on it
    and the payment decision (by any version) that moves its money."""

    case_id: str
    tainted: tuple[Decided, ...]
    payment: Decided | None

    @property
    def anchor(self) -> Decided:
        """The decision the case's records are filed under: its payment, else the last
        decision the version made on it."""
        return self.payment or self.tainted[-1]


@dataclass(frozen=True)
class CaseReport:
    """One case as it stands: its standing, its payment and, once done, how it ended."""

    case: Case
    standing: Standing
    saga_state: str | None
    settled_as: str | None = None

    @property
    def amount(self) -> Decimal:
        return self.case.anchor.amount

    def public(self) -> dict[str, Any]:
        anchor = self.case.anchor
        return {"case_id": self.case.case_id, "standing": self.standing,
                "vendor_id": anchor.vendor_id, "amount": str(anchor.amount),
                "currency": anchor.currency,
                "payment_decision": self.case.payment.decision_id if self.case.payment
                else None, "saga_state": self.saga_state, "settled_as": self.settled_as,
                "decisions": [d.decision_id for d in self.case.tainted]}


@dataclass(frozen=True)
class BlastRadius:
    """What a version decided and what those decisions set in motion."""

    selector: str
    since_us: int | None
    decisions: list[Decided]
    cases: list[CaseReport] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, Any]]:
        """Per standing: how many cases, and their amounts per currency."""
        totals: dict[str, dict[str, Any]] = {}
        for report in self.cases:
            entry = totals.setdefault(report.standing, {"count": 0, "amounts": {}})
            entry["count"] += 1
            amounts = entry["amounts"]
            currency = report.case.anchor.currency
            amounts[currency] = str(Decimal(amounts.get(currency, "0")) + report.amount)
        return totals

    def public(self) -> dict[str, Any]:
        return {"model_version": self.selector, "since_us": self.since_us,
                "decisions": [d.public() for d in self.decisions],
                "vendors": sorted({r.case.anchor.vendor_id for r in self.cases}),
                "totals": self.totals(), "cases": [r.public() for r in self.cases]}


def is_decision(record: AuditRecord) -> bool:
    """A real decision record (drills are never executable, so never rolled back)."""
    return record.kind == "decision" and not record.data.get("drill")


def find_cases(decisions: Iterable[Decided], selector: VersionSelector, *,
               since_us: int | None = None) -> tuple[list[Decided], list[Case]]:
    """The decisions ``selector`` made (since ``since_us``) and the cases they open: only
    decisions in a mode that executes open a case (a shadow decision moved nothing)."""
    decided = list(decisions)
    mine = [d for d in decided if selector.matches(d.model_version)
            and (since_us is None or d.created_at >= since_us)]
    payments: dict[str, Decided] = {}
    for d in decided:  # the latest executing payment decision of each case
        if d.stage == "payment" and d.executes:
            payments[d.case_id] = d
    tainted: dict[str, list[Decided]] = {}
    for d in mine:
        if d.executes:
            tainted.setdefault(d.case_id, []).append(d)
    cases = [Case(case_id, tuple(found), payments.get(case_id))
             for case_id, found in tainted.items()]
    return mine, cases


def standing(*, rolled_back: bool, saga_state: str | None, outcome: str | None) -> Standing:
    """Where a case stands, from its final rollback record, its payment's saga state and
    its payment decision's outcome (None when it has no payment decision)."""
    if rolled_back:
        return "rolled_back"
    if saga_state in ("completed", "needs_attention"):
        return "settled"
    if saga_state == "failed":
        return "unpaid"
    if saga_state is not None or outcome in ("APPROVE", "ESCALATE"):
        return "pending"
    return "unpaid"


def rollback_id(case_id: str) -> str:
    """The final record of a case's rollback, and the id of its new review item."""
    return f"rollback:{case_id}"


def step_id(case_id: str, step: str) -> str:
    """The audit record (and ledger transfer prefix) of one step of a case's rollback."""
    return f"rollback:{case_id}:{step}"
