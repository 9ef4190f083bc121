"""Every API route, walked with a user of every role in the home tenant and in another
tenant, and with nobody: no route answers without a session or token, no role does what
its grants do not allow, and nobody reads or writes another tenant's or another vendor's
data.

The routes come from the application itself, so a new route is walked too; a route this
file has no expectation for fails the test until someone decides who may call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.sandboxes import SandboxMode
from finbot.domain.users import Principal
from finbot.services.arena_tools import ArenaTools
from finbot.services.sandboxes import SandboxService
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    run_until_idle,
    small_scorer,
    stored_fraud_model,
)

STAFF = {"rita", "adam", "aude"}  # reviewer, admin, auditor of the home tenant
EVERYONE = {"ann", "bob", "pia"} | STAFF
VENDOR_USERS = {"ann", "bob", "pia"}  # pia plays as the vendor user of her own sandbox
PUBLIC = {("POST", "/api/auth/login"), ("GET", "/healthz"), ("GET", "/login"),
          ("POST", "/login"), ("GET", "/signup"), ("POST", "/signup")}
SKIPPED = {("POST", "/api/auth/logout"): "ends the caller's session; test_api covers it",
           ("POST", "/logout"): "ends the caller's session; the browser test covers it"}
OWN_TENANT_WRITES = {("POST", "/api/vendors"), ("POST", "/vendor/onboard"),
                     ("POST", "/api/arena/sandbox"), ("POST", "/api/arena/sandbox/reset"),
                     ("POST", "/arena/sandbox")}
"""Writes that create something in the caller's own tenant, whichever tenant that is, or
in their own arena sandbox."""
OWN_PLAYS = {("POST", "/api/arena/sandbox/mode"),
             ("POST", "/api/arena/challenges/{challenge_id}/start"),
             ("POST", "/api/arena/challenges/{challenge_id}/hints"),
             ("GET", "/api/arena/challenges/{challenge_id}/trail"),
             ("POST", "/api/arena/challenges/{challenge_id}/defence"),
             ("POST", "/arena/challenges/{challenge_id}/defence"),
             ("GET", "/api/arena/challenges/{challenge_id}/webhook-secret"),
             ("PUT", "/api/arena/tools/{tool}/description"),
             ("POST", "/api/arena/tools/files"),
             ("GET", "/arena/challenges/{challenge_id}"),
             ("POST", "/arena/challenges/{challenge_id}/start"),
             ("POST", "/arena/challenges/{challenge_id}/hints"),
             ("POST", "/arena/tools/description"),
             ("POST", "/arena/tools/files")}
"""Routes about the caller's own arena plays and their own sandbox's tools: the id in their
path names a challenge or a tool of the shared catalogue, never another tenant's data."""

