"""The ledger service end to end on SQLite and real PostgreSQL: results, limits, history."""

from __future__ import annotations

import gc
from decimal import Decimal
from typing import Any

import pytest

from finbot.adapters.db import ledger_sql
from finbot.bootstrap import App
from finbot.domain.errors import AccountExists, InvalidInput, TransferRejected, UnknownCurrency
from finbot.domain.ledger import AccountFlag, ResultCode, TransferRequest
from finbot.services import ledger as service

R = ResultCode


def T(id: str, debit: str | None = "expense", credit: str | None = "payable", amount: object = "10",
      currency: str | None = "USD", **kw: object) -> TransferRequest:
    return TransferRequest(id, debit, credit, amount, currency, **kw)  # type: ignore[arg-type]


@pytest.fixture
def ledger(app: App) -> App:
    app.ledger.open_account("bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("payable", name="Vendor payable", type="liability", currency="USD",
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    app.ledger.open_account("expense", name="Expenses", type="expense", currency="USD")
    app.ledger.open_account("eur-bank", name="EUR bank", type="asset", currency="EUR")
    return app


def codes(app: App, *requests: TransferRequest, linked: bool = False) -> list[str]:
    return [r.code.value for r in app.ledger.submit(list(requests), linked=linked)]


def assert_verifies(app: App) -> None:
    assert list(app.queries.verify()) == []


def test_a_posted_transfer_moves_both_balances_and_keeps_the_ledger_balanced(ledger: App) -> None:
    transfer = ledger.ledger.transfer(T("t1", amount=Decimal("12.34")))
    assert transfer.amount == 1234
    assert ledger.queries.account("payable").balance() == 1234
    assert ledger.queries.account("expense").balance() == 1234
    assert_verifies(ledger)


@pytest.mark.parametrize(("request_", "code"), [
    (T("x", amount="0"), R.AMOUNT_MUST_BE_POSITIVE),
    (T("x", amount="-5"), R.AMOUNT_MUST_BE_POSITIVE),
    (T("x", amount=1.5), R.AMOUNT_INVALID),
    (T("x", amount="ten"), R.AMOUNT_INVALID),
    (T("x", amount="1.001"), R.AMOUNT_TOO_MANY_DECIMAL_PLACES),
    (T("x", amount=str(2**70)), R.AMOUNT_OVERFLOW),
    (T("x", amount=None), R.AMOUNT_REQUIRED),
    (T("x", currency="XXX1"), R.CURRENCY_UNKNOWN),
    (T("x", currency=None), R.CURRENCY_REQUIRED),
    (T("x", currency="EUR"), R.CURRENCY_MUST_MATCH_ACCOUNTS),
    (T("x", debit="eur-bank"), R.ACCOUNTS_MUST_HAVE_THE_SAME_CURRENCY),
    (T("x", debit="bank", credit="bank"), R.ACCOUNTS_MUST_BE_DIFFERENT),
    (T("x", debit="nope"), R.DEBIT_ACCOUNT_NOT_FOUND),
    (T("x", credit="nope"), R.CREDIT_ACCOUNT_NOT_FOUND),
    (T("x", debit=None), R.DEBIT_ACCOUNT_REQUIRED),
    (T(""), R.ID_MUST_NOT_BE_EMPTY),
    (T("x" * 129), R.ID_TOO_LONG),
    (T("x", kind="teleport"), R.KIND_INVALID),
    (T("x", kind="expire_pending", pending_id="p"), R.KIND_INVALID),
    (T("x", timeout_s=10), R.TIMEOUT_RESERVED_FOR_PENDING),
    (T("x", metadata={"f": float("nan")}), R.METADATA_INVALID),
])
def test_bad_input_gets_a_specific_code_and_writes_nothing(
        ledger: App, request_: TransferRequest, code: ResultCode) -> None:
    assert codes(ledger, request_) == [code.value]
    assert ledger.queries.history() == []
    assert_verifies(ledger)


def test_a_retry_returns_exists_and_a_changed_retry_names_the_field(ledger: App) -> None:
    ledger.ledger.transfer(T("t1", reference="inv-1"))
    assert codes(ledger, T("t1", reference="inv-1")) == ["exists"]
    assert codes(ledger, T("t1", amount="11", reference="inv-1")) == [
        "exists_with_different_amount"]
    assert codes(ledger, T("t1", debit="bank", reference="inv-1")) == [
        "exists_with_different_debit_account"]
    assert codes(ledger, T("t1", reference="inv-2")) == ["exists_with_different_reference"]
    assert len(ledger.queries.history()) == 1


def test_an_overdraft_is_refused_and_the_refusal_is_remembered(ledger: App) -> None:
    assert codes(ledger, T("pay", debit="payable", credit="bank")) == ["exceeds_credits"]
    ledger.ledger.transfer(T("fund", amount="100"))
    assert codes(ledger, T("pay", debit="payable", credit="bank")) == ["exceeds_credits"]
    assert codes(ledger, T("pay", debit="payable", credit="bank", amount="5")) == [
        "id_already_failed"]
    assert ledger.queries.account("payable").balance() == 10000


def test_pending_reserves_and_post_settles_part_of_it(ledger: App) -> None:
    ledger.ledger.transfer(T("fund", amount="100"))
    ledger.ledger.transfer(T("p1", debit="payable", credit="bank", amount="80", kind="pending"))
    assert codes(ledger, T("p2", debit="payable", credit="bank", amount="30",
                           kind="pending")) == ["exceeds_credits"]
    post = ledger.ledger.transfer(T("x1", None, None, "50", None, kind="post_pending",
                                    pending_id="p1"))
    assert post.amount == 5000
    payable = ledger.queries.account("payable")
    assert payable.balances.debits_pending == 0
    assert payable.balance() == 5000
    assert codes(ledger, T("x2", None, None, None, None, kind="void_pending",
                           pending_id="p1")) == ["pending_transfer_already_posted"]
    assert_verifies(ledger)


def test_void_releases_the_reservation(ledger: App) -> None:
    ledger.ledger.transfer(T("fund", amount="100"))
    ledger.ledger.transfer(T("p1", debit="payable", credit="bank", amount="100", kind="pending"))
    ledger.ledger.transfer(T("v1", None, None, None, None, kind="void_pending", pending_id="p1"))
    assert ledger.queries.account("payable").balance(posted_only=False) == 10000
    assert codes(ledger, T("x1", None, None, None, None, kind="post_pending",
                           pending_id="p1")) == ["pending_transfer_already_voided"]
    assert_verifies(ledger)


def test_posting_more_than_reserved_is_refused(ledger: App) -> None:
    ledger.ledger.transfer(T("fund", amount="100"))
    ledger.ledger.transfer(T("p1", debit="payable", credit="bank", amount="10", kind="pending"))
    assert codes(ledger, T("x1", None, None, "11", None, kind="post_pending",
                           pending_id="p1")) == ["exceeds_pending_transfer_amount"]


def test_an_expired_reservation_cannot_be_posted_and_the_sweeper_releases_it(ledger: App) -> None:
    ledger.ledger.transfer(T("fund", amount="100"))
    ledger.ledger.transfer(T("p1", debit="payable", credit="bank", amount="60", kind="pending",
                             timeout_s=1))
    clock = ledger.ledger._clock
    ledger.ledger._clock = lambda: clock() + 2_000_000
    assert codes(ledger, T("x1", None, None, None, None, kind="post_pending",
                           pending_id="p1")) == ["pending_transfer_expired"]
    assert ledger.ledger.expire_pending() == 1
    assert ledger.ledger.expire_pending() == 0
    assert ledger.queries.account("payable").balances.debits_pending == 0
    assert ledger.queries.transfer("expire:p1").kind.value == "expire_pending"
    assert_verifies(ledger)


def test_a_linked_batch_commits_all_or_nothing(ledger: App) -> None:
    result = codes(ledger, T("a"), T("b", amount="1.001"), T("c"), linked=True)
    assert result == ["linked_event_failed", "amount_too_many_decimal_places",
                      "linked_event_failed"]
    assert ledger.queries.history() == []
    assert codes(ledger, T("a"), T("b"), T("c"), linked=True) == ["ok", "ok", "ok"]
    assert ledger.queries.account("payable").balance() == 3000


def test_a_linked_batch_can_reserve_and_post_in_one_go(ledger: App) -> None:
    result = codes(ledger, T("fund", amount="100"),
                   T("p", debit="payable", credit="bank", amount="40", kind="pending"),
                   T("x", None, None, None, None, kind="post_pending", pending_id="p"),
                   linked=True)
    assert result == ["ok", "ok", "ok"]
    assert ledger.queries.account("bank").balance() == -4000
    assert_verifies(ledger)


def test_a_reversal_compensates_without_touching_the_original(ledger: App) -> None:
    original = ledger.ledger.transfer(T("t1", amount="30"))
    ledger.ledger.transfer(T("r1", None, None, "10", None, kind="reversal", reversal_of="t1"))
    assert codes(ledger, T("r2", None, None, "25", None, kind="reversal",
                           reversal_of="t1")) == ["exceeds_reversible_amount"]
    ledger.ledger.transfer(T("r3", None, None, None, None, kind="reversal", reversal_of="t1"))
    assert ledger.queries.account("payable").balance() == 0
    assert ledger.queries.transfer("t1").amount == original.amount
    assert_verifies(ledger)


def test_balance_at_a_past_moment_comes_from_history(ledger: App) -> None:
    first = ledger.ledger.transfer(T("t1", amount="10"))
    second = ledger.ledger.transfer(T("t2", amount="5"))
    payable = ledger.queries.account("payable")
    assert ledger.queries.posted_balance_at(payable, first.timestamp - 1) == 0
    assert ledger.queries.posted_balance_at(payable, first.timestamp) == 1000
    assert ledger.queries.posted_balance_at(payable, second.timestamp) == 1500


def test_opening_an_account_twice_is_idempotent_but_a_different_one_conflicts(
        ledger: App) -> None:
    again = ledger.ledger.open_account("bank", name="Bank", type="asset", currency="USD")
    assert again.code == "bank"
    with pytest.raises(AccountExists) as error:
        ledger.ledger.open_account("bank", name="Bank", type="asset", currency="EUR")
    assert error.value.field == "currency"
    with pytest.raises(UnknownCurrency):
        ledger.ledger.open_account("x", name="X", type="asset", currency="ZZZ")
    with pytest.raises(InvalidInput):
        ledger.ledger.open_account("y", name="Y", type="cash", currency="USD")


def test_transfer_helper_raises_with_the_result_code(ledger: App) -> None:
    with pytest.raises(TransferRejected) as error:
        ledger.ledger.transfer(T("p", debit="payable", credit="bank"))
    assert error.value.code == "exceeds_credits"


def test_an_id_refused_earlier_in_the_same_batch_stays_refused(ledger: App) -> None:
    assert codes(ledger, T("p", debit="payable", credit="bank"), T("p")) == [
        "exceeds_credits", "id_already_failed"]
    assert ledger.queries.history() == []


def test_only_the_culprit_of_a_failed_linked_batch_is_remembered(ledger: App) -> None:
    assert codes(ledger, T("a", amount="1.001"), T("b", debit="payable", credit="bank"),
                 linked=True) == ["amount_too_many_decimal_places", "linked_event_failed"]
    ledger.ledger.transfer(T("fund", amount="100"))
    assert codes(ledger, T("b", debit="payable", credit="bank")) == ["ok"]


# Awkward for any wire format: COPY's escapes and NULL marker, JSON's quotes, non-ASCII.
AWKWARD = 'tab\there, line\nbreak, back\\slash, \\N, "quoted", ü €'
PRINTABLE = 'back\\slash \\N "quoted" ü €'  # ids are printable


@pytest.mark.parametrize("size", [8, 150])  # PostgreSQL: a JSON document, then COPY
def test_a_large_batch_keeps_every_field_exactly(ledger: App, size: int) -> None:
    requests = [T(f"m{n} {PRINTABLE}", amount=f"{n}.{n % 100:02d}", reference=f"ref {n} {AWKWARD}",
                  metadata={"invoice": f"INV-{n}", "lines": [n, {"x": AWKWARD}]})
                for n in range(1, size)]
    requests.append(T("pend", debit="payable", credit="bank", amount="1", kind="pending",
                      timeout_s=60))
    assert set(codes(ledger, *requests, linked=True)) == {"ok"}
    stored = ledger.queries.transfer(f"m5 {PRINTABLE}")
    assert (stored.amount, stored.reference) == (505, f"ref 5 {AWKWARD}")
    assert stored.metadata == {"invoice": "INV-5", "lines": [5, {"x": AWKWARD}]}
    assert ledger.queries.transfer(f"m{size - 1} {PRINTABLE}").parent_id is None
    pending = ledger.queries.transfer("pend")
    assert pending.expires_at == pending.timestamp + 60_000_000
    assert_verifies(ledger)


def test_a_big_batch_is_planned_with_the_cycle_collector_held_off(
        ledger: App, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bool] = []
    real = service.plan_batch

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "plan_batch", watched)
    codes(ledger, T("one"))
    codes(ledger, *[T(f"b{n}") for n in range(service.GC_PAUSE_FROM)])
    assert seen == [True, False]
    assert gc.isenabled()


