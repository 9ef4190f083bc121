"""Decision proposals: well-formed ones pass; each kind of malformed one gets its own code."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finbot.domain.decisions import (
    ModelVersion,
    Outcome,
    Proposal,
    ProposalRejected,
    check_proposal,
    snapshot_hash,
)

SNAPSHOT = {"invoice": {"id": "inv-1", "amount": "1250.00", "currency": "USD"},
            "vendor": {"id": "v-1", "avg_30d": "300.00"}}
VERSION = ModelVersion("invoice-agent/1", "offline", "ab" * 32, "policy-3")


def proposal(**changes: Any) -> Proposal:
    base = Proposal("invoice-agent", VERSION, SNAPSHOT, snapshot_hash(SNAPSHOT), "APPROVE", 0.9,
                    "amount matches PO-17 and is within the vendor's 30-day average",
                    started_at_us=1_000_000, proposed_at_us=2_000_000)
    return replace(base, **changes)


def test_a_well_formed_proposal_passes_with_its_outcome() -> None:
    assert check_proposal(proposal(), timeout_s=30) is Outcome.APPROVE
    assert VERSION.label.startswith("invoice-agent/1/offline/abababababab/policy-3")


@pytest.mark.parametrize(("changes", "code"), [
    ({"reasoning": ""}, "reasoning_missing"),
    ({"reasoning": "ok"}, "reasoning_missing"),
    ({"outcome": "PAY_NOW"}, "outcome_unknown"),
    ({"outcome": "BLOCK"}, "outcome_unknown"),
    ({"confidence": 1.5}, "confidence_out_of_range"),
    ({"confidence": -0.1}, "confidence_out_of_range"),
    ({"confidence": float("nan")}, "confidence_out_of_range"),
    ({"confidence": True}, "confidence_out_of_range"),
    ({"input_hash": "0" * 64}, "input_hash_mismatch"),
    ({"input_snapshot": {}}, "snapshot_missing"),
    ({"proposed_at_us": 40_000_000}, "agent_timed_out"),
])
def test_a_malformed_proposal_is_refused_with_a_specific_code(changes: dict[str, Any],
                                                              code: str) -> None:
    with pytest.raises(ProposalRejected) as error:
        check_proposal(proposal(**changes), timeout_s=30)
    assert error.value.code == code


def test_editing_the_snapshot_after_hashing_is_caught() -> None:
    edited = {**SNAPSHOT, "invoice": {**SNAPSHOT["invoice"], "amount": "125000.00"}}
    with pytest.raises(ProposalRejected):
        check_proposal(proposal(input_snapshot=edited), timeout_s=30)


@given(st.dictionaries(st.text(min_size=1), st.one_of(st.integers(), st.text(), st.booleans()),
                       min_size=1))
def test_the_snapshot_hash_ignores_key_order(snapshot: dict[str, Any]) -> None:
    reordered = dict(reversed(list(snapshot.items())))
    assert snapshot_hash(snapshot) == snapshot_hash(reordered)
