"""The vendor portal's pages as a vendor user meets them: the payments page, the messages
page with the assistant's answer streamed into it, onboarding with typed documents, and
self sign-up. ann works for v-alpha, bob for v-beta, both of the home tenant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finbot.agents.kyb import REQUIRED_DOCUMENTS
from finbot.bootstrap import App
from finbot.config import Settings
from finbot.domain.invoices import InvoiceStatus
from finbot.domain.vendors import DOCUMENT_KINDS, Author, Message, Vendor
from finbot.domain.workflows import workflow_id
from finbot.entrypoints.web.push import audience_of
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    company_with,
    purchase_order,
    run_until_idle,
)


@dataclass(frozen=True)
class Portal:
    app: App
    web: FastAPI
    ann: TestClient
    bob: TestClient


@pytest.fixture
def portal(settings: Settings) -> Iterator[Portal]:
    with company_with(settings, clean_vendor("v-alpha"),
                      clean_vendor("v-beta", legal_name="Beta Corp")) as app:
        web = web_app(app)
        ann = sign_in(web, add_user(app, "ann@home.example", "vendor", vendors=("v-alpha",)))
        bob = sign_in(web, add_user(app, "bob@home.example", "vendor", vendors=("v-beta",)))
        yield Portal(app, web, ann, bob)


def _set_status(app: App, invoice_id: str, status: InvoiceStatus) -> None:
    with app.uow() as uow:
        uow.invoices.set_status(invoice_id, status, 1)
        uow.commit()


# -- payments ----------------------------------------------------------------------------


def _paid_and_approved(app: App) -> None:
    """v-alpha: INV-1001 paid through the whole workflow, A-2 approved and due in 30 days;
    v-beta: B-7 approved."""
    app.vendor_work.add_purchase_order(purchase_order(vendor_id="v-alpha"))
    app.vendor_work.submit_invoice(clean_invoice("inv-paid", vendor_id="v-alpha"))
    run_until_idle(app)
    for invoice_id, vendor_id, number in (("inv-due", "v-alpha", "A-2"),
                                          ("inv-beta", "v-beta", "B-7")):
        app.vendor_work.submit_invoice(clean_invoice(invoice_id, vendor_id=vendor_id,
                                                     number=number, po_number=None))
        _set_status(app, invoice_id, InvoiceStatus.APPROVED)


def test_the_payments_page_shows_the_expected_date_and_the_paid_state(
        portal: Portal) -> None:
    _paid_and_approved(portal.app)
    page = portal.ann.get("/vendor/payments")
    assert page.status_code == 200, page.text
    rows = {row.split('"')[0]: row for row in page.text.split('data-invoice="')[1:]}
    assert set(rows) == {"inv-paid", "inv-due"}
    assert "status-paid" in rows["inv-paid"]
    assert "Paid 20" in rows["inv-paid"]
    assert "1,200.00 USD" in rows["inv-paid"]
    due = (date.today() + timedelta(days=30)).isoformat()
    assert f"Expected by <time datetime=\"{due}\">{due}</time>" in rows["inv-due"]
    assert "Paid" not in rows["inv-due"]
    assert "B-7" not in page.text


def test_the_payments_list_redraws_on_invoice_events_and_shows_only_ones_own(
        portal: Portal) -> None:
    _paid_and_approved(portal.app)
    assert "finbot:event[detail.type=='invoice.status_changed'] from:body" in (
        portal.ann.get("/vendor/payments").text)
    fragment = portal.bob.get("/vendor/payments", params={"fragment": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "B-7" in fragment.text
    assert "INV-1001" not in fragment.text
    assert "A-2" not in fragment.text


def test_before_any_approval_the_payments_page_says_what_will_appear(portal: Portal) -> None:
    assert "Invoices appear here once approved for payment" in portal.bob.get(
        "/vendor/payments").text


# -- messages and the assistant ----------------------------------------------------------

QUESTION = "What is the status of invoice_number A-1?"


def _conversation_of(page: str) -> str:
    return page.split('name="conversation_id" value="')[1].split('"')[0]


def _stored(app: App, vendor_id: str) -> list[Message]:
    with app.uow() as uow:
        return uow.vendors.messages(vendor_id)


def test_the_assistants_answer_streams_in_chunks_and_is_kept_in_the_conversation(
        portal: Portal) -> None:
    portal.app.vendor_work.submit_invoice(clean_invoice("inv-a1", vendor_id="v-alpha",
                                                        number="A-1", po_number=None))
    page = portal.ann.get("/vendor/messages")
    assert page.status_code == 200, page.text
    conversation = _conversation_of(page.text)
    with portal.ann.stream("POST", "/vendor/messages/v-alpha/chat", data={
            "text": QUESTION, "conversation_id": conversation}) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"] == "text/plain; charset=utf-8"
        chunks = [chunk.decode() for chunk in reply.iter_raw() if chunk]
    answer = "".join(chunks)
    assert len(chunks) > 3
    assert "invoice number: A-1" in answer
    stored = [(m.conversation_id, m.role, m.text) for m in _stored(portal.app, "v-alpha")]
    assert stored[-2:] == [(conversation, "vendor", QUESTION),
                           (conversation, "assistant", answer)]
    again = portal.ann.get("/vendor/messages").text
    assert QUESTION.replace("?", "") in again
    assert "invoice number: A-1" in again


def test_a_vendor_user_cannot_chat_as_another_vendor(portal: Portal) -> None:
    before = _stored(portal.app, "v-alpha")
    answer = portal.bob.post("/vendor/messages/v-alpha/chat", data={
        "text": "What are my invoices?", "conversation_id": "chat-bob"})
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"
    assert _stored(portal.app, "v-alpha") == before
    assert "v-alpha" not in portal.bob.get("/vendor/messages").text
    assert portal.bob.get("/vendor/messages", params={"vendor_id": "v-alpha"}
                          ).status_code == 404


def test_a_chat_without_the_csrf_token_is_refused(portal: Portal) -> None:
    del portal.ann.headers["X-CSRF-Token"]
    answer = portal.ann.post("/vendor/messages/v-alpha/chat", data={
        "text": QUESTION, "conversation_id": "chat-x"})
    assert answer.status_code == 403
    assert answer.json()["code"] == "csrf_failed"


def test_an_empty_question_is_refused_before_anything_streams(portal: Portal) -> None:
    answer = portal.ann.post("/vendor/messages/v-alpha/chat", data={
        "text": "   ", "conversation_id": "chat-x"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "text"


def test_a_note_to_accounts_payable_shows_on_the_messages_page_without_the_agents_notes(
        portal: Portal) -> None:
    portal.app.vendor_work.add_note("v-alpha", "stage invoice, outcome REJECT, rules fired",
                                    author=Author.AGENT, author_id="invoice-agent")
    sent = portal.ann.post("/vendor/messages/v-alpha/notes",
                           data={"text": "Our bank letter is attached to INV-9."})
    assert sent.status_code == 200
    assert "Sent to accounts payable." in sent.text
    assert "Our bank letter is attached to INV-9." in sent.text
    assert "rules fired" not in sent.text
    assert "rules fired" not in portal.ann.get("/api/vendors/v-alpha/notes").text


# -- onboarding with typed documents -----------------------------------------------------

FORMCO = {"legal_name": "Formco Supplies GmbH", "country": "DE", "tax_id": "DE136695976",
          "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX",
          "industry": "office supplies", "profile": "We sell paper and desks."}


def _register(client: TestClient, kinds: list[str]) -> str:
    """Register Formco through the onboarding form with one text document per kind; the
    notice the portal answers with."""
    files = [(f"document_{slot}", (f"{kind}.txt", f"{kind} of Formco".encode(), "text/plain"))
             for slot, kind in enumerate(kinds, start=1)]
    files.append((f"document_{len(kinds) + 1}", ("", b"", "application/octet-stream")))
    kinds_chosen = {f"document_type_{slot}": kind for slot, kind in enumerate(kinds, start=1)}
    answer = client.post("/vendor/onboard", data={**FORMCO, **kinds_chosen,  # and an empty
                                                  f"document_type_{len(kinds) + 1}": "w9"},
                         files=files)  # slot, as a browser sends one
    assert answer.status_code == 200, answer.text
    return answer.text.split('role="status">')[1].split("<")[0]


def _registered(app: App) -> Vendor:
    with app.uow() as uow:
        found = [v for v in uow.vendors.page(tenant="default")
                 if v.legal_name == FORMCO["legal_name"]]
    assert len(found) == 1
    return found[0]


def _documents_finding(app: App, vendor_id: str) -> dict[str, object]:
    with app.uow() as uow:
        record = uow.audit.by_id(f"{workflow_id('onboarding', vendor_id)}:onboarding")
    assert record is not None
    calls = record.data["proposal"]["tool_calls"]
    registration = next(c for c in calls if c["name"] == "verify_registration")
    return next(f for f in registration["result"]["findings"] if f["check"] == "documents")


def test_the_document_kinds_chosen_reach_the_onboarding_checks(portal: Portal) -> None:
    notice = _register(portal.ann, ["certificate_of_incorporation", "bank_letter"])
    assert notice == "Formco Supplies GmbH is registered; its checks are running."
    vendor = _registered(portal.app)
    assert vendor.documents == ("certificate_of_incorporation", "bank_letter")
    assert vendor.industry == "office supplies"
    assert "certificate_of_incorporation of Formco" in vendor.profile
    run_until_idle(portal.app)
    finding = _documents_finding(portal.app, vendor.vendor_id)
    assert finding["passed"] is True, finding


def test_a_missing_bank_letter_is_what_the_onboarding_checks_find(portal: Portal) -> None:
    _register(portal.ann, ["certificate_of_incorporation"])
    run_until_idle(portal.app)
    finding = _documents_finding(portal.app, _registered(portal.app).vendor_id)
    assert finding["passed"] is False
    assert "bank_letter" in str(finding["detail"])


def test_an_unknown_document_kind_is_refused_in_words(portal: Portal) -> None:
    notice = _register(portal.ann, ["passport"])
    assert notice.startswith("Not registered: a document is one of: Certificate of")
    with portal.app.uow() as uow:
        assert [v.vendor_id for v in uow.vendors.page(tenant="default")] == [
            "v-alpha", "v-beta"]


def test_the_form_offers_every_kind_the_checks_require(portal: Portal) -> None:
    page = portal.ann.get("/vendor").text
    assert set(REQUIRED_DOCUMENTS) <= set(DOCUMENT_KINDS)
    for kind in DOCUMENT_KINDS:
        assert f'<option value="{kind}"' in page
    assert '<label for="industry">Industry</label>' in page


def test_a_registered_vendors_status_change_reaches_its_users_live_page(
        portal: Portal) -> None:
    _register(portal.ann, ["certificate_of_incorporation", "bank_letter"])
    vendor = _registered(portal.app)
    run_until_idle(portal.app)
    token = portal.ann.get("/api/events/token").json()["token"]
    audience = audience_of(portal.app, token)
    assert audience is not None
    with portal.app.uow() as uow:
        events = [event for _, event in uow.outbox.after((0, 0), limit=5000)]
    changed = [e for e in events if e.type == "vendor.status_changed"
               and e.payload["vendor_id"] == vendor.vendor_id]
    assert len(changed) == 1
    assert audience.sees(changed[0])
    bobs = audience_of(portal.app, portal.bob.get("/api/events/token").json()["token"])
    assert bobs is not None
    assert not bobs.sees(changed[0])
    page = portal.ann.get("/vendor").text
    rows = page.split('id="vendor-rows"')[1].split("</tbody>")[0]
    status = _registered(portal.app).status.value
    assert status != "pending"
    assert f'data-vendor-status="{vendor.vendor_id}">{status}<' in rows
    assert "finbot:event[detail.type=='vendor.status_changed'] from:body" in page


# -- self sign-up ------------------------------------------------------------------------

NEW_PASSWORD = "a long enough passphrase"


def _signup(web: FastAPI, email: str, password: str = NEW_PASSWORD, *,
            again: str | None = None) -> tuple[TestClient, str]:
    """A fresh browser that draws the sign-up form and sends it; its client and the page
    it ends on."""
    browser = TestClient(web, client=("127.0.0.1", 5000))
    form = browser.get("/signup").text
    token = form.split('name="form_token" value="')[1].split('"')[0]
    answer = browser.post("/signup", data={
        "email": email, "password": password, "password_again": again or password,
        "form_token": token})
    assert answer.status_code == 200, answer.text
    return browser, answer.text


def _error_of(page: str) -> str:
    return page.split('role="alert">')[1].split("</p>")[0]


def test_signing_up_makes_a_vendor_user_who_is_signed_in_and_can_sign_in_again(
        portal: Portal) -> None:
    browser, landed = _signup(portal.web, "New.Vendor@Example.com")
    assert "<h1>Vendor portal</h1>" in landed
    assert "No vendor yet" in landed
    me = browser.get("/api/auth/me").json()
    assert (me["roles"], me["vendors"], me["tenant"]) == (["vendor"], [], "default")
    again = TestClient(portal.web).post("/api/auth/login", json={
        "email": "new.vendor@example.com", "password": NEW_PASSWORD})
    assert again.status_code == 200
    stored = [u for u in portal.app.auth.users() if u.email == "new.vendor@example.com"]
    assert len(stored) == 1


@pytest.mark.parametrize(("email", "password", "error"), [
    ("short@example.com", "too short", "a password has at least 12 characters"),
    ("samesame1234@example.com", "samesame1234@example.com",
     "a password may not be the email address"),
    ("typo@example.com", NEW_PASSWORD, "The two passwords differ.")],
    ids=["short", "the-email", "mismatch"])
def test_a_weak_or_mistyped_password_is_refused_and_nobody_is_created(
        portal: Portal, email: str, password: str, error: str) -> None:
    again = "not the same password" if error.startswith("The two") else None
    _, page = _signup(portal.web, email, password, again=again)
    assert _error_of(page) == error
    assert email not in [u.email for u in portal.app.auth.users()]


def test_an_address_in_use_is_refused_without_saying_more(portal: Portal) -> None:
    _, page = _signup(portal.web, "ann@home.example")
    assert _error_of(page) == ("This address cannot be used to sign up. If you already "
                               "have an account, sign in instead.")
    assert 'value="ann@home.example"' not in page
    assert [u.email for u in portal.app.auth.users()].count("ann@home.example") == 1
    me = portal.ann.get("/api/auth/me").json()  # ann's own account is untouched
    assert me["vendors"] == ["v-alpha"]


def test_a_sign_up_form_not_drawn_by_this_site_creates_nobody(portal: Portal) -> None:
    forged = TestClient(portal.web).post("/signup", data={
        "email": "forged@example.com", "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD, "form_token": "forged"})
    assert _error_of(forged.text) == "This form has expired. Please fill it in again."
    cross_site = TestClient(portal.web).post("/signup", headers={
        "Origin": "https://evil.example"}, data={
        "email": "forged@example.com", "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD, "form_token": "forged"})
    assert cross_site.status_code == 403
    assert "forged@example.com" not in [u.email for u in portal.app.auth.users()]


def test_the_sign_in_page_links_to_sign_up(portal: Portal) -> None:
    assert '<a href="/signup">Create an account</a>' in TestClient(portal.web).get(
        "/login").text
