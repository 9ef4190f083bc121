"""Ledger values: accounts, balances, transfers and the result codes a transfer can get.

Every value here is immutable. A transfer debits one account and credits another by
the same amount in one currency, so each transfer is balanced by construction and the
ledger sums to zero per currency. Pending transfers reserve; later transfers post, void
or expire them; reversals compensate. Nothing is ever edited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntFlag, StrEnum
from typing import Any, NamedTuple

MAX_ID_LENGTH = 128
MAX_REFERENCE_LENGTH = 256


class AccountType(StrEnum):
    """The five accounting types; assets and expenses are debit-normal."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


class AccountFlag(IntFlag):
    """Limits an account enforces on every transfer (pending reservations count)."""

    NONE = 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1
    CREDITS_MUST_NOT_EXCEED_DEBITS = 2


class TransferKind(StrEnum):
    """What a transfer does: move money, reserve it, or resolve/compensate another."""

    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    EXPIRE_PENDING = "expire_pending"
    REVERSAL = "reversal"

    @property
    def resolves_pending(self) -> bool:
        return self in _RESOLVING_KINDS


_RESOLVING_KINDS = frozenset(
    {TransferKind.POST_PENDING, TransferKind.VOID_PENDING, TransferKind.EXPIRE_PENDING})


class PendingStatus(StrEnum):
    """Where a pending transfer stands; derived from the transfers that reference it."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class ResultCode(StrEnum):
    """The outcome of one transfer in a batch, after TigerBeetle's result codes."""

    OK = "ok"
    EXISTS = "exists"
    LINKED_EVENT_FAILED = "linked_event_failed"
    ID_ALREADY_FAILED = "id_already_failed"
    ID_MUST_NOT_BE_EMPTY = "id_must_not_be_empty"
    ID_TOO_LONG = "id_too_long"
    ID_INVALID = "id_invalid"
    KIND_INVALID = "kind_invalid"
    DEBIT_ACCOUNT_REQUIRED = "debit_account_required"
    CREDIT_ACCOUNT_REQUIRED = "credit_account_required"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    CURRENCY_REQUIRED = "currency_required"
    CURRENCY_UNKNOWN = "currency_unknown"
    ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY = "accounts_must_have_the_same_currency"
    CURRENCY_MUST_MATCH_ACCOUNTS = "currency_must_match_accounts"
    AMOUNT_REQUIRED = "amount_required"
    AMOUNT_INVALID = "amount_invalid"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_TOO_MANY_DECIMAL_PLACES = "amount_too_many_decimal_places"
    AMOUNT_OVERFLOW = "amount_overflow"
    OVERFLOWS_BALANCE = "overflows_balance"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"
    TIMEOUT_INVALID = "timeout_invalid"
    TIMEOUT_RESERVED_FOR_PENDING = "timeout_reserved_for_pending"
    REFERENCE_TOO_LONG = "reference_too_long"
    METADATA_INVALID = "metadata_invalid"
    PENDING_ID_REQUIRED = "pending_id_required"
    PENDING_ID_NOT_ALLOWED = "pending_id_not_allowed"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    PENDING_TRANSFER_NOT_EXPIRED = "pending_transfer_not_expired"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT = "pending_transfer_has_different_debit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT = "pending_transfer_has_different_credit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY = "pending_transfer_has_different_currency"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    REVERSAL_OF_REQUIRED = "reversal_of_required"
    REVERSAL_OF_NOT_ALLOWED = "reversal_of_not_allowed"
    REVERSAL_TARGET_NOT_FOUND = "reversal_target_not_found"
    REVERSAL_TARGET_NOT_REVERSIBLE = "reversal_target_not_reversible"
    EXCEEDS_REVERSIBLE_AMOUNT = "exceeds_reversible_amount"
    REVERSAL_MUST_SWAP_TARGET_ACCOUNTS = "reversal_must_swap_target_accounts"
    REVERSAL_HAS_DIFFERENT_CURRENCY = "reversal_has_different_currency"
    EXISTS_WITH_DIFFERENT_KIND = "exists_with_different_kind"
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT = "exists_with_different_debit_account"
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT = "exists_with_different_credit_account"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_CURRENCY = "exists_with_different_currency"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_REVERSAL_OF = "exists_with_different_reversal_of"
    EXISTS_WITH_DIFFERENT_TIMEOUT = "exists_with_different_timeout"
    EXISTS_WITH_DIFFERENT_REFERENCE = "exists_with_different_reference"
    EXISTS_WITH_DIFFERENT_METADATA = "exists_with_different_metadata"

    @property
    def succeeded(self) -> bool:
        return self in (ResultCode.OK, ResultCode.EXISTS)


