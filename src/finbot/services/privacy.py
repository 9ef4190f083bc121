"""Personal data's life cycle: erasure of a vendor by crypto-shredding, rotation of the
keys that protect vendors' details, and retention of the data classes that expire.

An erasure destroys the vendor's data key in one transaction with its audit record and
event; neither holds any of the details, so the decision log's chain is untouched and
still verifies. A rotation works a batch of vendors per transaction and keeps its state
in the rows (a key is either under the current KEK or not), so it can stop anywhere and
be run again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from finbot.domain.clock import DAY_US, now_us
from finbot.domain.errors import Conflict, NotFound
from finbot.domain.vendors import VendorStatus
from finbot.privacy.keys import KeyRing
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.retry import retrying

Progress = Callable[[int], None]
"""Told how many more items were done."""


class RetentionStore(Protocol):
    def purge(self, name: str, *, before_us: int, dry_run: bool, limit: int) -> int: ...
    def oldest(self, name: str) -> int | None: ...


@dataclass(frozen=True)
class Erasure:
    """A vendor's erasure: when, by whom, and the audit record that says so."""

    vendor_id: str
    by: str
    at_us: int
    record_seq: int


@dataclass
class RotationReport:
    kek_version: int
    rewrapped: int = 0
    fresh_data_keys: bool = False
    remaining: int = 0


@dataclass(frozen=True)
class KeyCount:
    kek_version: int
    key_version: int
    destroyed: bool
    vendors: int


@dataclass(frozen=True)
class KeyStatus:
    current: int
    known: list[int]
    counts: list[KeyCount]

    @property
    def stale(self) -> int:
        """Live keys an older KEK than the current one wraps: a rotation's work left."""
        return sum(c.vendors for c in self.counts
                   if not c.destroyed and c.kek_version != self.current)

    def per_kek(self) -> dict[str, int]:
        """Live keys per KEK version, and the destroyed ones apart."""
        found: dict[str, int] = {}
        for count in self.counts:
            label = "destroyed" if count.destroyed else f"kek-{count.kek_version}"
            found[label] = found.get(label, 0) + count.vendors
        return found


@dataclass(frozen=True)
class ClassReport:
    """One data class after a retention run."""

    name: str
    days: float | None
    cutoff_us: int | None
    purged: int
    oldest_kept_us: int | None


@dataclass
class RetentionReport:
    dry_run: bool
    classes: list[ClassReport] = field(default_factory=list)

    @property
    def purged(self) -> int:
        return sum(c.purged for c in self.classes)


class PrivacyService:
    """Erasure, key rotation and retention."""

    def __init__(self, uow: UowFactory, audit: AuditLog, keys: KeyRing, *, outbox: Outbox,
                 retention: RetentionStore, days: Mapping[str, float | None],
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._audit = audit
        self._keys = keys
        self._outbox = outbox
        self._retention = retention
        self._days = dict(days)
        self._clock = clock

    def erase_vendor(self, vendor_id: str, *, by: str) -> Erasure:
        """Destroy the vendor's data key: its bank and tax details read as erased
        everywhere from now on, and it is suspended (nothing is left to pay it to). The
        audit record names the vendor, who and when; never a detail."""
        def erase() -> Erasure:
            with self._uow() as uow:
                vendor = uow.vendors.get(vendor_id)
                if vendor is None:
                    raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
                at = self._clock()
                if not uow.vendors.erase(vendor_id, now_us=at):
                    raise Conflict(f"vendor {vendor_id!r} was already erased",
                                   code="vendor_erased", field="vendor_id")
                uow.vendors.set_status(vendor_id, VendorStatus.SUSPENDED)
                record = self._audit.append_in(uow, "erasure", f"erasure:{vendor_id}", {
                    "vendor_id": vendor_id, "tenant": vendor.tenant, "by": by, "at_us": at,
                    "what": "data key destroyed; bank and tax details unreadable; "
                            "conversations and notes deleted"})
                self._outbox.emit_many_in(uow, vendor_id, [
                    ("vendor.erased", {"vendor_id": vendor_id}),
                    ("vendor.status_changed", {"vendor_id": vendor_id,
                                               "status": VendorStatus.SUSPENDED.value})],
                    tenant=vendor.tenant)
                uow.commit()
            return Erasure(vendor_id, by, at, record.seq)
        return retrying(erase)

    def rotate(self, *, data_keys: bool = False, batch: int = 100,
               progress: Progress | None = None) -> RotationReport:
        """Re-wrap every vendor data key that an older KEK wraps with the current one (with
        ``data_keys``, give each a fresh data key and re-seal its details), ``batch``
        vendors per transaction. Readers go on meanwhile: they hold both KEK versions."""
        report = RotationReport(self._keys.current, fresh_data_keys=data_keys)
        while True:
            with self._uow() as uow:
                todo = uow.vendors.stale_keys(limit=batch)
            if not todo:
                break
            done = retrying(partial(self._rewrap, todo, data_keys))
            if progress:
                progress(len(todo))
            if not done:  # others (a concurrent rotation) own what is left
                break
            report.rewrapped += len(done)
        report.remaining = self.key_status().stale
        return report

    def _rewrap(self, vendor_ids: list[str], data_keys: bool) -> set[str]:
        with self._uow() as uow:
            now = self._clock()
            done = {v for v in vendor_ids
                    if uow.vendors.rewrap_key(v, fresh_data_key=data_keys, now_us=now)}
            uow.commit()
        return done

    def key_status(self) -> KeyStatus:
        """The current KEK version, the versions this process holds, and how many vendor
        keys each KEK version (and data-key version) wraps."""
        with self._uow() as uow:
            counts = [KeyCount(*row) for row in uow.vendors.key_counts()]
        return KeyStatus(self._keys.current, self._keys.versions, counts)

    def retain(self, *, dry_run: bool = False, at_us: int | None = None, batch: int = 1000,
               progress: Progress | None = None) -> RetentionReport:
        """Purge each data class's rows older than its retention (FINBOT_RETENTION_DAYS),
        ``batch`` rows per transaction; with ``dry_run`` only count them."""
        now = at_us if at_us is not None else self._clock()
        report = RetentionReport(dry_run)
        for name, days in self._days.items():
            cutoff = None if days is None else now - int(days * DAY_US)
            purged = 0 if cutoff is None else self._purge(name, cutoff, dry_run, batch,
                                                          progress)
            report.classes.append(ClassReport(name, days, cutoff, purged,
                                              self._retention.oldest(name)))
        return report

    def _purge(self, name: str, cutoff: int, dry_run: bool, batch: int,
               progress: Progress | None) -> int:
        if dry_run:
            return self._retention.purge(name, before_us=cutoff, dry_run=True, limit=0)
        total = 0
        while n := self._retention.purge(name, before_us=cutoff, dry_run=False, limit=batch):
            total += n
            if progress:
                progress(n)
        return total