WHO_MAY: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/auth/me"): EVERYONE,
    ("GET", "/api/vendors"): EVERYONE,
    ("POST", "/api/vendors"): VENDOR_USERS,
    ("GET", "/api/vendors/{vendor_id}"): {"ann"} | STAFF,
    ("PUT", "/api/vendors/{vendor_id}/bank-details"): {"ann"},
    ("GET", "/api/vendors/{vendor_id}/notes"): {"ann"} | STAFF,
    ("POST", "/api/vendors/{vendor_id}/notes"): {"ann"},
    ("GET", "/api/invoices"): EVERYONE,
    ("POST", "/api/invoices"): {"ann"},
    ("GET", "/api/invoices/{invoice_id}"): {"ann"} | STAFF,
    ("GET", "/api/payments"): EVERYONE,
    ("GET", "/api/decisions/verify"): STAFF,
    ("GET", "/api/decisions/{decision_id}"): STAFF,
    ("GET", "/api/reviews"): STAFF,
    ("POST", "/api/reviews/{decision_id}"): {"rita"},
    ("GET", "/api/ledger/accounts"): EVERYONE,
    ("GET", "/api/ledger/accounts/{code}"): STAFF,
    ("GET", "/api/ledger/transfers"): STAFF,
    ("GET", "/api/policy"): STAFF,
    ("GET", "/api/policy/{version}"): STAFF,
    ("POST", "/api/policy"): {"adam"},
    ("GET", "/api/breakers"): STAFF,
    ("POST", "/api/breakers/{agent_id}"): {"adam"},
    ("GET", "/api/events/token"): EVERYONE,
    ("GET", "/api/arena/findings"): STAFF | {"pia"},
    ("GET", "/api/arena/sandbox"): {"pia"},
    ("POST", "/api/arena/sandbox"): {"pia"},
    ("POST", "/api/arena/sandbox/reset"): {"pia"},
    ("GET", "/api/arena/sandbox/export"): {"pia"},
    ("POST", "/arena/sandbox"): {"pia"},
    ("POST", "/api/arena/sandbox/mode"): {"pia"},
    ("GET", "/api/arena/challenges"): {"pia"},
    ("POST", "/api/arena/challenges/{challenge_id}/start"): {"pia"},
    ("POST", "/api/arena/challenges/{challenge_id}/hints"): {"pia"},
    ("GET", "/api/arena/challenges/{challenge_id}/trail"): {"pia"},
    ("POST", "/api/arena/challenges/{challenge_id}/defence"): {"pia"},
    ("POST", "/arena/challenges/{challenge_id}/defence"): {"pia"},
    ("GET", "/api/arena/challenges/{challenge_id}/webhook-secret"): {"pia"},
    ("GET", "/api/arena/scoreboard"): {"pia"},
    ("GET", "/api/arena/badges"): {"pia"},
    ("GET", "/api/arena/activity"): {"pia"},
    ("GET", "/api/arena/tools"): {"pia"},
    ("PUT", "/api/arena/tools/{tool}/description"): {"pia"},
    ("POST", "/api/arena/tools/files"): {"pia"},
    ("GET", "/arena"): {"pia"},
    ("GET", "/arena/board"): {"pia"},
    ("GET", "/arena/activity"): {"pia"},
    ("GET", "/arena/scoreboard"): {"pia"},
    ("GET", "/arena/challenges/{challenge_id}"): {"pia"},
    ("POST", "/arena/challenges/{challenge_id}/start"): {"pia"},
    ("POST", "/arena/challenges/{challenge_id}/hints"): {"pia"},
    ("POST", "/arena/tools/description"): {"pia"},
    ("POST", "/arena/tools/files"): {"pia"},
    ("GET", "/"): EVERYONE,
    ("GET", "/vendor"): VENDOR_USERS,
    ("GET", "/vendor/invoices"): EVERYONE,
    ("POST", "/vendor/onboard"): VENDOR_USERS,
    ("POST", "/vendor/invoices"): {"ann"},
    ("POST", "/vendor/bank-details"): {"ann"},
    ("GET", "/vendor/invoices/{invoice_id}"): {"ann"} | STAFF,
    ("GET", "/vendor/payments"): VENDOR_USERS,
    ("GET", "/vendor/messages"): VENDOR_USERS,
    ("POST", "/vendor/messages/{vendor_id}/chat"): {"ann"},
    ("POST", "/vendor/messages/{vendor_id}/notes"): {"ann"},
    ("GET", "/admin"): STAFF,
    ("GET", "/admin/decisions/{decision_id}"): STAFF,
    ("POST", "/admin/decisions/{decision_id}/review"): {"rita"},
    ("GET", "/admin/invoices/{invoice_id}"): STAFF,
    ("GET", "/admin/decisions"): STAFF,
    ("POST", "/admin/decisions/verify"): STAFF,
    ("GET", "/admin/ledger"): STAFF,
    ("GET", "/admin/ledger/accounts/{code}"): STAFF,
    ("GET", "/admin/ledger/transfers"): STAFF,
    ("GET", "/admin/policy"): STAFF,
    ("POST", "/admin/policy"): {"adam"},
    ("GET", "/admin/vendors"): STAFF,
    ("GET", "/admin/vendors/{vendor_id}"): STAFF,
    ("POST", "/admin/vendors/{vendor_id}/erase"): {"adam"},  # crypto-shreds v-alpha
    ("GET", "/admin/models"): STAFF,
    ("GET", "/admin/models/{model_version}"): STAFF,
    ("GET", "/metrics"): STAFF,  # or a scraper with FINBOT_METRICS_TOKEN (test_monitoring)
    ("GET", "/admin/models/agents/{key}"): STAFF,
    ("GET", "/admin/decisions/{decision_id}/explain"): STAFF,
}
"""Who of the home tenant may call each route on the home tenant's vendor v-alpha (ann
works for v-alpha, bob for v-beta, pia plays the arena). Nobody of tenant globex may."""


@dataclass(frozen=True)
class World:
    web: FastAPI
    app: App
    decision_id: str
    clients: dict[str, TestClient]


