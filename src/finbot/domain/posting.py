"""The ledger's rules as one pure function: requests + a snapshot in, a plan to append out.

``plan_batch`` decides every result code, the transfers to append, the rejections to
remember and each touched account's new balances, without any I/O. The service layer
loads the snapshot under lock, calls it and writes the plan in one transaction, so the
rules are the same for every database and easy to test exhaustively.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from finbot.domain import checks
from finbot.domain.ledger import (
    Account,
    AccountFlag,
    Balances,
    Rejection,
    ResultCode,
    Transfer,
    TransferKind,
    TransferRequest,
    TransferResult,
    request_fields,
)
from finbot.domain.money import MAX_MINOR

R = ResultCode
K = TransferKind

REMEMBERED = frozenset({
    R.EXCEEDS_CREDITS, R.EXCEEDS_DEBITS, R.OVERFLOWS_BALANCE, R.EXCEEDS_PENDING_TRANSFER_AMOUNT,
    R.EXCEEDS_REVERSIBLE_AMOUNT, R.PENDING_TRANSFER_ALREADY_POSTED,
    R.PENDING_TRANSFER_ALREADY_VOIDED, R.PENDING_TRANSFER_EXPIRED,
})
"""Business rejections kept per id: a retry gets the same answer even if balances change."""

_NOT_POSTING = frozenset({K.PENDING, K.VOID_PENDING, K.EXPIRE_PENDING})
_NO_OVERDRAFT = int(AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
_NO_OVERCREDIT = int(AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS)
_RESOLVED_CODES = {K.POST_PENDING: R.PENDING_TRANSFER_ALREADY_POSTED,
                   K.VOID_PENDING: R.PENDING_TRANSFER_ALREADY_VOIDED,
                   K.EXPIRE_PENDING: R.PENDING_TRANSFER_EXPIRED}


@dataclass
class LedgerSnapshot:
    """What the planner may read: the accounts, transfers and history a batch refers to."""

    accounts: dict[int, Account]
    transfers: dict[str, Transfer] = field(default_factory=dict)
    rejections: dict[str, Rejection] = field(default_factory=dict)
    resolved: dict[str, TransferKind] = field(default_factory=dict)
    reversed: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_code = {a.code: a for a in self.accounts.values()}


@dataclass(frozen=True)
class Group:
    """Requests that commit together (linked) or each on its own."""

    requests: Sequence[TransferRequest]
    linked: bool = False


@dataclass
class BatchPlan:
    """What to append: per-group results, new transfers, rejections and new balances."""

    results: list[list[TransferResult]] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    balances: dict[int, Balances] = field(default_factory=dict)


class _Move(NamedTuple):
    """A new transfer and the balances its two accounts will have after it."""

    transfer: Transfer
    debit_balances: Balances
    credit_balances: Balances


class _Failed(Exception):
    def __init__(self, code: ResultCode) -> None:
        self.code = code


@dataclass
class _State:
    """The planner's working copy; cheap to copy so a failed linked group rolls back."""

    balances: dict[int, Balances]
    transfers: dict[str, Transfer]
    resolved: dict[str, TransferKind]
    reversed: dict[str, int]
    new: list[Transfer]

    def copy(self) -> _State:
        return _State(dict(self.balances), dict(self.transfers), dict(self.resolved),
                      dict(self.reversed), list(self.new))


def plan_batch(groups: Sequence[Group], snapshot: LedgerSnapshot, now_us: int, *,
               default_timeout_s: int | None = None, allow_expire: bool = False) -> BatchPlan:
    """Decide every request in order; timestamps are ``now_us``, ``now_us + 1``, …"""
    planner = _Planner(snapshot, now_us, default_timeout_s, allow_expire)
    plan = BatchPlan()
    for group in groups:
        plan.results.append(planner.run(group))
    plan.transfers = planner.state.new
    plan.rejections = planner.rejections
    plan.balances = {i: b for i, b in planner.state.balances.items()
                     if b != snapshot.accounts[i].balances}
    return plan


