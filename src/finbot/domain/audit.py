"""The audit chain: every decision, review and execution as a hash-linked record.

A record's stored ``body`` is the canonical JSON of its envelope (sequence number, id,
kind, decision id, time and data). Its hash is SHA-256 over the previous record's hex hash
followed by the body's UTF-8 bytes, so an outside script can check the chain with only
``hashlib``; any edit, deletion, insertion or reordering breaks it at that record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

GENESIS = "0" * 64
RECORD_KINDS = frozenset({"decision", "review", "execution", "reversal", "breaker", "policy",
                          "note", "rollback", "challenger", "erasure"})


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text; Decimals as strings. Stable across runs."""
    return _CANONICAL.encode(value)


def _encode(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not allowed in an audit record")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False, default=_encode)
"""One encoder for every call (``json.dumps`` with these options builds one per call)."""


_string = json.JSONEncoder(ensure_ascii=False).encode
"""A JSON string literal exactly as canonical_json writes it."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chain_hash(prev_hash: str, body: str) -> str:
    """The record hash: SHA-256(previous hex hash + canonical body), hex."""
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """One immutable line of the regulator's record."""

    seq: int
    record_id: str
    kind: str
    decision_id: str | None
    created_at: int
    body: str
    prev_hash: str
    hash: str

    @property
    def data(self) -> dict[str, Any]:
        envelope: dict[str, Any] = json.loads(self.body)
        return dict(envelope["data"])


def make_record(*, seq: int, record_id: str, kind: str, decision_id: str | None,
                created_at: int, data: Mapping[str, Any], prev_hash: str,
                data_json: str | None = None) -> AuditRecord:
    """The next record. Its body is the canonical JSON of its envelope; ``data_json``, the
    canonical JSON of ``data`` when the caller has it already, is not made again."""
    body = envelope_json(seq=seq, record_id=record_id, kind=kind, decision_id=decision_id,
                         created_at=created_at,
                         data_json=canonical_json(dict(data)) if data_json is None
                         else data_json)
    return AuditRecord(seq, record_id, kind, decision_id, created_at, body, prev_hash,
                       chain_hash(prev_hash, body))


def envelope_json(*, seq: int, record_id: str, kind: str, decision_id: str | None,
                  created_at: int, data_json: str) -> str:
    """``canonical_json`` of a record's envelope, around its data's canonical JSON: the
    keys in sorted order, each value as ``canonical_json`` writes it."""
    return (f'{{"created_at":{canonical_json(created_at)},"data":{data_json},'
            f'"decision_id":{canonical_json(decision_id)},"kind":{canonical_json(kind)},'
            f'"record_id":{canonical_json(record_id)},"seq":{canonical_json(seq)}}}')


@dataclass(frozen=True)
class DecisionSearch:
    """What the decision explorer asks of the log; an empty field does not filter."""

    vendor_id: str = ""
    invoice_id: str = ""
    agent_id: str = ""
    outcome: str = ""
    since_us: int | None = None
    until_us: int | None = None


@dataclass(frozen=True)
class ChainProblem:
    """The first record where the chain does not hold, and why."""

    seq: int
    message: str


def verify_chain(records: Iterable[AuditRecord]) -> Iterator[ChainProblem]:
    """Yield every break, in order: gaps, wrong links, edited bodies or columns."""
    expected_seq, prev = 1, GENESIS
    for record in records:
        yield from check_record(record, expected_seq, prev)
        expected_seq, prev = record.seq + 1, record.hash


def check_record(record: AuditRecord, expected_seq: int, prev: str) -> Iterator[ChainProblem]:
    """The breaks at one record, given the sequence and hash the chain expects there."""
    if record.seq != expected_seq:
        yield ChainProblem(record.seq, f"record {record.seq} found where {expected_seq} "
                                       "was expected (a record was deleted or inserted)")
    if record.prev_hash != prev:
        yield ChainProblem(record.seq, f"record {record.seq} does not link to the record "
                                       "before it (reordered, inserted or edited)")
    if chain_hash(record.prev_hash, record.body) != record.hash:
        yield ChainProblem(record.seq, f"record {record.seq} has been edited: its hash "
                                       "does not match its content")
    problem = _columns_disagree(record)
    if problem:
        yield ChainProblem(record.seq, problem)


def _columns_disagree(record: AuditRecord) -> str | None:
    """The stored columns must be exactly those the body (and so the hash) commits to. The
    envelope's fields come first in canonical order, so rebuilding that prefix and comparing
    text avoids parsing a million bodies."""
    expected = f'{{"created_at":{record.created_at},"data":'
    decision = "null" if record.decision_id is None else _string(record.decision_id)
    tail = (f',"decision_id":{decision},"kind":{_string(record.kind)},'
            f'"record_id":{_string(record.record_id)},"seq":{record.seq}}}')
    if not (record.body.startswith(expected) and record.body.endswith(tail)):
        return f"record {record.seq}: its columns were edited (they differ from its body)"
    return None
