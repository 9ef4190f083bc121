"""Many writers at once on real PostgreSQL: no overdraft, no lost or doubled transfer."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from finbot.bootstrap import App
from finbot.domain.ledger import AccountFlag, TransferRequest

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]


def test_an_overdraft_race_never_goes_below_the_limit(app: App) -> None:
    app.ledger.open_account("funding", name="Funding", type="equity", currency="USD")
    app.ledger.open_account("wallet", name="Wallet", type="liability", currency="USD",
                            flags=AccountFlag.DEBITS_MUST_NOT_EXCEED_CREDITS)
    app.ledger.open_account("out", name="Out", type="asset", currency="USD")
    app.ledger.transfer(TransferRequest("fund", "funding", "wallet", "100", "USD"))
    barrier = threading.Barrier(16)

    def spend(n: int) -> list[str]:
        barrier.wait()
        return [app.ledger.submit([TransferRequest(f"s{n}-{i}", "wallet", "out", "3", "USD")])[0]
                .code.value for i in range(5)]

    with ThreadPoolExecutor(16) as pool:
        results = [c for codes in pool.map(spend, range(16)) for c in codes]
    assert results.count("ok") == 33  # 33 x 3.00 = 99.00 of 100.00
    assert set(results) == {"ok", "exceeds_credits"}
    assert app.queries.account("wallet").balance() == 100
    assert list(app.queries.verify()) == []


def test_the_same_transfer_id_from_many_threads_lands_once(app: App) -> None:
    app.ledger.open_account("a", name="A", type="asset", currency="USD")
    app.ledger.open_account("b", name="B", type="income", currency="USD")
    barrier = threading.Barrier(12)

    def send(_: int) -> str:
        barrier.wait()
        return app.ledger.submit([TransferRequest("once", "a", "b", "1", "USD")])[0].code.value

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(send, range(12)))
    assert sorted(set(results)) == ["exists", "ok"]
    assert results.count("ok") == 1
    assert len(app.queries.history()) == 1


def test_posting_one_pending_from_many_threads_posts_it_once(app: App) -> None:
    app.ledger.open_account("a", name="A", type="asset", currency="USD")
    app.ledger.open_account("b", name="B", type="income", currency="USD")
    app.ledger.transfer(TransferRequest("p", "a", "b", "10", "USD", kind="pending"))
    barrier = threading.Barrier(8)

    def post(n: int) -> str:
        barrier.wait()
        return app.ledger.submit([TransferRequest(f"x{n}", kind="post_pending",
                                                  pending_id="p")])[0].code.value

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(post, range(8)))
    assert results.count("ok") == 1
    assert results.count("pending_transfer_already_posted") == 7
    assert app.queries.account("a").balance() == 1000