@pytest.fixture
def world(settings: Settings) -> Iterator[World]:
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer)
    open_company(app)
    app.vendor_work.register_vendor(clean_vendor("v-alpha"))
    app.vendor_work.register_vendor(clean_vendor("v-beta", legal_name="Beta Corp"))
    app.vendor_work.register_vendor(clean_vendor("v-gamma", tenant="globex",
                                                 legal_name="Gamma Globex"))
    run_until_idle(app)
    app.vendor_work.submit_invoice(clean_invoice("inv-alpha", vendor_id="v-alpha",
                                                 po_number=None, quantity="60"))
    run_until_idle(app)
    with app.uow() as uow:
        queued = uow.reviews.pending(limit=5)
    assert [item.vendor_id for item in queued] == ["v-alpha"]
    web = web_app(app)
    people = {"ann": ("vendor", ("v-alpha",)), "bob": ("vendor", ("v-beta",)),
              "rita": ("reviewer", ()), "adam": ("admin", ()), "aude": ("auditor", ()),
              "pia": ("player", ())}
    clients = {}
    for name, (role, vendors) in people.items():
        clients[name] = sign_in(web, add_user(app, f"{name}@home.example", role,
                                              vendors=vendors))
        other = ("v-gamma",) if vendors else ()
        clients[f"g-{name}"] = sign_in(web, add_user(app, f"{name}@globex.example", role,
                                                     vendors=other, tenant="globex"))
    pia = next(u for u in app.auth.users() if u.email == "pia@home.example")
    player = Principal.of(pia, via="session")
    sandboxes = SandboxService(app.uow, app.ledger, app.vendor_work,
                               ArenaTools(app.uow, app.outbox))
    sandboxes.open(player)  # the player has played before, in training (tools open)
    sandboxes.switch(player, SandboxMode.TRAINING)
    app.arena_play.start(player, "urgency-approval")
    yield World(web, app, queued[0].decision_id, clients)
    app.close()


def routes(web: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app serves: its routes, walked into included routers,
    and whatever its OpenAPI document lists."""
    found: set[tuple[str, str]] = set()

    def walk(entries: list[Any]) -> None:
        for route in entries:
            if isinstance(route, APIRoute):
                found.update((method, route.path) for method in route.methods)
            elif hasattr(route, "original_router"):  # an included router, resolved lazily
                walk(route.original_router.routes)
            elif hasattr(route, "routes"):
                walk(route.routes)
    walk(web.routes)
    for path, operations in web.openapi()["paths"].items():
        found.update((method.upper(), path) for method in operations)
    return sorted(found - {("HEAD", path) for _, path in found})


def request_for(world: World, method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The route's URL with the home tenant's ids filled in, and a valid body."""
    ids = {"vendor_id": "v-alpha", "invoice_id": "inv-alpha",
           "decision_id": world.decision_id, "code": "company:bank", "version": "v1",
           "agent_id": "invoice-agent", "model_version": stored_fraud_model(world.app),
           "challenge_id": "urgency-approval", "tool": "send_mail", "key": "invoice-2"}
    url = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/vendors"): {"legal_name": "Newco LLC", "country": "US"},
        ("PUT", "/api/vendors/{vendor_id}/bank-details"): {"iban": "DE89370400440532013000"},
        ("POST", "/api/vendors/{vendor_id}/notes"): {"text": "a note"},
        ("POST", "/api/invoices"): {
            "vendor_id": "v-alpha", "number": "M-1", "amount": "10.00", "currency": "USD",
            "issued_on": "2026-11-01", "due_on": "2026-11-30"},
        ("POST", "/api/reviews/{decision_id}"): {
            "verdict": "REJECT", "rationale": "matrix walk: not for payment"},
        ("POST", "/api/policy"): world.app.policies.document()[2],
        ("POST", "/api/breakers/{agent_id}"): {"action": "trip", "reason": "matrix walk"},
        ("POST", "/api/arena/sandbox"): {},
        ("POST", "/api/arena/sandbox/reset"): {},
        ("POST", "/api/arena/sandbox/mode"): {"mode": "training"},
        ("POST", "/api/arena/challenges/{challenge_id}/start"): {},
        ("POST", "/api/arena/challenges/{challenge_id}/hints"): {},
        ("POST", "/api/arena/challenges/{challenge_id}/defence"): {
            "rule": {"name": "matrix", "any_of": ["pre-approved"]}},
        ("PUT", "/api/arena/tools/{tool}/description"): {
            "description": "matrix walk: a rewritten description"},
        ("POST", "/api/arena/tools/files"): {"path": "invoices/M-1/note.txt",
                                             "text": "matrix walk"},
    }
    forms: dict[tuple[str, str], Any] = {
        ("POST", "/vendor/onboard"): {"legal_name": "Formco LLC", "country": "US"},
        ("POST", "/vendor/invoices"): {
            "vendor_id": "v-alpha", "number": "F-1", "amount": "10.00", "currency": "USD",
            "issued_on": "2026-11-01", "due_on": "2026-11-30", "form_key": "matrix"},
        ("POST", "/vendor/messages/{vendor_id}/chat"): {
            "text": "What are my invoices?", "conversation_id": "chat-matrix"},
        ("POST", "/vendor/messages/{vendor_id}/notes"): {"text": "matrix walk: a note"},
        ("POST", "/arena/sandbox"): {"action": "reset"},
        ("POST", "/arena/challenges/{challenge_id}/start"): {},
        ("POST", "/arena/challenges/{challenge_id}/hints"): {},
        ("POST", "/arena/challenges/{challenge_id}/defence"): {"any_of": "pre-approved"},
        ("POST", "/arena/tools/description"): {
            "tool": "send_mail", "description": "matrix walk: a rewritten description"},
        ("POST", "/arena/tools/files"): {"path": "invoices/M-1/note.txt",
                                         "text": "matrix walk"},
        ("POST", "/vendor/bank-details"): {
            "vendor_id": "v-alpha", "iban": "DE89370400440532013000",
            "note": "matrix walk: new bank"},
        ("POST", "/admin/decisions/{decision_id}/review"): {
            "verdict": "REJECT", "rationale": "matrix walk: not for payment",
            "form_key": "matrix"},
        ("POST", "/admin/decisions/verify"): {},
        ("POST", "/admin/vendors/{vendor_id}/erase"): {},
        ("POST", "/admin/policy"): {"document": yaml.safe_dump(
            world.app.policies.document()[2])},
    }
    options: dict[str, Any] = {"headers": {"Idempotency-Key": f"matrix-{method}-{path}"}}
    if (method, path) in bodies:
        options["json"] = bodies[(method, path)]
    elif (method, path) in forms:
        options["data"] = forms[(method, path)]
    else:
        assert method == "GET" or (method, path) in SKIPPED, f"add a body for {method} {path}"
    return url, options


