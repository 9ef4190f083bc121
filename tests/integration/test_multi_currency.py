"""Paying in more than one currency, end to end on the offline model: a German vendor's
euro invoice is judged against the policy's euro amounts, proposed on SEPA and paid from
the company's euro account into a euro payable; the same vendor's dollar invoice goes to a
second payable; an approved payment with no bank account in its currency waits as a dead
letter until one is opened and the event replayed; a currency the policy sets no amounts
for is blocked before any money is touched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.events import AGENTS
from finbot.domain.ledger import TransferRequest
from finbot.domain.payments import SagaState
from finbot.execution.escalations import payment_id_of
from finbot.services.demo import open_company as open_company_accounts
from finbot.services.history import replay
from finbot.services.orchestrator import payable_account
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    purchase_order,
    run_until_idle,
    small_scorer,
)

GERMAN = {"vendor_id": "v-de", "legal_name": "Berliner Bürobedarf GmbH", "country": "DE",
          "tax_id": "DE136469090", "iban": "DE89370400440532013000", "bic": "DEUTDEFF",
          "routing_number": "", "account_number": ""}


@pytest.fixture
def company(settings: Settings) -> Iterator[App]:
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer)
    open_company(app)
    yield app
    app.close()


def _fund_euros(app: App, amount: str = "400000.00") -> None:
    open_company_accounts(app.ledger, currency="EUR")
    app.ledger.transfer(TransferRequest("funding:EUR", "company:bank:EUR",
                                        "company:equity:EUR", amount, "EUR"))


def _german_vendor(app: App) -> None:
    app.vendor_work.register_vendor(clean_vendor(**GERMAN))
    run_until_idle(app)
    with app.uow() as uow:
        assert uow.vendors.get("v-de").status.value == "active"  # type: ignore[union-attr]


def _decisions(app: App, invoice_id: str) -> dict[str, dict[str, object]]:
    with app.uow() as uow:
        return {step.step: uow.audit.by_id(step.decision_id).data  # type: ignore[union-attr]
                for step in uow.workflows.of_workflow(f"invoice:{invoice_id}")
                if step.step != "notify"}


def _balance(app: App, code: str) -> tuple[int, int]:
    balances = app.queries.account(code).balances
    return balances.debits_posted, balances.credits_posted


def test_a_euro_invoice_is_paid_in_euros_and_a_dollar_one_in_dollars(company: App) -> None:
    _fund_euros(company)
    _german_vendor(company)
    company.vendor_work.add_purchase_order(purchase_order("PO-EUR", vendor_id="v-de",
                                                          currency="EUR"))
    company.vendor_work.add_purchase_order(purchase_order("PO-USD", vendor_id="v-de"))
    company.vendor_work.submit_invoice(clean_invoice("inv-eur", vendor_id="v-de",
                                                     number="RE-2026-1", po_number="PO-EUR",
                                                     currency="EUR"))
    company.vendor_work.submit_invoice(clean_invoice("inv-usd", vendor_id="v-de",
                                                     number="RE-2026-2", po_number="PO-USD"))
    run_until_idle(company)

    euro = _decisions(company, "inv-eur")
    assert {s: d["outcome"] for s, d in euro.items()} == {
        "invoice": "APPROVE", "fraud": "APPROVE", "payment": "APPROVE"}
    payment = euro["payment"]
    assert payment["policy"]["currency"] == "EUR"  # type: ignore[index]
    assert payment["policy"]["max_single_payment"] == "23000.00"  # type: ignore[index]
    assert payment["payment"]["payee_account"] == "vendor:v-de:payable:EUR"  # type: ignore[index]
    assert "sepa" in str(payment["proposal"]).lower()
    dollar = _decisions(company, "inv-usd")["payment"]
    assert dollar["outcome"] == "APPROVE"
    assert dollar["payment"]["payee_account"] == "vendor:v-de:payable:USD"  # type: ignore[index]

    for invoice_id, currency in (("inv-eur", "EUR"), ("inv-usd", "USD")):
        saga = company.payments.get(payment_id_of(f"invoice:{invoice_id}:payment"))
        assert (saga.state, saga.currency) == (SagaState.COMPLETED, currency)
        # 12 x 100.00 accrued into the payable, then paid out of it
        assert _balance(company, payable_account("v-de", currency)) == (120_000, 120_000)
    assert _balance(company, "company:bank:EUR") == (40_000_000, 120_000)
    assert _balance(company, "company:expenses:EUR") == (120_000, 0)
    assert _balance(company, "company:expenses") == (120_000, 0)
    assert _balance(company, "company:bank") == (50_000_000, 120_000)
    assert company.queries.account("company:expenses:EUR").currency == "EUR"
    with company.uow() as uow:
        paid = [uow.invoices.get(i).status.value for i in ("inv-eur", "inv-usd")]  # type: ignore[union-attr]
    assert paid == ["paid", "paid"]
    assert list(company.queries.verify()) == []
    assert company.audit.verify() == []


def test_a_payment_with_no_account_in_its_currency_waits_for_one(company: App) -> None:
    _german_vendor(company)
    company.vendor_work.add_purchase_order(purchase_order("PO-EUR", vendor_id="v-de",
                                                          currency="EUR"))
    company.vendor_work.submit_invoice(clean_invoice("inv-eur", vendor_id="v-de",
                                                     po_number="PO-EUR", currency="EUR"))
    run_until_idle(company)

    assert _decisions(company, "inv-eur")["payment"]["outcome"] == "APPROVE"
    [letter] = company.consumer("executor").dead_letters()
    assert "no EUR account to pay from" in letter.error
    assert "company:bank:EUR" in letter.error
    with company.uow() as uow:  # nothing half done: no accrual, no saga
        assert uow.ledger.account_by_code(payable_account("v-de", "EUR")) is None
        assert uow.sagas.by_decision("invoice:inv-eur:payment") is None

    _fund_euros(company)
    report = replay(company.uow, company.archive, company.consumer_spec("executor"),
                    stream=AGENTS)
    assert report.handled >= 1
    run_until_idle(company)
    saga = company.payments.get(payment_id_of("invoice:inv-eur:payment"))
    assert saga.state is SagaState.COMPLETED
    assert _balance(company, payable_account("v-de", "EUR")) == (120_000, 120_000)


def test_a_currency_the_policy_sets_no_amounts_for_is_blocked(company: App) -> None:
    company.vendor_work.register_vendor(clean_vendor())
    run_until_idle(company)
    company.vendor_work.submit_invoice(clean_invoice("inv-jpy", price="10000", po_number=None,
                                                     currency="JPY"))
    run_until_idle(company)

    decisions = _decisions(company, "inv-jpy")
    assert list(decisions) == ["invoice"]  # the workflow stops at its first stage
    invoice = decisions["invoice"]
    assert invoice["outcome"] == "BLOCK"
    [fired] = [r for r in invoice["rules"] if r["fired"]]  # type: ignore[attr-defined]
    assert fired["rule"] == "currency_limits"
    assert "JPY" in fired["detail"]
    assert "EUR, GBP, USD" in fired["detail"]
    with company.uow() as uow:
        assert uow.sagas.by_decision("invoice:inv-jpy:invoice") is None
        assert uow.invoices.get("inv-jpy").status.value == "blocked"  # type: ignore[union-attr]
