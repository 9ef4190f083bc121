"""Labelled invoice payments as records plus the matrices a model trains on.

The records stay in integer minor units so the training-data hash (``digest``) never depends
on float formatting; only the feature matrix ``X`` holds floats.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from finbot.fraud.features import PaymentContext, VendorSize, feature_vector

LEGIT = "legit"
"""The ``pattern`` of every payment that is not fraud."""

_DIGEST_FORMAT = "finbot.fraud.dataset/v1"


@dataclass(frozen=True, slots=True)
class Vendor:
    """A vendor the platform pays; ``created_day`` may be negative (before the data year)."""

    id: str
    name: str
    country: str
    currency: str
    size: VendorSize
    created_day: int


@dataclass(frozen=True, slots=True)
class Payment:
    """One invoice payment with its ground truth: ``label`` 1 and a fraud ``pattern``, or 0."""

    invoice_id: str
    vendor_id: str
    day: int
    context: PaymentContext
    label: int
    pattern: str


@dataclass(frozen=True, eq=False)
class Dataset:
    """Vendors and payments, with ``X`` (features per payment) and ``y`` (labels) precomputed.

    Build one with ``Dataset.of``; the arrays are read-only so they cannot drift from the
    records that ``digest`` hashes. ``provenance`` says where the data came from (such as the
    generator's arguments) and is not part of the digest, which covers content only.
    """

    vendors: tuple[Vendor, ...]
    payments: tuple[Payment, ...]
    X: NDArray[np.float64]
    y: NDArray[np.int64]
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, vendors: Sequence[Vendor], payments: Sequence[Payment], *,
           provenance: Mapping[str, Any] | None = None) -> Dataset:
        matrix = np.array([feature_vector(p.context) for p in payments], dtype=np.float64)
        labels = np.array([p.label for p in payments], dtype=np.int64)
        matrix = matrix.reshape(len(payments), -1)
        matrix.setflags(write=False)
        labels.setflags(write=False)
        return cls(tuple(vendors), tuple(payments), matrix, labels, dict(provenance or {}))

    def __len__(self) -> int:
        return len(self.payments)

    @property
    def segments(self) -> list[tuple[str, str]]:
        """``(vendor country, vendor size)`` for each payment, in row order."""
        return [(p.context.vendor_country, p.context.vendor_size) for p in self.payments]

    def subset(self, rows: Sequence[int] | NDArray[np.intp]) -> Dataset:
        """The payments at ``rows`` (in that order), with every vendor kept."""
        return Dataset.of(self.vendors, [self.payments[int(i)] for i in rows],
                          provenance=self.provenance)

    def pattern_counts(self) -> dict[str, int]:
        """How many payments follow each pattern, ``legit`` included, sorted by name."""
        return dict(sorted(Counter(p.pattern for p in self.payments).items()))

    def digest(self) -> str:
        """SHA-256 (hex) of a canonical JSON-lines form of every vendor and payment."""
        sha = hashlib.sha256(_DIGEST_FORMAT.encode() + b"\n")
        records: list[Vendor | Payment] = [*self.vendors, *self.payments]
        for record in records:
            line = json.dumps(asdict(record), sort_keys=True, separators=(",", ":"))
            sha.update(line.encode() + b"\n")
        return sha.hexdigest()
