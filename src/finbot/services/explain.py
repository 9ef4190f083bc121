"""A decision explained for a regulator, as plain JSON-ready data the CLI and the staff
portal render (HTML, PDF, JSON): what was decided, by which model under which policy, on
what input and reasoning, by which rules, who reviewed it, what was paid and posted, and
a Merkle inclusion proof of the decision's record that anyone can check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from finbot.domain.audit import AuditRecord, chain_hash
from finbot.domain.clock import utc_datetime
from finbot.domain.errors import NotFound
from finbot.domain.ledger import Account, Transfer
from finbot.domain.merkle import leaf_hash, verify_inclusion
from finbot.domain.money import Currency, Money
from finbot.domain.payments import Saga, SagaStep
from finbot.domain.reviews import Review
from finbot.services.audit import AuditLog, InclusionProof
from finbot.services.ledger import UowFactory
from finbot.services.policies import PolicyStore
from finbot.services.scope import Trail, decision_money

REPORT_FORMAT = "finbot-decision-report/1"
HOW_TO_VERIFY = (
    "1. record.hash must equal SHA-256 of (record.prev_hash + record.body), as hex text. "
    "2. The leaf is SHA-256 of the byte 0x00 followed by the 32 bytes of record.hash. "
    "3. Fold the path from the leaf at index in a tree of tree_size leaves as RFC 9162 "
    "section 2.1.3.2 says (a node is SHA-256 of 0x01 + left + right); the result must "
    "equal root_hash. 4. `finbot audit verify` checks that the checkpoint holding "
    "root_hash is authentic and still matches the log; `finbot audit export` with "
    "scripts/verify_audit_export.py checks it with the standard library alone.")


def proof_holds(proof: InclusionProof) -> bool:
    """Whether the proof shows its record, as hashed from its body, under its root."""
    record = proof.record
    if chain_hash(record.prev_hash, record.body) != record.hash:
        return False
    return verify_inclusion(leaf_hash(bytes.fromhex(record.hash)), proof.index,
                            proof.tree_size, [bytes.fromhex(p) for p in proof.path],
                            bytes.fromhex(proof.root_hash))


class Explainer:
    """Assembles a decision's report from the log, the review, saga and ledger tables."""

    def __init__(self, uow: UowFactory, audit: AuditLog, policies: PolicyStore,
                 accounts: Callable[[], list[Account]]) -> None:
        """``accounts`` names the ledger's accounts (the report shows codes, not ids)."""
        self._uow = uow
        self._audit = audit
        self._policies = policies
        self._accounts = accounts

    def explain(self, decision_id: str, *, checkpoint: bool = True) -> dict[str, Any]:
        """The report on ``decision_id``; NotFound for any id that is not a decision.
        With ``checkpoint``, a checkpoint is taken when none covers the record yet."""
        with self._uow() as uow:
            record = uow.audit.by_id(decision_id)
            if record is None or record.kind != "decision":
                raise NotFound(f"no decision {decision_id!r}", field="decision_id")
            trail = Trail(record, uow.reviews.reviews_of(decision_id),
                          uow.reviews.get(decision_id))
            payments, transfers = decision_money(uow, [trail])
        codes = {a.id: a.code for a in self._accounts()} if transfers else {}
        return {"format": REPORT_FORMAT, **_decided(record), "policy": self._policy(record),
                "reviews": [_review(r) for r in trail.reviews],
                "review_item": (None if trail.item is None else {
                    "status": trail.item.status.value, "reason": trail.item.reason,
                    "required_approvals": trail.item.required_approvals}),
                "execution": [_saga(saga, steps) for saga, steps in payments],
                "ledger": [_transfer(t, codes) for t in transfers],
                "proof": self._proof(decision_id, checkpoint=checkpoint)}

    def _policy(self, record: AuditRecord) -> dict[str, Any]:
        named = dict(record.data.get("policy") or {})
        try:
            _, digest, _ = self._policies.document(str(named.get("version")))
        except NotFound:
            digest = None
        return {**named, "published_digest": digest,
                "digest_matches": digest is not None and digest == named.get("digest")}

    def _proof(self, decision_id: str, *, checkpoint: bool) -> dict[str, Any]:
        try:
            proof = self._audit.prove(decision_id)
        except NotFound as missing:
            if not checkpoint:
                return {"available": False, "why": missing.message,
                        "how": "run `finbot audit checkpoint`, then explain again"}
            self._audit.checkpoint()
            proof = self._audit.prove(decision_id)
        record = proof.record
        return {"available": True, "verified": proof_holds(proof),
                "record": {"seq": record.seq, "record_id": record.record_id,
                           "prev_hash": record.prev_hash, "hash": record.hash,
                           "body": record.body},
                "index": proof.index, "tree_size": proof.tree_size,
                "root_hash": proof.root_hash, "path": proof.path, "how": HOW_TO_VERIFY}


def _decided(record: AuditRecord) -> dict[str, Any]:
    data = record.data
    proposal: Mapping[str, Any] = data.get("proposal") or {}
    return {
        "decision": {"id": record.record_id, "seq": record.seq,
                     "recorded_at": _when(record.created_at), "stage": data.get("stage"),
                     "mode": data.get("mode"), "outcome": data.get("outcome"),
                     "agent_id": data.get("agent_id"), "error": data.get("error"),
                     "drill": bool(data.get("drill")), "payment": data.get("payment"),
                     "review": data.get("review"), "training": data.get("training")},
        "reasoning": data.get("reasoning"),
        "model": proposal.get("model_version"),
        "input": ({"snapshot": proposal["input_snapshot"], "hash": proposal["input_hash"]}
                  if proposal else None),
        "proposal": ({"outcome": proposal.get("outcome"),
                      "confidence": proposal.get("confidence"),
                      "amount": proposal.get("amount"), "reasoning": proposal.get("reasoning"),
                      "tool_calls": proposal.get("tool_calls", []),
                      "model_exchanges": len(proposal.get("model_exchanges") or [])}
                     if proposal else None),
        "rules": [dict(r) for r in data.get("rules", [])],
    }


def _review(review: Review) -> dict[str, Any]:
    return {"reviewer": review.reviewer_id, "verdict": review.verdict.value,
            "rationale": review.rationale, "at": _when(review.created_at_us)}


def _saga(saga: Saga, steps: list[SagaStep]) -> dict[str, Any]:
    return {"id": saga.id, "state": saga.state.value, "amount": _major(saga.amount,
                                                                         saga.currency),
            "currency": saga.currency, "source_account": saga.source_account,
            "payee_account": saga.payee_account, "rail_reference": saga.rail_reference,
            "error": saga.error, "attempts": saga.attempts,
            "steps": [{"step": s.step, "status": s.status, "detail": s.detail,
                       "at": _when(s.timestamp)} for s in steps]}


def _transfer(transfer: Transfer, codes: Mapping[int, str]) -> dict[str, Any]:
    return {"id": transfer.id, "kind": transfer.kind.value,
            "debit": codes.get(transfer.debit_account_id, str(transfer.debit_account_id)),
            "credit": codes.get(transfer.credit_account_id, str(transfer.credit_account_id)),
            "amount": _major(transfer.amount, transfer.currency),
            "currency": transfer.currency, "at": _when(transfer.timestamp)}


def _major(minor: int, currency: str) -> str:
    return str(Money(int(minor), Currency.of(currency)).amount)


def _when(us: int) -> str:
    return utc_datetime(us).isoformat()