def _without_echo(text: str, url: str, body: Any) -> str:
    """``text`` without the ids the caller itself sent in the URL or body (a not-found
    message names what was asked for; that tells the caller nothing new)."""
    sent = [part for part in url.strip("/").split("/") if part]
    if isinstance(body, dict):
        sent += [v for v in body.values() if isinstance(v, str)]
    for part in sorted(sent, key=len, reverse=True):
        text = text.replace(part, "")
    return text


HOME_SECRETS = ("v-alpha", "v-beta", "inv-alpha", "company:bank", "Beta Corp")
"""Strings only the home tenant's readers may see in any answer."""


def test_every_route_has_an_expectation(world: World) -> None:
    assert len(routes(world.web)) >= len(WHO_MAY) + len(PUBLIC) + len(SKIPPED)
    unknown = [r for r in routes(world.web) if r not in WHO_MAY and r not in PUBLIC
               and r not in SKIPPED]
    assert unknown == [], "decide who may call these routes in WHO_MAY"


def test_nobody_gets_an_answer_without_signing_in(world: World) -> None:
    anonymous = TestClient(world.web, follow_redirects=False)
    for method, path in routes(world.web):
        if (method, path) in PUBLIC:
            continue
        url, options = request_for(world, method, path)
        answer = anonymous.request(method, url, **options)
        sent_to_sign_in = answer.status_code == 303 and answer.headers["location"] == "/login"
        assert answer.status_code == 401 or (sent_to_sign_in and method == "GET"), (
            method, path, answer.text)


def test_each_role_may_do_exactly_what_it_is_granted(world: World) -> None:
    for method, path in routes(world.web):
        if (method, path) in PUBLIC or (method, path) in SKIPPED:
            continue
        allowed = WHO_MAY[(method, path)]
        for name in sorted(EVERYONE):
            url, options = request_for(world, method, path)
            options["headers"]["Idempotency-Key"] += f"-{name}"
            answer = world.clients[name].request(method, url, **options)
            denied = answer.status_code in (401, 403, 404)
            assert denied != (name in allowed), (name, method, path, answer.status_code,
                                                  answer.text)
            if name == "bob" or name == "pia":  # bob works for v-beta only; pia plays
                assert "v-alpha" not in answer.text or method != "GET" or denied, (
                    name, path)


def test_another_tenant_never_reads_or_writes_the_home_tenants_data(world: World) -> None:
    for method, path in routes(world.web):
        if (method, path) in PUBLIC or (method, path) in SKIPPED:
            continue
        for name in sorted(EVERYONE):
            url, options = request_for(world, method, path)
            options["headers"]["Idempotency-Key"] += f"-g-{name}"
            answer = world.clients[f"g-{name}"].request(method, url, **options)
            said = _without_echo(answer.text, url, options.get("json") or options.get("data"))
            leaked = [s for s in HOME_SECRETS if s in said]
            assert leaked == [], (f"g-{name}", method, path, leaked)
            if (method, path) in OWN_PLAYS:
                continue
            if "{" in path or (method in ("POST", "PUT")
                               and (method, path) not in OWN_TENANT_WRITES):
                assert answer.status_code in (403, 404, 422), (
                    f"g-{name}", method, path, answer.status_code, answer.text)
    with world.app.uow() as uow:  # and nothing the walk tried changed the home tenant
        item = uow.reviews.get(world.decision_id)
        assert item is not None
        assert [r.reviewer_id for r in uow.reviews.reviews_of(world.decision_id)] == []
        assert uow.vendors.get("v-alpha").bank_changed_at_us is None  # type: ignore[union-attr]