def test_reads_longer_than_a_chunk_find_every_account_and_transfer(
        ledger: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Codes, account ids and transfer ids beyond one statement's list (CHUNK) are read in
    several statements: every account is locked and every retry found."""
    monkeypatch.setattr(ledger_sql, "CHUNK", 3)
    for n in range(8):
        ledger.ledger.open_account(f"c{n}", name=f"c{n}", type="asset", currency="USD")
    first = [T(f"k{n}", debit=f"c{n}", credit=f"c{(n + 3) % 8}", amount=f"{n + 1}")
             for n in range(8)]
    assert codes(ledger, *first, linked=True) == ["ok"] * 8
    pendings = [T(f"p{n}", debit=f"c{n}", credit="bank", amount="1", kind="pending")
                for n in range(7)]
    assert codes(ledger, *pendings) == ["ok"] * 7
    # retries of all of them, plus posts whose accounts come only from their parents
    posts = [T(f"post{n}", debit=None, credit=None, amount=None, currency=None,
               kind="post_pending", pending_id=f"p{n}") for n in range(7)]
    assert codes(ledger, *first, *pendings, *posts) == ["exists"] * 15 + ["ok"] * 7
    assert [ledger.queries.account(f"c{n}").balance() for n in range(8)] == [  # cents
        100 * major for major in (1 - 6 + 1, 2 - 7 + 1, 3 - 8 + 1, 4 - 1 + 1, 5 - 2 + 1,
                                  6 - 3 + 1, 7 - 4 + 1, 8 - 5)]
    assert_verifies(ledger)
