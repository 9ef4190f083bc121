"""The staff portal's pages on both backends, read as staff read them: an invoice's whole
trail down to its ledger transfers, the decision explorer and the chain check, the policy
editor, the ledger at a past instant, vendors with masked bank details and the models."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from urllib.parse import quote

import pytest
import yaml
from fastapi.testclient import TestClient

from finbot.bootstrap import App
from finbot.config import Settings
from finbot.domain.clock import now_us, utc_datetime
from finbot.domain.ledger import TransferRequest
from finbot.entrypoints.web.admin_vendors import masked_bank
from tests.api_kit import add_user, sign_in, web_app
from tests.integration.test_audit_log import tamper
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    company_with,
    purchase_order,
    run_until_idle,
    stored_fraud_model,
)

IBAN = "DE89370400440532013000"


@dataclass(frozen=True)
class Office:
    app: App
    rita: TestClient
    adam: TestClient
    aude: TestClient


@pytest.fixture
def office(settings: Settings) -> Iterator[Office]:
    """A paid invoice (inv-paid), an escalated one (inv-esc), and staff of each role."""
    with company_with(settings, clean_vendor("v-acme")) as app:
        app.vendor_work.add_purchase_order(purchase_order("PO-1", vendor_id="v-acme"))
        app.vendor_work.submit_invoice(clean_invoice("inv-paid", vendor_id="v-acme"))
        app.vendor_work.submit_invoice(clean_invoice("inv-esc", vendor_id="v-acme",
                                                     number="INV-2", po_number=None,
                                                     quantity="60"))
        run_until_idle(app)
        web = web_app(app)
        staff = {role: sign_in(web, add_user(app, f"{role}@finbot.example", role))
                 for role in ("reviewer", "admin", "auditor")}
        yield Office(app, staff["reviewer"], staff["admin"], staff["auditor"])


def _ok(client: TestClient, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, answer.text
    return answer.text


def _field(us: int) -> str:
    return utc_datetime(us).strftime("%Y-%m-%dT%H:%M:%S")


# -- the invoice trail -------------------------------------------------------------------

def test_an_invoice_trail_shows_each_decision_its_rules_the_saga_and_the_transfers(
        office: Office) -> None:
    with office.app.uow() as uow:
        payment = uow.audit.by_id("invoice:inv-paid:payment")
    assert payment is not None
    assert payment.data["outcome"] == "APPROVE"
    page = _ok(office.aude, "/admin/invoices/inv-paid")
    for stage in ("invoice:inv-paid:invoice", "invoice:inv-paid:fraud",
                  "invoice:inv-paid:payment"):
        assert f'href="/admin/decisions/{stage}"' in page
    assert all(rule["rule"] in page for rule in payment.data["rules"])
    assert "completed" in page  # the saga's state, with its steps
    for transfer in ("accrue:invoice:inv-paid:payment",
                     "saga:pay-invoice:inv-paid:payment:reserve",
                     "saga:pay-invoice:inv-paid:payment:post"):
        assert transfer in page
    assert "1,200.00 USD" in page
    assert 'href="/admin/ledger/accounts/vendor:v-acme:payable:USD"' in page


def test_an_escalated_invoice_is_linked_from_the_queue_and_shows_no_transfer(
        office: Office) -> None:
    assert 'href="/admin/invoices/inv-esc"' in _ok(office.rita, "/admin")
    page = _ok(office.rita, "/admin/invoices/inv-esc")
    assert "ESCALATE" in page
    assert "This invoice has not touched the ledger." in page
    assert office.rita.get("/admin/invoices/inv-nope").status_code == 404


# -- the decision explorer and the chain ----------------------------------------------

def _decisions(client: TestClient, query: str) -> set[str]:
    page = _ok(client, f"/admin/decisions?{query}")
    return set(re.findall(r'href="/admin/decisions/([^"]+)"', page))


def test_the_explorer_filters_by_invoice_vendor_agent_outcome_and_time(
        office: Office) -> None:
    assert _decisions(office.aude, "invoice_id=inv-paid") == {
        "invoice:inv-paid:invoice", "invoice:inv-paid:fraud", "invoice:inv-paid:payment"}
    assert _decisions(office.aude, "outcome=ESCALATE") == {"invoice:inv-esc:invoice"}
    assert _decisions(office.aude, "agent_id=onboarding") == {"onboarding:v-acme:onboarding"}
    assert len(_decisions(office.aude, "vendor_id=v-acme")) == 5
    assert _decisions(office.aude, "vendor_id=v-else") == set()
    assert _decisions(office.aude, f"until={_field(now_us() - 3_600_000_000)}") == set()
    assert len(_decisions(office.aude, f"since={_field(now_us() - 3_600_000_000)}")) == 5
    bad = _ok(office.aude, "/admin/decisions?since=yesterday")
    assert "is not a date and time" in bad


def test_the_explorer_pages_with_a_cursor(office: Office) -> None:
    import finbot.entrypoints.web.admin_trails as trails

    original, trails.PAGE = trails.PAGE, 2
    try:
        first = _ok(office.aude, "/admin/decisions")
        cursor = re.search(r'before=(\d+)', first)
        assert cursor is not None
        second = _ok(office.aude, f"/admin/decisions?before={cursor.group(1)}")
    finally:
        trails.PAGE = original
    seen = [set(re.findall(r'href="/admin/decisions/([^"]+)"', p)) for p in (first, second)]
    assert len(seen[0]) == len(seen[1]) == 2
    assert not seen[0] & seen[1]


def test_verifying_the_chain_reports_it_holds_then_names_the_tampered_record(
        office: Office) -> None:
    held = office.aude.post("/admin/decisions/verify")
    assert held.status_code == 200
    with office.app.uow() as uow:
        head, head_hash = uow.audit.head()
    assert f"The chain holds: {head} records verified." in held.text
    assert head_hash in held.text
    tamper(office.app, "UPDATE audit_log SET body = replace(body, 'APPROVE', 'REJECT') "
                       "WHERE record_id = 'invoice:inv-paid:fraud'")
    with office.app.uow() as uow:
        seq = uow.audit.by_id("invoice:inv-paid:fraud").seq  # type: ignore[union-attr]
    broken = office.aude.post("/admin/decisions/verify").text
    assert "The chain is broken" in broken
    assert f"the first at record {seq}." in broken
    assert f"record {seq} has been edited" in broken


# -- the policy editor --------------------------------------------------------------------

def _policy_text(office: Office) -> str:
    return yaml.safe_dump(office.app.policies.document()[2], sort_keys=True)


def test_an_admin_publishes_a_version_and_the_diff_shows_the_changed_line(
        office: Office) -> None:
    before = _policy_text(office)
    line = next(ln for ln in before.splitlines() if "max_single_payment" in ln)
    changed = before.replace(line, line.split(":")[0] + ": '24000.00'", 1)
    published = office.adam.post("/admin/policy", data={"document": changed},
                                 follow_redirects=False)
    assert published.status_code == 303, published.text
    assert office.app.policies.document()[0] == "v2"
    page = _ok(office.aude, "/admin/policy?old=v1&new=v2")
    assert f"<del>-{line}</del>" in page.replace("&#39;", "'")
    assert "<ins>+" + line.split(":")[0] + ": &#39;24000.00&#39;</ins>" in page
    publisher = office.app.policies.versions()[0].published_by
    assert publisher is not None
    assert f"<td>{publisher}</td>" in page


def test_publishing_what_is_not_a_policy_shows_the_error_and_publishes_nothing(
        office: Office) -> None:
    for document, error in (("limits: [1, 2", "not valid YAML"),
                            ("- just\n- a list\n", "a YAML mapping"),
                            ("surprise: 1\n", "unknown policy settings: surprise")):
        answer = office.adam.post("/admin/policy", data={"document": document})
        assert answer.status_code == 422, answer.text
        assert error in answer.text
        assert 'role="alert"' in answer.text
        assert document.strip()[:6] in answer.text  # the draft comes back to be fixed
    assert [v.version for v in office.app.policies.versions()] == ["v1"]


def test_a_reviewer_and_an_auditor_read_the_policy_but_may_not_publish(
        office: Office) -> None:
    for client in (office.rita, office.aude):
        assert 'action="/admin/policy"' in _ok(client, "/admin/policy")
        assert 'method="post" action="/admin/policy"' not in _ok(client, "/admin/policy")
        refused = client.post("/admin/policy", data={"document": _policy_text(office)})
        assert refused.status_code == 403
    assert [v.version for v in office.app.policies.versions()] == ["v1"]


# -- the ledger ---------------------------------------------------------------------------

def test_the_balance_at_an_instant_before_a_transfer_differs_from_after(
        office: Office) -> None:
    before = now_us()
    office.app.ledger.transfer(TransferRequest("top-up", "company:bank", "company:equity",
                                               "1000.00", "USD"))
    after = now_us()
    now = office.app.queries.account("company:bank").balance()
    url = "/admin/ledger/accounts/company:bank?at="
    then = _ok(office.aude, url + quote(_field(before)))
    later = _ok(office.aude, url + quote(_field(after + 1_000_000)))
    shown = [re.search(r"data-balance-at>([^<]+)<", p) for p in (then, later)]
    assert shown[0] is not None
    assert shown[1] is not None
    assert shown[0].group(1) != shown[1].group(1)
    assert shown[1].group(1) == f"{now // 100:,}.{now % 100:02d} USD"
    assert "top-up" in later
    assert "is not a date and time" in office.aude.get(url + "soon").text


def test_the_ledger_lists_accounts_and_transfers_with_money_in_its_currency(
        office: Office) -> None:
    accounts = _ok(office.rita, "/admin/ledger")
    assert 'href="/admin/ledger/accounts/company:bank"' in accounts
    assert "498,800.00 USD" in accounts  # 500,000 funded, 1,200 paid out
    transfers = _ok(office.rita, "/admin/ledger/transfers")
    assert "funding" in transfers
    assert "500,000.00 USD" in transfers


# -- vendors and models -------------------------------------------------------------------

def test_a_vendor_page_masks_the_bank_details_and_links_its_decisions(
        office: Office) -> None:
    assert 'href="/admin/vendors/v-acme"' in _ok(office.aude, "/admin/vendors")
    page = _ok(office.aude, "/admin/vendors/v-acme")
    assert "04-2103594" not in page
    assert "123456789" not in page
    assert "111000025" not in page
    assert "••••••3594" in page
    assert "•••••6789" in page
    assert masked_bank(replace(clean_vendor(), iban=IBAN, bic="COBADEFFXXX")) == {
        "Tax id": "••••••3594", "IBAN": "••••••••••••••••••3000", "BIC": "COBADEFFXXX",
        "Routing number": "•••••0025", "Account number": "•••••6789"}
    assert 'href="/admin/decisions/onboarding:v-acme:onboarding"' in page
    assert 'href="/admin/invoices/inv-paid"' in page


def test_the_models_page_lists_the_fraud_versions_and_each_card(office: Office) -> None:
    version = stored_fraud_model(office.app)
    page = _ok(office.aude, "/admin/models")
    assert f'href="/admin/models/{version}"' in page
    assert "invoice/2" in page
    card = _ok(office.aude, f"/admin/models/{version}")
    assert version in card
    assert "ROC" in card.upper()
    assert office.aude.get("/admin/models/fraud-000000000000").status_code == 404


def test_the_models_page_links_every_agent_versions_card(office: Office) -> None:
    page = _ok(office.aude, "/admin/models")
    assert 'href="/admin/models/agents/payments-2"' in page
    card = _ok(office.aude, "/admin/models/agents/payments-2")
    assert "Agent card: payments payments/2" in card
    assert "`plan_payment`" in card
    assert office.aude.get("/admin/models/agents/nobody-0").status_code == 404


# -- the dashboard's charts -------------------------------------------------------------

def test_the_dashboard_charts_outcomes_and_stage_latency_with_the_numbers_in_tables(
        office: Office) -> None:
    page = _ok(office.aude, "/admin")
    assert page.count('role="img"') == 2
    assert "5 decisions in all" in page  # onboarding, three for inv-paid, one for inv-esc
    approvals = re.findall(r'<title>[^<]*: (\d+) APPROVE</title>', page)
    assert sum(int(n) for n in approvals) == 4
    for stage, decided in (("onboarding", 1), ("invoice", 2), ("fraud", 1), ("payment", 1)):
        assert re.search(rf'<th scope="row">{stage}</th><td class="num">[\d.]+</td>'
                         rf'<td class="num">{decided}</td>', page), stage
    assert "not recorded" in page  # says what the latency does not include
    fragment = _ok(office.aude, "/admin?fragment=true")
    assert "<svg" not in fragment  # live redraws skip the charts' read of the log


def test_a_decisions_regulator_report_is_one_click_from_its_page(office: Office) -> None:
    """The decision page links the report ``finbot explain`` writes: the decision, the
    ledger entries and the inclusion proof; for staff who may read the decision only."""
    decision = "invoice:inv-paid:payment"
    page = _ok(office.aude, f"/admin/decisions/{decision}")
    assert 'href="/admin/decisions/invoice%3Ainv-paid%3Apayment/explain"' in page
    report = _ok(office.aude, f"/admin/decisions/{decision}/explain")
    assert decision in report
    assert "nclusion" in report  # the Merkle inclusion proof's section
    assert office.aude.get("/admin/decisions/invoice:nope:payment/explain").status_code == 404
