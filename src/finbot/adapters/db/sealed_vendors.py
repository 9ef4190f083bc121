"""Vendors' sealed details in SQL: each vendor's wrapped data key (``vendor_keys``), the
fields sealed under it, the blind indexes beside them, and the key's life: created with
the vendor, re-wrapped (or replaced) by a rotation, destroyed by an erasure.

A vendor row is always read joined to its key in one statement, so a reader sees the
fields and the key that sealed them from the same snapshot even while a rotation commits.
Writers of a vendor's sealed fields lock its key row first, so they queue behind a rotation
of that vendor rather than seal under a key it is replacing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, or_, select, update

from finbot.adapters.db.tables import vendor_keys, vendors
from finbot.domain.errors import ConfigurationError, Conflict, NotFound
from finbot.domain.vendors import SEALED_FIELDS, Vendor
from finbot.privacy.keys import DataKey, KeyRing

KEYED_VENDORS = select(vendors, vendor_keys.c.key_version, vendor_keys.c.kek_version,
                       vendor_keys.c.wrapped_key).select_from(
    vendors.outerjoin(vendor_keys, vendor_keys.c.vendor_id == vendors.c.vendor_id))
"""Vendors with their keys: what every read of a vendor selects from."""
_INDEXED = {"tax_id_index": ("tax_id",), "iban_index": ("iban",),
            "account_index": ("routing_number", "account_number")}
"""Each blind index and the fields whose values it stands for."""


def account_value(values: Mapping[str, str]) -> str:
    """A US account as one comparable value (routing/account); empty without a number."""
    return f"{values['routing_number']}/{values['account_number']}" \
        if values["account_number"].strip() else ""


def _indexed_text(column: str, values: Mapping[str, str]) -> str:
    """The value blind index ``column`` stands for."""
    return account_value(values) if column == "account_index" else values[
        _INDEXED[column][0]]


class VendorSealer:
    """Seals and opens one connection's vendor rows with the deployment's key ring."""

    def __init__(self, connection: Connection, keys: KeyRing | None) -> None:
        self.conn = connection
        self._ring = keys

    @property
    def ring(self) -> KeyRing:
        if self._ring is None:
            raise ConfigurationError("vendors' bank and tax details are sealed: this "
                                     "unit of work was built without the key ring",
                                     field="kek")
        return self._ring

    def new_key(self, vendor_id: str, *, now_us: int) -> DataKey:
        """A fresh data key for a new vendor, stored wrapped."""
        key = DataKey.new(vendor_id)
        assert key.key is not None
        kek_version, wrapped = self.ring.wrap(vendor_id, key.key)
        self.conn.execute(insert(vendor_keys).values(
            vendor_id=vendor_id, key_version=key.version, kek_version=kek_version,
            wrapped_key=wrapped, created_at=now_us))
        return key

    def sealed(self, key: DataKey, values: Mapping[str, str]) -> dict[str, Any]:
        """Column values for ``values`` (some of SEALED_FIELDS): each sealed, and the blind
        indexes those fields make up."""
        row: dict[str, Any] = {name: key.seal(name, text) for name, text in values.items()}
        row.update(self.indexes(values))
        return row

    def indexes(self, values: Mapping[str, str], *, version: int | None = None
                ) -> dict[str, str | None]:
        """The blind indexes that ``values`` determine, under KEK ``version``."""
        return {column: self.ring.blind_index(column, _indexed_text(column, values),
                                              version=version)
                for column, fields in _INDEXED.items()
                if all(name in values for name in fields)}

    def opened(self, row: RowMapping) -> dict[str, str]:
        """The plaintext of a KEYED_VENDORS row's sealed fields (ERASED once shredded)."""
        key = self._key_of(row)
        return {name: key.open(name, row[name]) for name in SEALED_FIELDS}

    def _key_of(self, row: RowMapping) -> DataKey:
        vendor_id = row["vendor_id"]
        if row["key_version"] is None:
            raise NotFound(f"vendor {vendor_id!r} has no data key (run `finbot migrate`)",
                           field="vendor_keys")
        wrapped = row["wrapped_key"]
        return DataKey(vendor_id, int(row["key_version"]), None if wrapped is None else
                       self.ring.unwrap(vendor_id, int(row["kek_version"]), wrapped))

    def locked_key(self, vendor_id: str) -> DataKey:
        """The vendor's data key, its row locked for this transaction (PostgreSQL; SQLite
        writers hold the database lock already); Conflict once the vendor was erased."""
        row = self._locked(vendor_id)
        if row is None:
            raise NotFound(f"no vendor {vendor_id!r}", field="vendor_id")
        key = self._key_of(row)
        if key.key is None:
            raise Conflict(f"vendor {vendor_id!r} was erased; its details cannot change",
                           code="vendor_erased", field="vendor_id")
        return key

    def _locked(self, vendor_id: str) -> RowMapping | None:
        query = (select(vendor_keys.c.vendor_id, vendor_keys.c.key_version,
                        vendor_keys.c.kek_version, vendor_keys.c.wrapped_key)
                 .where(vendor_keys.c.vendor_id == vendor_id).with_for_update())
        return self.conn.execute(query).mappings().first()

    def destroy(self, vendor_id: str, *, now_us: int) -> bool:
        """Shred the vendor: drop its wrapped data key and its blind indexes."""
        dropped = self.conn.execute(
            update(vendor_keys).where(vendor_keys.c.vendor_id == vendor_id,
                                      vendor_keys.c.wrapped_key.is_not(None))
            .values(wrapped_key=None, destroyed_at=now_us)).rowcount
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id)
                          .values(**dict.fromkeys(_INDEXED)))
        return bool(dropped)

    def sharing(self, vendor: Vendor) -> list[str]:
        """Other vendors of ``vendor``'s tenant with its bank account or tax id, matched
        under every known KEK version (a rotation re-indexes vendors one by one)."""
        values = {name: getattr(vendor, name) for name in SEALED_FIELDS}
        matches = []
        for column in _INDEXED:
            text = _indexed_text(column, values)
            candidates = self.ring.blind_indexes(column, text) if not vendor.erased else []
            if candidates:
                matches.append(vendors.c[column].in_(candidates))
        if not matches:
            return []
        query = (select(vendors.c.vendor_id)
                 .where(vendors.c.tenant == vendor.tenant,
                        vendors.c.vendor_id != vendor.vendor_id, or_(*matches))
                 .order_by(vendors.c.vendor_id))
        return [row[0] for row in self.conn.execute(query)]

    # rotation ----------------------------------------------------------------------------

    def stale(self, *, limit: int) -> list[str]:
        """Vendors whose live data key is wrapped by an older KEK than the current one."""
        query = (select(vendor_keys.c.vendor_id)
                 .where(vendor_keys.c.kek_version != self.ring.current,
                        vendor_keys.c.wrapped_key.is_not(None))
                 .order_by(vendor_keys.c.vendor_id).limit(limit))
        return [row[0] for row in self.conn.execute(query)]

    def rewrap(self, vendor_id: str, *, fresh_data_key: bool, now_us: int) -> bool:
        """Wrap the vendor's data key with the current KEK and re-index its fields under
        it; with ``fresh_data_key`` re-seal the fields under a new data key first. False if
        another rotation (or an erasure) got there first."""
        locked = self._locked(vendor_id)
        if locked is None or locked["wrapped_key"] is None or (
                locked["kek_version"] == self.ring.current):
            return False
        old = self._key_of(locked)
        row = self.conn.execute(select(vendors).where(vendors.c.vendor_id == vendor_id)
                                ).mappings().one()
        plain = {name: old.open(name, row[name]) for name in SEALED_FIELDS}
        key = DataKey.new(vendor_id, version=old.version + 1) if fresh_data_key else old
        assert key.key is not None
        fields = self.sealed(key, plain) if fresh_data_key else self.indexes(plain)
        self.conn.execute(update(vendors).where(vendors.c.vendor_id == vendor_id)
                          .values(**fields))
        kek_version, wrapped = self.ring.wrap(vendor_id, key.key)
        self.conn.execute(update(vendor_keys).where(vendor_keys.c.vendor_id == vendor_id)
                          .values(key_version=key.version, kek_version=kek_version,
                                  wrapped_key=wrapped, rotated_at=now_us))
        return True

    def counts(self) -> list[tuple[int, int, bool, int]]:
        """(KEK version, data-key version, destroyed, vendors) for every combination."""
        destroyed = vendor_keys.c.wrapped_key.is_(None)
        query = (select(vendor_keys.c.kek_version, vendor_keys.c.key_version, destroyed,
                        func.count())
                 .group_by(vendor_keys.c.kek_version, vendor_keys.c.key_version, destroyed)
                 .order_by(vendor_keys.c.kek_version, vendor_keys.c.key_version))
        return [(int(k), int(v), bool(d), int(n)) for k, v, d, n in self.conn.execute(query)]
