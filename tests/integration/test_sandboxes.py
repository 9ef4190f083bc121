"""Arena sandboxes: a player's own tenant with its own money, vendors and tools; a reset
starts a new generation without deleting anything; an invoice in the sandbox is paid from
the sandbox's bank, never the operating company's; nothing crosses sandboxes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.errors import Forbidden, NotFound
from finbot.domain.invoices import Invoice
from finbot.domain.users import Principal, Role
from finbot.domain.vendors import VendorStatus
from finbot.services.arena_tools import ArenaTools
from finbot.services.sandboxes import SandboxService
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import (
    clean_invoice,
    clean_vendor,
    open_company,
    run_until_idle,
    small_scorer,
)


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer)
    open_company(app)
    yield app
    app.close()


def _service(app: App) -> SandboxService:
    return SandboxService(app.uow, app.ledger, app.vendor_work,
                          ArenaTools(app.uow, app.outbox))


def _player(user_id: str) -> Principal:
    return Principal(user_id, "default", frozenset({Role.PLAYER}))


def _invoice(sandbox_vendor: str) -> Invoice:
    invoice = clean_invoice(f"inv-{sandbox_vendor}", vendor_id=sandbox_vendor,
                            po_number=f"PO-{sandbox_vendor}")
    return invoice


def test_a_sandbox_is_seeded_once_and_pays_from_its_own_bank(app: App) -> None:
    sandboxes = _service(app)
    pia = _player("u-pia")
    sandbox = sandboxes.open(pia)
    assert sandboxes.open(pia) == sandbox  # the same one, not seeded twice
    assert sandbox.tenant == "arena:u-pia"
    run_until_idle(app)  # the sandbox's vendors are onboarded like any vendor
    with app.uow() as uow:
        vendors = uow.vendors.page(tenant=sandbox.tenant)
        members = uow.reviews.vendors_of("u-pia")
    assert {v.vendor_id for v in vendors} == set(sandbox.vendor_ids()) == set(members)
    assert {v.status for v in vendors} == {VendorStatus.ACTIVE}
    home = app.queries.account("company:bank").balances
    acme = sandbox.vendor_ids()[0]
    app.vendor_work.submit_invoice(_invoice(acme))
    run_until_idle(app)
    exported = sandboxes.export(pia)
    assert [i["status"] for i in exported["invoices"]] == ["paid"]
    assert exported["accounts"]["company:bank"] == 10_000_000 - 120_000
    assert app.queries.account("company:bank").balances == home  # the company's untouched


def test_a_reset_starts_a_new_generation_and_keeps_the_record(app: App) -> None:
    sandboxes = _service(app)
    pia = _player("u-pia")
    first = sandboxes.open(pia)
    run_until_idle(app)
    app.vendor_work.submit_invoice(_invoice(first.vendor_ids()[0]))
    run_until_idle(app)
    second = sandboxes.reset(pia)
    run_until_idle(app)
    assert second.generation == first.generation + 1
    with app.uow() as uow:
        members = set(uow.reviews.vendors_of("u-pia"))
        old = [uow.vendors.get(v) for v in first.vendor_ids()]
    assert members == set(second.vendor_ids())
    assert {v.status for v in old if v is not None} == {VendorStatus.SUSPENDED}
    exported = sandboxes.export(pia)
    assert exported["accounts"]["company:bank"] == 10_000_000  # topped back up
    assert len(exported["vendors"]) == 4  # both generations stay on the record
    assert [i["invoice_id"] for i in exported["invoices"]] == [
        f"inv-{first.vendor_ids()[0]}"]


def test_nothing_crosses_sandboxes_and_only_players_have_one(app: App) -> None:
    sandboxes = _service(app)
    pia, max_ = _player("u-pia"), _player("u-max")
    mine, theirs = sandboxes.open(pia), sandboxes.open(max_)
    run_until_idle(app)
    assert mine.tenant != theirs.tenant
    assert not set(mine.vendor_ids()) & set(theirs.vendor_ids())
    assert {v["vendor_id"] for v in sandboxes.export(pia)["vendors"]} == set(
        mine.vendor_ids())
    with pytest.raises(Forbidden):
        sandboxes.open(Principal("u-ann", "default", frozenset({Role.VENDOR})))
    with pytest.raises(NotFound):
        sandboxes.get(_player("u-new"))


def test_a_player_opens_resets_and_exports_their_sandbox_over_the_api(app: App) -> None:
    web = web_app(app)
    player = sign_in(web, add_user(app, "pia@home.example", "player"))
    vendor = sign_in(web, add_user(app, "ann@home.example", "vendor"))
    assert player.get("/api/arena/sandbox").status_code == 404  # not opened yet
    opened = player.post("/api/arena/sandbox")
    assert opened.status_code == 200, opened.text
    assert player.post("/api/arena/sandbox").json() == opened.json()  # once
    me = player.get("/api/auth/me").json()["user_id"]
    assert opened.json()["tenant"] == f"arena:{me}"
    reset = player.post("/api/arena/sandbox/reset").json()
    assert reset["generation"] == 2
    exported = player.get("/api/arena/sandbox/export").json()
    assert exported["sandbox"]["generation"] == 2
    assert len(exported["vendors"]) == 4
    assert vendor.post("/api/arena/sandbox").status_code == 403


def test_a_player_plays_inside_their_sandbox_as_its_vendor_user(app: App) -> None:
    app.vendor_work.register_vendor(clean_vendor("v-home"))  # the operating tenant's own
    web = web_app(app)
    player = sign_in(web, add_user(app, "pia@home.example", "player"))
    sandbox = player.post("/api/arena/sandbox").json()
    run_until_idle(app)
    seen = {v["vendor_id"] for v in player.get("/api/vendors").json()["items"]}
    assert seen == set(sandbox["vendor_ids"])  # never the operating tenant's vendors
    acme = sandbox["vendor_ids"][0]
    body = {"vendor_id": acme, "number": "SBX-1", "amount": "1200.00", "currency": "USD",
            "issued_on": "2026-11-01", "due_on": "2026-12-31", "po_number": f"PO-{acme}",
            "lines": [{"description": "Toner", "quantity": "12", "unit_price": "100.00"}]}
    submitted = player.post("/api/invoices", json=body, headers={"Idempotency-Key": "s1"})
    assert submitted.status_code == 201, submitted.text
    home = {**body, "vendor_id": "v-home", "number": "SBX-2"}
    assert player.post("/api/invoices", json=home,
                       headers={"Idempotency-Key": "s2"}).status_code == 404
    run_until_idle(app)
    [paid] = player.get("/api/payments").json()
    assert paid["invoice"]["number"] == "SBX-1"
    assert player.get("/api/arena/sandbox/export").json()["accounts"]["company:bank"] == (
        10_000_000 - 120_000)


def test_a_player_opens_their_sandbox_from_the_portal_and_sees_its_vendors(
        app: App) -> None:
    player = sign_in(web_app(app), add_user(app, "pia@home.example", "player"))
    assert "Open my sandbox" in player.get("/vendor").text
    opened = player.post("/arena/sandbox", data={"action": "open"}, follow_redirects=False)
    assert opened.status_code == 303
    assert "generation+1" in opened.headers["location"]
    run_until_idle(app)
    page = player.get("/vendor").text
    assert "Acme Office Supplies Inc" in page
    assert "Globe Logistics LLC" in page
    assert player.post("/arena/sandbox", data={"action": "delete"}).status_code == 422
