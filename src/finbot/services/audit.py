"""The regulator's record: append hash-linked records, checkpoint them, prove and verify.

Appends take the chain head's lock, so records are numbered without gaps in commit order;
``append_in`` joins a caller's unit of work, so a decision and its record commit together.
Checkpoints are RFC 6962 Merkle roots over the record hashes, authenticated with an HMAC of
the secret key; a proof shows one record's inclusion without the rest of the log.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from finbot.domain.audit import (
    GENESIS,
    RECORD_KINDS,
    AuditRecord,
    ChainProblem,
    check_record,
    make_record,
)
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput, NotFound
from finbot.domain.merkle import MerkleAccumulator, inclusion_proof, leaf_hash
from finbot.services.ledger import UowFactory
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying

Progress = Callable[[int, int], None]
EXPORT_FORMAT = "finbot-audit-export/1"


@dataclass(frozen=True)
class InclusionProof:
    """Everything an outsider needs to check one record against a checkpoint."""

    record: AuditRecord
    index: int
    tree_size: int
    root_hash: str
    path: list[str]


@dataclass(frozen=True)
class ChainReport:
    """A verification's answer: how far the chain reached when it began, and its breaks."""

    head_seq: int
    head_hash: str
    problems: list[ChainProblem]

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditLog:
    """Appends to, checkpoints and verifies the audit chain."""

    def __init__(self, uow: UowFactory, *, secret: bytes, clock: Callable[[], int] = now_us,
                 read_uow: UowFactory | None = None) -> None:
        """``read_uow`` gives read-only transactions for long reads (verify, prove, export,
        hashing a checkpoint), so they never hold SQLite's write lock."""
        self._uow = uow
        self._read = read_uow or uow
        self._secret = secret
        self._clock = clock

    def append(self, kind: str, record_id: str, data: Mapping[str, Any], *,
               decision_id: str | None = None) -> AuditRecord:
        """Append one record in its own transaction."""
        def attempt() -> AuditRecord:
            with self._uow() as uow:
                record = self.append_in(uow, kind, record_id, data, decision_id=decision_id)
                uow.commit()
            return record
        return retrying(attempt)

    def append_in(self, uow: UnitOfWork, kind: str, record_id: str, data: Mapping[str, Any],
                  *, decision_id: str | None = None, data_json: str | None = None
                  ) -> AuditRecord:
        """Append inside the caller's transaction (the caller commits). ``data_json``:
        ``data``'s canonical JSON, when the caller has made it already."""
        if kind not in RECORD_KINDS:
            raise InvalidInput(f"unknown audit record kind {kind!r}", field="kind")
        if not record_id or len(record_id) > 128:
            raise InvalidInput("an audit record id is 1 to 128 characters", field="record_id")
        seq, prev = uow.audit.lock_head()
        record = make_record(seq=seq + 1, record_id=record_id, kind=kind,
                             decision_id=decision_id, created_at=self._clock(), data=data,
                             prev_hash=prev, data_json=data_json)
        uow.audit.append(record)
        return record

    def checkpoint(self) -> tuple[int, str]:
        """Record the Merkle root over every record so far; returns (size, root).

        Records up to ``size`` never change, so the root is hashed in a read transaction and
        only the insert of the checkpoint takes the write lock."""
        with self._read() as uow:
            size, _ = uow.audit.head()
            tree = MerkleAccumulator()
            for leaf in _leaves(uow, size):
                tree.add(leaf)
        root = tree.root().hex()
        if size:
            retrying(lambda: self._add_checkpoint(size, root))
        return size, root

    def _add_checkpoint(self, size: int, root: str) -> None:
        with self._uow() as uow:
            uow.audit.lock_head()  # one checkpoint writer at a time
            if size not in {s for s, _, _ in uow.audit.checkpoints()}:
                uow.audit.add_checkpoint(size, root, self._mac(size, root), self._clock())
                uow.commit()

    def prove(self, record_id: str) -> InclusionProof:
        """An inclusion proof of ``record_id`` against the newest checkpoint covering it."""
        with self._read() as uow:
            record = uow.audit.by_id(record_id)
            if record is None:
                raise NotFound(f"no audit record {record_id!r}", field="record_id")
            covering = [c for c in uow.audit.checkpoints() if c[0] >= record.seq]
            if not covering:
                raise NotFound(f"no checkpoint covers record {record.seq} yet; run "
                               "`finbot audit checkpoint`", field="record_id")
            size, root, _ = covering[-1]
            leaves = list(_leaves(uow, size))
        path = inclusion_proof(record.seq - 1, leaves)
        return InclusionProof(record, record.seq - 1, size, root, [p.hex() for p in path])

    def export(self, first: int, last: int) -> list[dict[str, Any]]:
        """Records ``first..last`` as self-contained JSON objects: a header with the hash
        the first record links to, the records, and a proof that the last one is in the
        newest checkpoint (each hash commits to all before it, so one proof covers all)."""
        if not 1 <= first <= last:
            raise InvalidInput("export needs 1 <= --from <= --to", field="from")
        with self._read() as uow:
            records = list(uow.audit.records(after=first - 1, upto=last))
        if not records or records[-1].seq != last:
            raise NotFound(f"the log has no records {first}..{last}", field="to")
        lines: list[dict[str, Any]] = [{"format": EXPORT_FORMAT, "from": first, "to": last,
                                        "anchor_prev_hash": records[0].prev_hash}]
        lines += [_export_record(r) for r in records]
        try:
            proof = self.prove(records[-1].record_id)
        except NotFound:
            lines.append({"checkpoint": None})
        else:
            lines.append({"checkpoint": {"tree_size": proof.tree_size,
                                         "root_hash": proof.root_hash},
                          "proof": {"seq": proof.record.seq, "index": proof.index,
                                    "path": proof.path}})
        return lines

    def verify(self, *, progress: Progress | None = None,
               limit: int = 100) -> list[ChainProblem]:
        """The first ``limit`` breaks in the chain, the head and the checkpoints, in order."""
        problems: list[ChainProblem] = []
        with closing(self._problems(progress)) as found:  # closes the reads on early exit
            for problem in found:
                problems.append(problem)
                if len(problems) >= limit:
                    break
        return problems

    def report(self, *, limit: int = 20) -> ChainReport:
        """The chain's head and the first ``limit`` problems verifying it finds."""
        with self._read() as uow:
            head_seq, head_hash = uow.audit.head()
        return ChainReport(head_seq, head_hash, self.verify(limit=limit))

    def _problems(self, progress: Progress | None) -> Generator[ChainProblem, None, None]:
        with self._read() as uow:
            head_seq, head_hash = uow.audit.head()
            checkpoints = {size: (root, mac) for size, root, mac in uow.audit.checkpoints()}
            tree, last, total = MerkleAccumulator(), (0, GENESIS), head_seq
            with closing(self._counted(uow.audit.records(), total, progress)) as records:
                for record in records:
                    yield from check_record(record, last[0] + 1, last[1])
                    tree.add(_leaf(record))
                    yield from self._check_checkpoint(tree, checkpoints)
                    last = (record.seq, record.hash)
        if last != (head_seq, head_hash):
            yield ChainProblem(last[0] + 1, f"the chain ends at record {last[0]} but its head "
                                            f"says {head_seq} (records were removed at the end)")
        for size in sorted(s for s in checkpoints if s > tree.size):
            yield ChainProblem(size, f"checkpoint at {size} records but only {tree.size} exist")

    def _check_checkpoint(self, tree: MerkleAccumulator,
                          checkpoints: dict[int, tuple[str, str]]) -> Iterator[ChainProblem]:
        if tree.size not in checkpoints:
            return
        root, mac = checkpoints[tree.size]
        if not hmac.compare_digest(mac, self._mac(tree.size, root)):
            yield ChainProblem(tree.size, f"checkpoint at {tree.size} is not authentic")
        if tree.root().hex() != root:
            yield ChainProblem(tree.size, f"records 1..{tree.size} no longer match the "
                                          "checkpoint taken over them")

    @staticmethod
    def _counted(records: Iterator[AuditRecord], total: int,
                 progress: Progress | None) -> Generator[AuditRecord, None, None]:
        for n, record in enumerate(records, start=1):
            if progress is not None and (n % 10_000 == 0 or n == total):
                progress(n, total)
            yield record

    def _mac(self, size: int, root: str) -> str:
        return hmac.new(self._secret, f"{size}:{root}".encode(), hashlib.sha256).hexdigest()


def _leaf(record: AuditRecord) -> bytes:
    """A record's Merkle leaf: RFC 6962 leaf hash of its chain hash."""
    return leaf_hash(bytes.fromhex(record.hash))


def _leaves(uow: UnitOfWork, size: int) -> Iterator[bytes]:
    return (_leaf(record) for record in uow.audit.records(upto=size))


def _export_record(record: AuditRecord) -> dict[str, Any]:
    return {"seq": record.seq, "record_id": record.record_id, "kind": record.kind,
            "decision_id": record.decision_id, "created_at": record.created_at,
            "body": record.body, "prev_hash": record.prev_hash, "hash": record.hash}