def tenant_account(code: str, tenant: str, *, home_tenant: str) -> str:
    """A tenant's own counterpart of a company account (``code`` itself for the operating
    tenant): ``company:bank`` of tenant ``arena:u-1`` is ``arena:u-1:company:bank``."""
    return code if tenant == home_tenant else f"{tenant}:{code}"


def currency_account_code(code: str, currency: str) -> str:
    """The conventional code of ``code``'s counterpart in another currency (an account
    holds one currency): ``company:bank`` in EUR is ``company:bank:EUR``."""
    return f"{code}:{currency}"


class Balances(NamedTuple):
    """An account's four running totals in minor units (pending reservations apart)."""

    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @property
    def net_posted(self) -> int:
        """Posted debits minus posted credits; the sign convention of stored history."""
        return self.debits_posted - self.credits_posted

    def add(self, *, dp: int = 0, dpo: int = 0, cp: int = 0, cpo: int = 0) -> Balances:
        return Balances(self.debits_pending + dp, self.debits_posted + dpo,
                        self.credits_pending + cp, self.credits_posted + cpo)


@dataclass(frozen=True, slots=True)
class Account:
    """A ledger account; its balances are maintained in the same transaction as postings."""

    id: int
    code: str
    name: str
    type: AccountType
    currency: str
    flags: AccountFlag = AccountFlag.NONE
    balances: Balances = field(default_factory=Balances)
    created_at: int = 0

    def balance(self, balances: Balances | None = None, *, posted_only: bool = True) -> int:
        """The balance on the account's normal side, in minor units."""
        b = balances or self.balances
        debits = b.debits_posted + (0 if posted_only else b.debits_pending)
        credits = b.credits_posted + (0 if posted_only else b.credits_pending)
        return debits - credits if self.type.debit_normal else credits - debits


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """What a client asks the ledger to do; validated into a Transfer or a ResultCode.

    ``amount`` is in major units (``Decimal("12.34")``). For post/void/reversal, omitted
    accounts, currency and amount are taken from the referenced transfer.
    """

    id: str
    debit_account: str | None = None
    credit_account: str | None = None
    amount: Decimal | int | str | None = None
    currency: str | None = None
    kind: TransferKind | str = TransferKind.POSTED
    pending_id: str | None = None
    reversal_of: str | None = None
    timeout_s: int | None = None
    reference: str | None = None
    metadata: Mapping[str, Any] | None = None


class Transfer(NamedTuple):
    """An immutable ledger record: one debit leg and one credit leg of the same amount.

    ``debit_balance``/``credit_balance`` are each account's posted debits minus credits
    right after this transfer, so a balance at any past moment is one index lookup.
    (A NamedTuple rather than a frozen dataclass: the planner builds thousands per batch.)
    """

    id: str
    kind: TransferKind
    debit_account_id: int
    credit_account_id: int
    amount: int
    currency: str
    timestamp: int
    debit_balance: int
    credit_balance: int
    parent_id: str | None = None
    expires_at: int | None = None
    reference: str | None = None
    metadata: Mapping[str, Any] | None = None
    seq: int | None = None

    @property
    def pending_id(self) -> str | None:
        return self.parent_id if self.kind.resolves_pending else None

    @property
    def reversal_of(self) -> str | None:
        return self.parent_id if self.kind is TransferKind.REVERSAL else None


class TransferResult(NamedTuple):
    """The outcome for one request: a code, and the transfer when it exists."""

    id: str
    code: ResultCode
    transfer: Transfer | None = None

    @property
    def ok(self) -> bool:
        return self.code.succeeded


@dataclass(frozen=True, slots=True)
class Rejection:
    """A remembered business rejection, so a retry with the same id cannot flip it."""

    id: str
    code: ResultCode
    request: Mapping[str, Any]
    timestamp: int


def request_fields(req: TransferRequest) -> dict[str, Any]:
    """The canonical, JSON-safe form of a request, used to compare retries."""
    return {
        "kind": str(req.kind), "debit_account": req.debit_account,
        "credit_account": req.credit_account,
        "amount": None if req.amount is None or isinstance(req.amount, float)
        else str(Decimal(req.amount).normalize()) if _is_decimalish(req.amount) else req.amount,
        "currency": req.currency, "pending_id": req.pending_id, "reversal_of": req.reversal_of,
        "timeout": req.timeout_s, "reference": req.reference,
        "metadata": dict(req.metadata) if isinstance(req.metadata, Mapping) else req.metadata,
    }


def _is_decimalish(value: object) -> bool:
    try:
        Decimal(value)  # type: ignore[arg-type]
    except Exception:
        return False
    return True