class _Planner:
    def __init__(self, snapshot: LedgerSnapshot, now_us: int, default_timeout_s: int | None,
                 allow_expire: bool) -> None:
        self.snap = snapshot
        self.clock = now_us
        self.default_timeout_s = default_timeout_s
        self.allow_expire = allow_expire
        self.rejections: list[Rejection] = []
        self.remembered = dict(snapshot.rejections)
        self._flags = {i: int(a.flags) for i, a in snapshot.accounts.items()}
        self.state = _State({i: a.balances for i, a in snapshot.accounts.items()},
                            dict(snapshot.transfers), dict(snapshot.resolved),
                            dict(snapshot.reversed), [])

    def run(self, group: Group) -> list[TransferResult]:
        if not group.linked:
            return [self._one(req) for req in group.requests]
        saved = self.state.copy()
        results: list[TransferResult] = []
        for req in group.requests:
            results.append(self._one(req))
            if not results[-1].ok:
                break  # the culprit; nothing after it is evaluated (or remembered)
        else:
            return results
        self.state = saved
        culprit = len(results) - 1
        return [results[i] if i == culprit else TransferResult(_id_of(r), R.LINKED_EVENT_FAILED)
                for i, r in enumerate(group.requests)]

    def _one(self, req: TransferRequest) -> TransferResult:
        rid = _id_of(req)
        try:
            decided = self._decide(req)
        except _Failed as failure:
            if failure.code in REMEMBERED and rid not in self.remembered:
                rejection = Rejection(rid, failure.code, request_fields(req), self.clock)
                self.remembered[rid] = rejection
                self.rejections.append(rejection)
            return TransferResult(rid, failure.code)
        if isinstance(decided, Transfer):
            return TransferResult(rid, R.EXISTS, decided)
        self._apply(decided)
        return TransferResult(rid, R.OK, decided.transfer)

    def _decide(self, req: TransferRequest) -> Transfer | _Move:
        """The existing transfer for a retry, or the new move; raises _Failed."""
        _fail_if(checks.check_id(req.id))
        existing = self.state.transfers.get(req.id)
        if existing is not None:
            _fail_if(self._compare_existing(req, existing))
            return existing
        remembered = self.remembered.get(req.id)
        if remembered is not None:
            same = remembered.request == request_fields(req)
            raise _Failed(remembered.code if same else R.ID_ALREADY_FAILED)
        kind = checks.parse_kind(req.kind, allow_expire=self.allow_expire)
        if kind is None:
            raise _Failed(R.KIND_INVALID)
        _fail_if(checks.check_common(req, kind))
        if kind in (K.POSTED, K.PENDING):
            return self._new_movement(req, kind)
        if kind is K.REVERSAL:
            return self._reversal(req)
        return self._resolution(req, kind)

    # -- new money movements ------------------------------------------------------------

    def _new_movement(self, req: TransferRequest, kind: TransferKind) -> _Move:
        debit, credit = self._accounts(req)
        currency = self._currency(req, debit, credit)
        amount = _parsed_amount(req.amount, currency)
        timeout = req.timeout_s if req.timeout_s is not None else self.default_timeout_s
        expires = self.clock + timeout * 1_000_000 if kind is K.PENDING and timeout else None
        return self._transfer(req, kind, debit, credit, amount, currency, expires_at=expires)

    def _accounts(self, req: TransferRequest) -> tuple[Account, Account]:
        if not req.debit_account:
            raise _Failed(R.DEBIT_ACCOUNT_REQUIRED)
        if not req.credit_account:
            raise _Failed(R.CREDIT_ACCOUNT_REQUIRED)
        if req.debit_account == req.credit_account:
            raise _Failed(R.ACCOUNTS_MUST_BE_DIFFERENT)
        debit = self.snap.by_code.get(req.debit_account)
        if debit is None:
            raise _Failed(R.DEBIT_ACCOUNT_NOT_FOUND)
        credit = self.snap.by_code.get(req.credit_account)
        if credit is None:
            raise _Failed(R.CREDIT_ACCOUNT_NOT_FOUND)
        return debit, credit

    @staticmethod
    def _currency(req: TransferRequest, debit: Account, credit: Account) -> str:
        currency, code = checks.parse_currency(req.currency)
        _fail_if(code)
        if debit.currency != credit.currency:
            raise _Failed(R.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY)
        if currency != debit.currency:
            raise _Failed(R.CURRENCY_MUST_MATCH_ACCOUNTS)
        return debit.currency

    # -- pending resolution and reversal ---------------------------------------------

    def _resolution(self, req: TransferRequest, kind: TransferKind) -> _Move:
        pending = self.state.transfers.get(req.pending_id or "")
        if pending is None:
            raise _Failed(R.PENDING_TRANSFER_NOT_FOUND)
        if pending.kind is not K.PENDING:
            raise _Failed(R.PENDING_TRANSFER_NOT_PENDING)
        resolved = self.state.resolved.get(pending.id)
        if resolved is not None:
            raise _Failed(_RESOLVED_CODES[resolved])
        expired = pending.expires_at is not None and pending.expires_at <= self.clock
        if kind is K.EXPIRE_PENDING and not expired:
            raise _Failed(R.PENDING_TRANSFER_NOT_EXPIRED)
        if kind is not K.EXPIRE_PENDING and expired:
            raise _Failed(R.PENDING_TRANSFER_EXPIRED)
        debit, credit = self._same_accounts_as(req, pending)
        amount = self._resolution_amount(req, kind, pending)
        return self._transfer(req, kind, debit, credit, amount, pending.currency,
                              parent=pending)

    def _same_accounts_as(self, req: TransferRequest, parent: Transfer) -> tuple[
            Account, Account]:
        debit = self.snap.accounts[parent.debit_account_id]
        credit = self.snap.accounts[parent.credit_account_id]
        if req.debit_account is not None and req.debit_account != debit.code:
            raise _Failed(R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT)
        if req.credit_account is not None and req.credit_account != credit.code:
            raise _Failed(R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT)
        if req.currency is not None and req.currency != parent.currency:
            raise _Failed(R.PENDING_TRANSFER_HAS_DIFFERENT_CURRENCY)
        return debit, credit

    @staticmethod
    def _resolution_amount(req: TransferRequest, kind: TransferKind, pending: Transfer) -> int:
        if req.amount is None:
            return pending.amount
        amount = _parsed_amount(req.amount, pending.currency)
        if kind is K.POST_PENDING and amount > pending.amount:
            raise _Failed(R.EXCEEDS_PENDING_TRANSFER_AMOUNT)
        if kind is not K.POST_PENDING and amount != pending.amount:
            raise _Failed(R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT)
        return amount

    def _reversal(self, req: TransferRequest) -> _Move:
        target = self.state.transfers.get(req.reversal_of or "")
        if target is None:
            raise _Failed(R.REVERSAL_TARGET_NOT_FOUND)
        if target.kind not in (K.POSTED, K.POST_PENDING):
            raise _Failed(R.REVERSAL_TARGET_NOT_REVERSIBLE)
        debit = self.snap.accounts[target.credit_account_id]
        credit = self.snap.accounts[target.debit_account_id]
        if (req.debit_account not in (None, debit.code)
                or req.credit_account not in (None, credit.code)):
            raise _Failed(R.REVERSAL_MUST_SWAP_TARGET_ACCOUNTS)
        if req.currency is not None and req.currency != target.currency:
            raise _Failed(R.REVERSAL_HAS_DIFFERENT_CURRENCY)
        remaining = target.amount - self.state.reversed.get(target.id, 0)
        amount = remaining if req.amount is None else _parsed_amount(req.amount, target.currency)
        if amount > remaining or remaining == 0:
            raise _Failed(R.EXCEEDS_REVERSIBLE_AMOUNT)
        return self._transfer(req, K.REVERSAL, debit, credit, amount, target.currency,
                              parent=target)

    # -- building and applying ----------------------------------------------------------

    def _transfer(self, req: TransferRequest, kind: TransferKind, debit: Account,
                  credit: Account, amount: int, currency: str, *,
                  parent: Transfer | None = None, expires_at: int | None = None) -> _Move:
        d_bal, c_bal = self._next_balances(kind, debit, credit, amount, parent)
        transfer = Transfer(
            req.id, kind, debit.id, credit.id, amount, currency, self.clock,
            d_bal.debits_posted - d_bal.credits_posted, c_bal.debits_posted - c_bal.credits_posted,
            parent.id if parent else None, expires_at, req.reference,
            dict(req.metadata) if req.metadata else None)
        self.clock += 1
        return _Move(transfer, d_bal, c_bal)

    def _next_balances(self, kind: TransferKind, debit: Account, credit: Account, amount: int,
                       parent: Transfer | None) -> tuple[Balances, Balances]:
        dp0, dpo0, cp0, cpo0 = self.state.balances[debit.id]
        dp1, dpo1, cp1, cpo1 = self.state.balances[credit.id]
        held = parent.amount if parent is not None and kind.resolves_pending else 0
        posted = 0 if kind in _NOT_POSTING else amount
        pending = amount if kind is K.PENDING else -held
        d = Balances(dp0 + pending, dpo0 + posted, cp0, cpo0)
        c = Balances(dp1, dpo1, cp1 + pending, cpo1 + posted)
        if max(d.debits_pending + d.debits_posted, c.credits_pending + c.credits_posted) > (
                MAX_MINOR):
            raise _Failed(R.OVERFLOWS_BALANCE)
        if self._flags[debit.id] & _NO_OVERDRAFT and (
                d.debits_pending + d.debits_posted > d.credits_posted):
            raise _Failed(R.EXCEEDS_CREDITS)
        if self._flags[credit.id] & _NO_OVERCREDIT and (
                c.credits_pending + c.credits_posted > c.debits_posted):
            raise _Failed(R.EXCEEDS_DEBITS)
        return d, c

    def _apply(self, move: _Move) -> None:
        state, transfer = self.state, move.transfer
        state.balances[transfer.debit_account_id] = move.debit_balances
        state.balances[transfer.credit_account_id] = move.credit_balances
        state.transfers[transfer.id] = transfer
        state.new.append(transfer)
        if transfer.kind.resolves_pending:
            state.resolved[transfer.parent_id or ""] = transfer.kind
        elif transfer.kind is K.REVERSAL:
            key = transfer.parent_id or ""
            state.reversed[key] = state.reversed.get(key, 0) + transfer.amount

    # -- retries ---------------------------------------------------------------------------

    def _compare_existing(self, req: TransferRequest, existing: Transfer) -> ResultCode | None:
        if str(req.kind) != existing.kind.value:
            return R.EXISTS_WITH_DIFFERENT_KIND
        accounts = self.snap.accounts
        pairs: list[tuple[object, object, ResultCode]] = [
            (req.debit_account, _code(accounts, existing.debit_account_id),
             R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT),
            (req.credit_account, _code(accounts, existing.credit_account_id),
             R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT),
            (req.currency, existing.currency, R.EXISTS_WITH_DIFFERENT_CURRENCY),
            (req.pending_id, existing.pending_id, R.EXISTS_WITH_DIFFERENT_PENDING_ID),
            (req.reversal_of, existing.reversal_of, R.EXISTS_WITH_DIFFERENT_REVERSAL_OF),
        ]
        for asked, stored, code in pairs:
            if asked is not None and asked != stored:
                return code
        return self._compare_details(req, existing)

    @staticmethod
    def _compare_details(req: TransferRequest, existing: Transfer) -> ResultCode | None:
        if req.amount is not None:
            amount, _ = checks.parse_amount(req.amount, existing.currency)
            if amount != existing.amount:
                return R.EXISTS_WITH_DIFFERENT_AMOUNT
        if req.timeout_s is not None and existing.expires_at is not None and (
                req.timeout_s * 1_000_000 != existing.expires_at - existing.timestamp):
            return R.EXISTS_WITH_DIFFERENT_TIMEOUT
        if (req.reference or None) != existing.reference:
            return R.EXISTS_WITH_DIFFERENT_REFERENCE
        if (dict(req.metadata) if req.metadata else None) != (
                dict(existing.metadata) if existing.metadata else None):
            return R.EXISTS_WITH_DIFFERENT_METADATA
        return None


def _id_of(req: TransferRequest) -> str:
    return req.id if isinstance(req.id, str) else ""


def _code(accounts: dict[int, Account], account_id: int) -> str | None:
    account = accounts.get(account_id)
    return account.code if account else None


def _fail_if(code: ResultCode | None) -> None:
    if code is not None:
        raise _Failed(code)


def _parsed_amount(value: object, currency: str) -> int:
    amount, code = checks.parse_amount(value, currency)
    _fail_if(code)
    assert amount is not None
    return amount
