"""Random sequences of transfers, reservations, posts, voids and reversals: the ledger's
invariants hold after every step and balances always equal a recomputation from history."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from finbot.domain.ledger import AccountFlag, ResultCode, Transfer, TransferKind, TransferRequest
from finbot.domain.posting import REMEMBERED
from finbot.services.ledger import LedgerService
from tests.fakes import FakeStore, FakeUnitOfWork

ACCOUNTS = {"cash": ("asset", AccountFlag.NONE),
            "wallet": ("liability", AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS),
            "capped": ("asset", AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS),
            "income": ("income", AccountFlag.NONE)}
R = ResultCode
POSTING = (TransferKind.POSTED, TransferKind.POST_PENDING, TransferKind.REVERSAL)

ids = st.sampled_from([f"t{i}" for i in range(12)])
codes = st.sampled_from(sorted(ACCOUNTS))
amounts = st.one_of(st.integers(-5, 500).map(Decimal), st.decimals(
    min_value=Decimal("-1"), max_value=Decimal("50"), places=3, allow_nan=False))
operations = st.one_of(
    st.builds(lambda i, d, c, a: TransferRequest(i, d, c, a, "USD"), ids, codes, codes, amounts),
    st.builds(lambda i, d, c, a: TransferRequest(i, d, c, a, "USD", kind="pending"),
              ids, codes, codes, amounts),
    st.builds(lambda i, p, a: TransferRequest(i, amount=a, kind="post_pending", pending_id=p),
              ids, ids, st.none() | amounts),
    st.builds(lambda i, p: TransferRequest(i, kind="void_pending", pending_id=p), ids, ids),
    st.builds(lambda i, p, a: TransferRequest(i, amount=a, kind="reversal", reversal_of=p),
              ids, ids, st.none() | amounts),
)
batches = st.lists(st.tuples(st.lists(operations, min_size=1, max_size=4), st.booleans()),
                   min_size=1, max_size=12)


def make_ledger() -> tuple[LedgerService, FakeStore]:
    store = FakeStore()
    clock = iter(range(1_000_000, 10**12, 1000))
    ledger = LedgerService(lambda: FakeUnitOfWork(store), clock=lambda: next(clock))
    for code, (type_, flags) in ACCOUNTS.items():
        ledger.open_account(code, name=code, type=type_, currency="USD", flags=flags)
    return ledger, store


def recompute(transfers: dict[str, Transfer]) -> dict[int, list[int]]:
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for t in transfers.values():
        if t.kind is TransferKind.PENDING:
            totals[t.debit_account_id][0] += t.amount
            totals[t.credit_account_id][2] += t.amount
        elif t.kind in POSTING:
            totals[t.debit_account_id][1] += t.amount
            totals[t.credit_account_id][3] += t.amount
        if t.kind.resolves_pending:
            parent = transfers[t.parent_id or ""]
            totals[t.debit_account_id][0] -= parent.amount
            totals[t.credit_account_id][2] -= parent.amount
    return totals


def assert_invariants(store: FakeStore) -> None:
    totals = recompute(store.transfers)
    for account in store.accounts.values():
        b = account.balances
        assert [b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted] == (
            totals[account.id])
        assert min(totals[account.id]) >= 0
        if account.flags & AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS:
            assert b.debits_pending + b.debits_posted <= b.credits_posted
        if account.flags & AccountFlag.CREDITS_MUST_NOT_EXCEED_DEBITS:
            assert b.credits_pending + b.credits_posted <= b.debits_posted
    accounts = store.accounts.values()
    assert sum(a.balances.net_posted for a in accounts) == 0
    assert sum(a.balances.debits_pending - a.balances.credits_pending for a in accounts) == 0
    resolved = [t.parent_id for t in store.transfers.values() if t.kind.resolves_pending]
    assert len(resolved) == len(set(resolved))


@settings(max_examples=300, deadline=None)
@given(batches)
def test_invariants_hold_after_every_batch(script: list[tuple[list[TransferRequest], bool]]
                                           ) -> None:
    ledger, store = make_ledger()
    ledger.transfer(TransferRequest("seed", "cash", "wallet", "100", "USD"))
    for requests, linked in script:
        before = dict(store.transfers)
        results = ledger.submit(requests, linked=linked)
        assert len(results) == len(requests)
        if linked and not all(r.ok for r in results):
            assert store.transfers == before
        assert_invariants(store)


@settings(max_examples=150, deadline=None)
@given(batches)
def test_a_retry_keeps_every_success_and_every_remembered_refusal(
        script: list[tuple[list[TransferRequest], bool]]) -> None:
    ledger, store = make_ledger()
    ledger.transfer(TransferRequest("seed", "cash", "wallet", "100", "USD"))
    for requests, linked in script:
        first = ledger.submit(requests, linked=linked)
        snapshot = dict(store.transfers)
        again = ledger.submit(requests, linked=linked)
        transient = {r.id for r in first if not r.ok and r.code not in REMEMBERED}
        assert {k: v for k, v in store.transfers.items() if k in snapshot} == snapshot
        assert set(store.transfers) - set(snapshot) <= transient
        for one, two in zip(first, again, strict=True):
            if one.code.value == "ok":
                assert two.code.value in ("exists", "linked_event_failed")
            elif one.code in REMEMBERED:
                assert two.code in (one.code, R.LINKED_EVENT_FAILED, R.ID_ALREADY_FAILED)
