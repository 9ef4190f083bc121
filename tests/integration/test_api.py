"""The JSON API over the real databases: sign-in with a signed HttpOnly cookie, rotation
and logout, CSRF on writes, API tokens, the one error body, idempotent money requests,
cursor pages, rate limits, and a vendor's invoice told in plain words."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finbot.bootstrap import App
from finbot.config import Settings
from finbot.domain.invoices import InvoiceStatus
from finbot.entrypoints.api.deps import COOKIE
from finbot.entrypoints.api.schemas import encode_cursor
from tests.api_kit import PASSWORD, add_user, sign_in, web_app
from tests.workflow_kit import (
    clean_vendor,
    company_with,
    purchase_order,
    run_until_idle,
)


@pytest.fixture
def web(app: App) -> FastAPI:
    app.vendor_work.register_vendor(clean_vendor("v-acme"))
    app.vendor_work.register_vendor(clean_vendor("v-other", legal_name="Other Corp"))
    built = web_app(app)
    add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",))
    add_user(app, "rita@finbot.example", "reviewer")
    add_user(app, "adam@finbot.example", "admin")
    return built


def invoice_body(number: str = "INV-1", *, vendor_id: str = "v-acme",
                 amount: str = "1200.00") -> dict[str, Any]:
    return {"vendor_id": vendor_id, "number": number, "amount": amount, "currency": "USD",
            "issued_on": "2026-11-01", "due_on": "2026-12-01",
            "lines": [{"description": "Toner", "quantity": "12", "unit_price": "100.00"}],
            "text": "Office supplies"}


def test_sign_in_sets_a_signed_http_only_cookie_and_me_names_the_user(web: FastAPI) -> None:
    client = TestClient(web)
    answer = client.post("/api/auth/login", json={"email": "ANN@acme.example",
                                                   "password": PASSWORD})
    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    me = client.get("/api/auth/me").json()
    assert me["roles"] == ["vendor"]
    assert me["vendors"] == ["v-acme"]
    assert me["csrf_token"] == answer.json()["csrf_token"]


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(web: FastAPI) -> None:
    client = TestClient(web)
    wrong = client.post("/api/auth/login", json={"email": "ann@acme.example",
                                                  "password": "not the password!"})
    unknown = client.post("/api/auth/login", json={"email": "nobody@acme.example",
                                                    "password": "not the password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "unauthenticated"


def test_a_forged_cookie_is_not_a_session(web: FastAPI) -> None:
    client = TestClient(web)
    client.cookies.set(COOKIE, "forged.value")
    assert client.get("/api/auth/me").status_code == 401


def test_signing_in_again_rotates_the_session(web: FastAPI) -> None:
    client = sign_in(web, "ann@acme.example")
    old_cookie = client.cookies[COOKIE]
    client.post("/api/auth/login", json={"email": "ann@acme.example", "password": PASSWORD})
    assert client.cookies[COOKIE] != old_cookie
    stale = TestClient(web)
    stale.cookies.set(COOKIE, old_cookie)
    assert stale.get("/api/auth/me").status_code == 401


def test_writes_need_the_csrf_token_and_logout_is_a_post(web: FastAPI) -> None:
    client = sign_in(web, "ann@acme.example")
    token = client.headers.pop("X-CSRF-Token")
    refused = client.post("/api/vendors/v-acme/notes", json={"text": "hello"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    assert client.get("/api/auth/logout").status_code == 405
    cross_site = client.post("/api/auth/logout", headers={"X-CSRF-Token": token,
                                                           "Origin": "https://evil.example"})
    assert cross_site.status_code == 403
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": token}).status_code == 204
    assert client.get("/api/auth/me").status_code == 401


def test_an_api_token_needs_no_cookie_and_no_csrf_token(web: FastAPI, app: App) -> None:
    token = app.auth.issue_token("ann@acme.example", "ci")
    client = TestClient(web, headers={"Authorization": f"Bearer {token}"})
    assert client.get("/api/auth/me").json()["via"] == "token"
    assert client.post("/api/vendors/v-acme/notes", json={"text": "hi"}).status_code == 201
    bad = TestClient(web, headers={"Authorization": "Bearer fbt_nope_nope"})
    assert bad.get("/api/auth/me").status_code == 401
    assert bad.get("/api/auth/me").headers["www-authenticate"] == "Bearer"


def test_every_error_has_the_one_body(web: FastAPI) -> None:
    client = sign_in(web, "ann@acme.example")
    missing = client.get("/api/invoices/nope")
    invalid = client.post("/api/invoices", headers={"Idempotency-Key": "k"},
                          json={**invoice_body(), "amount": "-3"})
    malformed = client.post("/api/invoices", headers={"Idempotency-Key": "k2"},
                            json={"vendor_id": "v-acme"})
    for answer, status in ((missing, 404), (invalid, 422), (malformed, 422)):
        assert answer.status_code == status
        assert set(answer.json()) == {"code", "message", "field"}
    assert invalid.json()["field"] == "amount"
    assert malformed.json()["field"] == "number"


def test_submitting_an_invoice_needs_an_idempotency_key_and_a_repeat_is_answered_once(
        web: FastAPI, app: App) -> None:
    client = sign_in(web, "ann@acme.example")
    no_key = client.post("/api/invoices", json=invoice_body())
    assert (no_key.status_code, no_key.json()["code"]) == (422, "idempotency_key_required")
    first = client.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": "a"})
    again = client.post("/api/invoices", json=invoice_body(), headers={"Idempotency-Key": "a"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/api/invoices", json=invoice_body("INV-2"),
                        headers={"Idempotency-Key": "a"})
    assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
    assert len(client.get("/api/invoices").json()["items"]) == 1


def test_lists_page_with_cursors_newest_first(web: FastAPI) -> None:
    client = sign_in(web, "ann@acme.example")
    for n in range(5):
        client.post("/api/invoices", json=invoice_body(f"INV-{n}"),
                    headers={"Idempotency-Key": f"k{n}"})
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/api/invoices", params={"limit": 2, **(
            {"cursor": cursor} if cursor else {})}).json()
        seen += [item["number"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"INV-{n}" for n in reversed(range(5))]
    forged = [encode_cursor(p) for p in ([1], {"a": 1}, [1, 2], ["x", "y"], 5, [1, "a", 3])]
    for path in ("/api/invoices", "/api/vendors", "/api/reviews"):
        for cursor in ["!!!", *forged]:  # not given out by the API: refused, never a 500
            bad = client.get(path, params={"cursor": cursor})
            assert (bad.status_code, bad.json()["field"]) in ((422, "cursor"), (403, None))


def test_a_vendor_user_onboards_a_vendor_and_becomes_its_member(web: FastAPI,
                                                                 app: App) -> None:
    add_user(app, "newbie@beta.example", "vendor")
    client = sign_in(web, "newbie@beta.example")
    created = client.post("/api/vendors", json={
        "legal_name": "Beta Widgets GmbH", "country": "DE", "iban": "DE89370400440532013000"})
    assert created.status_code == 201, created.text
    vendor = created.json()
    assert vendor["status"] == "pending"
    assert vendor["bank_account"] == "…3000"  # bank details masked in answers
    again = sign_in(web, "newbie@beta.example")
    assert again.get(f"/api/vendors/{vendor['vendor_id']}").status_code == 200
    assert [v["vendor_id"] for v in again.get("/api/vendors").json()["items"]] == [
        vendor["vendor_id"]]


def test_staff_read_vendors_but_do_not_act_for_them(web: FastAPI) -> None:
    admin = sign_in(web, "adam@finbot.example")
    assert {v["vendor_id"] for v in admin.get("/api/vendors").json()["items"]} == {
        "v-acme", "v-other"}
    refused = admin.post("/api/invoices", json=invoice_body(),
                         headers={"Idempotency-Key": "x"})
    assert refused.status_code == 403


def test_the_login_route_is_rate_limited_per_address(app: App) -> None:
    web = web_app(app, limits={"login": "3/minute", "default": "100/minute"})
    client = TestClient(web)
    answers = [client.post("/api/auth/login", json={"email": "x@y.example",
                                                     "password": "whatever-long"})
               for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1


@pytest.fixture
def company(settings: Settings) -> Iterator[App]:
    with company_with(settings, clean_vendor("v-acme")) as app:
        yield app


def test_an_escalated_invoice_is_approved_by_a_reviewer_and_the_vendor_sees_it_paid(
        company: App) -> None:
    app = company
    web = web_app(app)
    add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",))
    add_user(app, "rita@finbot.example", "reviewer")
    ann, rita = sign_in(web, "ann@acme.example"), sign_in(web, "rita@finbot.example")
    # a first payment this large to a new payee is for a person to look at
    body = {**invoice_body(amount="6000.00"),
            "lines": [{"description": "Desks", "quantity": "60", "unit_price": "100.00"}]}
    submitted = ann.post("/api/invoices", json=body, headers={"Idempotency-Key": "inv"})
    assert submitted.status_code == 201, submitted.text
    invoice_id = submitted.json()["invoice_id"]
    run_until_idle(app)
    seen = ann.get(f"/api/invoices/{invoice_id}").json()
    assert seen["invoice"]["status"] == "escalated"
    assert "A person will review" in seen["timeline"][-1]["words"]
    assert "rules" not in str(seen)  # the vendor is not shown the gate's reasoning
    trail = None
    for turn in range(3):  # each stage that escalates waits for its own review
        queue = rita.get("/api/reviews").json()["items"]
        if not queue:
            break
        assert [item["vendor_id"] for item in queue] == ["v-acme"]
        decision_id = queue[0]["decision_id"]
        trail = rita.get(f"/api/decisions/{decision_id}").json()
        assert trail["data"]["outcome"] == "ESCALATE"
        assert ann.get(f"/api/decisions/{decision_id}").status_code == 403
        approved = rita.post(f"/api/reviews/{decision_id}",
                             headers={"Idempotency-Key": f"r{turn}"},
                             json={"verdict": "APPROVE",
                                   "rationale": "Desks delivered; receipt checked"})
        assert approved.status_code == 200, approved.text
        run_until_idle(app)
    assert trail is not None
    final = ann.get(f"/api/invoices/{invoice_id}").json()
    assert final["invoice"]["status"] == "paid", final["timeline"]
    assert final["timeline"][-1]["title"] == "Paid"
    assert final["next_step"] == "Paid. Nothing to do."


def test_the_dashboard_counts_only_the_callers_tenant(web: FastAPI, app: App) -> None:
    ann = sign_in(web, "ann@acme.example")
    assert ann.post("/api/invoices", json=invoice_body(),
                    headers={"Idempotency-Key": "d"}).status_code == 201
    home = sign_in(web, "rita@finbot.example").get("/admin").text
    add_user(app, "gina@globex.example", "reviewer", tenant="globex")
    other = sign_in(web, "gina@globex.example").get("/admin")
    assert other.status_code == 200
    assert "status-submitted" in home
    assert "status-submitted" not in other.text
    assert "No invoices yet." in other.text
    assert "Events waiting" in home
    assert "Events waiting" not in other.text  # the platform's backlog is the home tenant's


def test_a_burst_of_money_requests_is_a_fraud_signal_on_the_vendor(company: App) -> None:
    app = company
    app.settings = app.settings.model_copy(update={"money_burst": "2/minute"})
    app.vendor_work.add_purchase_order(purchase_order("PO-1", vendor_id="v-acme"))
    web = web_app(app)
    add_user(app, "ann@acme.example", "vendor", vendors=("v-acme",))
    add_user(app, "rita@finbot.example", "reviewer")
    ann, rita = sign_in(web, "ann@acme.example"), sign_in(web, "rita@finbot.example")
    for n in range(4):  # twice the threshold within the minute: one burst, recorded once
        price = f"{120 + 7 * n}.00"  # different sums: not duplicates of each other
        body = {**invoice_body(f"B-{n}", amount=price), "po_number": "PO-1", "lines": [
            {"description": "Toner", "quantity": "1", "unit_price": price}]}
        answer = ann.post("/api/invoices", json=body, headers={"Idempotency-Key": f"b{n}"})
        assert answer.status_code == 201, answer.text  # a signal, not a refusal
    with app.uow() as uow:
        assert uow.vendors.bursts("v-acme", since_us=0, until_us=2**62) == 1
        announced = [e for _, e in uow.outbox.after((-1, 0), limit=1000)
                     if e.type == "vendor.money_burst"]
    assert [e.payload["vendor_id"] for e in announced] == ["v-acme"]
    run_until_idle(app)
    queue = rita.get("/api/reviews", params={"limit": 50}).json()["items"]
    assert queue, "the burst escalates the vendor's invoices for a person to look at"
    trail = rita.get(f"/api/decisions/{queue[0]['decision_id']}").json()
    assert trail["data"]["stage"] == "fraud"
    assert "burst(s) of money requests on the API" in str(trail["data"])
    statuses = {i["status"] for i in ann.get("/api/invoices").json()["items"]}
    assert statuses <= {"escalated", "submitted"}, statuses


def test_an_invoice_id_is_the_vendors_own_and_a_repeat_returns_the_first(
        web: FastAPI) -> None:
    add_user(web.state.finbot.app, "bob@other.example", "vendor", vendors=("v-other",))
    ann, bob = sign_in(web, "ann@acme.example"), sign_in(web, "bob@other.example")
    first = ann.post("/api/invoices", json={**invoice_body("INV-9"), "invoice_id": "inv-9"},
                     headers={"Idempotency-Key": "one"})
    assert first.status_code == 201, first.text
    again = ann.post("/api/invoices", json={**invoice_body("INV-9"), "invoice_id": "inv-9"},
                     headers={"Idempotency-Key": "two"})  # another key, the same invoice
    assert again.json()["submitted_at_us"] == first.json()["submitted_at_us"]
    taken = bob.post("/api/invoices", json={**invoice_body("O-1", vendor_id="v-other"),
                                             "invoice_id": "inv-9"},
                     headers={"Idempotency-Key": "three"})
    assert (taken.status_code, taken.json()["code"]) == (404, "invoice_id_taken")
    assert "v-acme" not in taken.text
    assert "INV-9" not in taken.text


def test_documents_and_attachments_travel_in_the_json_api_and_reach_the_agents(
        web: FastAPI, app: App) -> None:
    add_user(app, "newbie@beta.example", "vendor")
    client = sign_in(web, "newbie@beta.example")

    def file(name: str, data: bytes) -> dict[str, str]:
        return {"name": name, "content_base64": base64.b64encode(data).decode()}
    created = client.post("/api/vendors", json={
        "legal_name": "Docs GmbH", "country": "DE", "iban": "DE89370400440532013000",
        "industry": "office supplies",
        "documents": [{**file("coi.txt", b"Certificate of incorporation of Docs GmbH"),
                       "kind": "certificate_of_incorporation"},
                      {**file("bank.txt", b"Bank letter for Docs GmbH"),
                       "kind": "bank_letter"}]})
    assert created.status_code == 201, created.text
    vendor_id = created.json()["vendor_id"]
    with app.uow() as uow:
        vendor = uow.vendors.get(vendor_id)
    assert vendor is not None
    assert vendor.documents == ("certificate_of_incorporation", "bank_letter")
    assert "Certificate of incorporation of Docs GmbH" in vendor.profile

    wrong = client.post("/api/vendors", json={
        "legal_name": "Odd GmbH", "country": "DE",
        "documents": [{**file("p.txt", b"a passport"), "kind": "passport"}]})
    assert (wrong.status_code, wrong.json()["field"]) == (422, "documents.0.kind")
    binary = client.post("/api/vendors", json={
        "legal_name": "Odd GmbH", "country": "DE",
        "documents": [{**file("x.bin", b"\x00\x01\x02 not a document"),
                       "kind": "w9"}]})
    assert (binary.status_code, binary.json()["field"]) == (422, "documents.0")

    ann = sign_in(web, "ann@acme.example")
    submitted = ann.post("/api/invoices", json={
        **invoice_body("ATT-1"), "attachments": [file("inv.txt", b"Invoice ATT-1: toner")]},
        headers={"Idempotency-Key": "att"})
    assert submitted.status_code == 201, submitted.text
    with app.uow() as uow:
        invoice = uow.invoices.get(submitted.json()["invoice_id"])
    assert invoice is not None
    assert "[attached text inv.txt]\nInvoice ATT-1: toner" in invoice.text


def test_a_vendor_follows_its_payments_in_the_api(web: FastAPI, app: App) -> None:
    ann = sign_in(web, "ann@acme.example")
    submitted = ann.post("/api/invoices", json=invoice_body("PAY-1"),
                         headers={"Idempotency-Key": "pay"})
    invoice_id = submitted.json()["invoice_id"]
    assert ann.get("/api/payments").json() == []  # submitted: not on its way yet
    with app.uow() as uow:
        uow.invoices.set_status(invoice_id, InvoiceStatus.APPROVED, 1)
        uow.commit()
    [line] = ann.get("/api/payments").json()
    assert line["invoice"]["invoice_id"] == invoice_id
    assert line["expected_on"] == invoice_body()["due_on"]
    assert line["paid_at_us"] is None
