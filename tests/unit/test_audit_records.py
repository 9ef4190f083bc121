"""An audit record's body: its envelope's canonical JSON, built around its data's."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from finbot.domain.audit import GENESIS, canonical_json, envelope_json, make_record

_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@given(seq=st.integers(1, 2**53), record_id=st.text(min_size=1), kind=st.text(),
       decision_id=st.none() | st.text(), created_at=st.integers(0, 2**63),
       data=st.dictionaries(st.text(), _JSON, max_size=6))
def test_the_envelope_is_the_canonical_json_of_the_whole_record(
        seq: int, record_id: str, kind: str, decision_id: str | None, created_at: int,
        data: dict[str, Any]) -> None:
    whole = canonical_json({"seq": seq, "record_id": record_id, "kind": kind,
                            "decision_id": decision_id, "created_at": created_at,
                            "data": data})
    assert envelope_json(seq=seq, record_id=record_id, kind=kind, decision_id=decision_id,
                         created_at=created_at, data_json=canonical_json(data)) == whole
    made = make_record(seq=seq, record_id=record_id, kind=kind, decision_id=decision_id,
                       created_at=created_at, data=data, prev_hash=GENESIS)
    assert made.body == whole
    assert made.data == data
