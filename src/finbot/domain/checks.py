"""Field checks for transfer requests: each returns a ResultCode for the first fault, or None.

Kept apart from the planner so the order of checks (and so the code a client sees for a
request with several faults) is written down in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from finbot.domain.errors import InvalidMoney
from finbot.domain.ledger import (
    MAX_ID_LENGTH,
    MAX_REFERENCE_LENGTH,
    ResultCode,
    TransferKind,
    TransferRequest,
)
from finbot.domain.money import ISO_4217_EXPONENTS, Currency, plain_decimal_string, to_minor

MAX_METADATA_BYTES = 4096
MAX_TIMEOUT_S = 366 * 24 * 3600

R = ResultCode


def check_id(value: object) -> ResultCode | None:
    if not isinstance(value, str) or value == "":
        return R.ID_MUST_NOT_BE_EMPTY if value in ("", None) else R.ID_INVALID
    if len(value) > MAX_ID_LENGTH:
        return R.ID_TOO_LONG
    if not value.isprintable() or value != value.strip():
        return R.ID_INVALID
    return None


_KINDS: dict[object, TransferKind] = {**{k.value: k for k in TransferKind},
                                      **{k: k for k in TransferKind}}


def parse_kind(value: object, *, allow_expire: bool = False) -> TransferKind | None:
    kind = _KINDS.get(value) if isinstance(value, str) else None
    if kind is TransferKind.EXPIRE_PENDING and not allow_expire:
        return None
    return kind


def check_common(req: TransferRequest, kind: TransferKind) -> ResultCode | None:
    """Checks that do not depend on ledger state: references, timeout, metadata."""
    if (kind is TransferKind.POSTED and req.pending_id is None and req.reversal_of is None
            and req.timeout_s is None and req.reference is None and req.metadata is None):
        return None  # the common case, nothing optional to check
    if kind.resolves_pending and not req.pending_id:
        return R.PENDING_ID_REQUIRED
    if not kind.resolves_pending and req.pending_id is not None:
        return R.PENDING_ID_NOT_ALLOWED
    if kind is TransferKind.REVERSAL and not req.reversal_of:
        return R.REVERSAL_OF_REQUIRED
    if kind is not TransferKind.REVERSAL and req.reversal_of is not None:
        return R.REVERSAL_OF_NOT_ALLOWED
    if req.timeout_s is not None:
        if kind is not TransferKind.PENDING:
            return R.TIMEOUT_RESERVED_FOR_PENDING
        if type(req.timeout_s) is not int or not 0 < req.timeout_s <= MAX_TIMEOUT_S:
            return R.TIMEOUT_INVALID
    if req.reference is not None and (
            not isinstance(req.reference, str) or len(req.reference) > MAX_REFERENCE_LENGTH):
        return R.REFERENCE_TOO_LONG
    return check_metadata(req.metadata)


def check_metadata(metadata: object) -> ResultCode | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        return R.METADATA_INVALID
    try:
        encoded = json.dumps(metadata, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError):
        return R.METADATA_INVALID
    return R.METADATA_INVALID if len(encoded) > MAX_METADATA_BYTES else None


def parse_currency(value: object) -> tuple[str | None, ResultCode | None]:
    if value is None or value == "":
        return None, R.CURRENCY_REQUIRED
    if isinstance(value, str) and value in ISO_4217_EXPONENTS:
        return value, None
    return None, R.CURRENCY_UNKNOWN


def parse_amount(value: object, currency: str) -> tuple[int | None, ResultCode | None]:
    """Minor units of a positive major-unit amount, or the code saying what is wrong."""
    if value is None:
        return None, R.AMOUNT_REQUIRED
    if type(value) is str:
        minor = plain_decimal_string(value, ISO_4217_EXPONENTS[currency])
        if minor is not None:
            return (minor, None) if minor > 0 else (None, R.AMOUNT_MUST_BE_POSITIVE)
    kind = type(value)
    if kind is not str and kind is not Decimal and kind is not int and (
            isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str))):
        return None, R.AMOUNT_INVALID
    try:
        minor = to_minor(value, Currency(currency, ISO_4217_EXPONENTS[currency]))  # type: ignore[arg-type]
    except InvalidMoney as exc:
        return None, _amount_code(str(exc))
    return (minor, None) if minor > 0 else (None, R.AMOUNT_MUST_BE_POSITIVE)


def _amount_code(message: str) -> ResultCode:
    if "decimal places" in message:
        return R.AMOUNT_TOO_MANY_DECIMAL_PLACES
    if "range" in message:
        return R.AMOUNT_OVERFLOW
    return R.AMOUNT_INVALID


def canonical_amount(value: object) -> Any:
    """A comparable form of a requested amount (``"1.50"`` equals ``Decimal("1.5")``)."""
    if isinstance(value, (bool, float)) or value is None:
        return value
    try:
        return Decimal(value).normalize()  # type: ignore[arg-type]
    except Exception:
        return value
