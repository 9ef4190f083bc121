"""Vendors' bank and tax details at rest, on SQLite and PostgreSQL: the database holds only
ciphertext and blind indexes, lookups still find shared bank details, a KEK rotation
re-wraps while readers read, an erasure shreds a vendor everywhere while the decision log
and the ledger verify, and retention purges exactly what its policy says."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import pytest
from alembic import command
from pydantic import SecretStr
from sqlalchemy import text

from finbot.adapters.db.engine import alembic_config, make_engine, migrate
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.clock import DAY_US, now_us
from finbot.domain.errors import Conflict
from finbot.domain.vendors import ERASED, Author, Message, Note, VendorStatus
from finbot.privacy.keys import KeyRing
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import clean_vendor, open_company, run_until_idle, small_scorer

IBAN = "DE89370400440532013000"
TAX_ID = "04-2103594"
KEK1, KEK2 = (base64.b64encode(bytes([n]) * 32).decode() for n in (1, 2))


def _app(settings: Settings, **changes: object) -> App:
    """The app on the test's database with other settings (KEKs, retention)."""
    changed = Settings.model_validate({**settings.model_dump(), **{
        k: v.get_secret_value() if isinstance(v, SecretStr) else v
        for k, v in settings.model_dump().items() if isinstance(v, SecretStr)}, **changes})
    return bootstrap(changed, run_migrations=False, fraud_scorer=small_scorer)


@pytest.fixture
def company(settings: Settings) -> Iterator[App]:
    app = _app(settings)
    open_company(app)
    yield app
    app.close()


def _raw_vendors(app: App) -> str:
    with app.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM vendors")).all()
    return json.dumps([list(row) for row in rows], default=str)


def test_the_vendors_table_holds_no_plaintext_bank_or_tax_details(company: App) -> None:
    company.vendor_work.register_vendor(clean_vendor("v-de", country="DE", iban=IBAN,
                                                     bic="COBADEFFXXX"))
    company.vendor_work.register_vendor(clean_vendor("v-us"))
    company.vendor_work.change_bank_details("v-us", routing_number="021000021",
                                            account_number="987654321")
    raw = _raw_vendors(company)
    for secret in (IBAN, TAX_ID, "042103594", "COBADEFFXXX", "987654321", "021000021"):
        assert secret not in raw
    with company.uow() as uow:
        german, american = uow.vendors.get("v-de"), uow.vendors.get("v-us")
    assert german is not None
    assert american is not None
    assert (german.iban, german.tax_id, german.bic) == (IBAN, TAX_ID, "COBADEFFXXX")
    assert (american.routing_number, american.account_number) == ("021000021", "987654321")


def test_vendors_sharing_bank_details_are_found_through_the_blind_index(company: App) -> None:
    german = {"country": "DE", "routing_number": "", "account_number": ""}
    company.vendor_work.register_vendor(clean_vendor("v-1", iban=IBAN, tax_id="DE136695976",
                                                     **german))
    company.vendor_work.register_vendor(clean_vendor("v-2", iban="de89 3704 0044 0532 0130 00",
                                                     tax_id="DE999999999", **german))
    company.vendor_work.register_vendor(clean_vendor("v-3", iban="DE44500105175407324931",
                                                     tax_id="DE888888888", **german))
    company.vendor_work.register_vendor(clean_vendor("v-other", tenant="globex", iban=IBAN,
                                                     **german))
    with company.uow() as uow:
        first = uow.vendors.get("v-1")
        assert first is not None
        assert uow.vendors.sharing_bank_details(first) == ["v-2"]  # not v-3, not globex's
    company.vendor_work.change_bank_details("v-3", iban=IBAN, bic="COBADEFFXXX")
    with company.uow() as uow:
        assert uow.vendors.sharing_bank_details(first) == ["v-2", "v-3"]


def test_rotation_rewraps_every_key_while_a_reader_keeps_reading(settings: Settings) -> None:
    old = _app(settings, kek=f"1:{KEK1}")
    for n in range(30):
        old.vendor_work.register_vendor(clean_vendor(f"v-{n:02}", country="DE", iban=IBAN))
    rotating = _app(settings, kek=f"2:{KEK2}", kek_previous=f"1:{KEK1}")
    seen: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                with rotating.uow() as uow:
                    seen.extend(v.iban for v in uow.vendors.all())
            except BaseException as error:  # any failure fails the test below
                failures.append(error)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        report = rotating.privacy.rotate(data_keys=True, batch=7)
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert seen
    assert set(seen) == {IBAN}
    assert (report.rewrapped, report.remaining, report.kek_version) == (30, 0, 2)
    assert rotating.privacy.key_status().per_kek() == {"kek-2": 30}
    assert rotating.privacy.rotate().rewrapped == 0  # resumable: nothing left to do
    new_only = _app(settings, kek=f"2:{KEK2}")  # the old KEK can go now
    with new_only.uow() as uow:
        vendor = uow.vendors.get("v-00")
        assert vendor is not None
        assert vendor.iban == IBAN
        assert uow.vendors.sharing_bank_details(vendor)[:2] == ["v-01", "v-02"]
    for app in (old, rotating, new_only):
        app.close()


def test_an_erased_vendor_reads_as_erased_everywhere_while_the_logs_verify(
        company: App) -> None:
    company.vendor_work.register_vendor(clean_vendor("v-gone", country="DE", iban=IBAN,
                                                     bic="COBADEFFXXX"))
    company.vendor_work.add_note("v-gone", "Please pay on time", author=Author.VENDOR,
                                 author_id="u-1")
    run_until_idle(company)  # onboarded: decisions in the log, masked details only
    web = web_app(company)
    admin = sign_in(web, add_user(company, "admin@home.example", "admin"))
    reviewer = sign_in(web, add_user(company, "rita@home.example", "reviewer"))
    assert reviewer.post("/admin/vendors/v-gone/erase").status_code == 403
    answer = admin.post("/admin/vendors/v-gone/erase", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    page = admin.get("/admin/vendors/v-gone")
    assert page.status_code == 200
    assert ERASED in page.text
    assert "•3000" not in page.text
    assert admin.get("/api/vendors/v-gone").json()["bank_account"] == ERASED
    with company.uow() as uow:
        vendor = uow.vendors.get("v-gone")
        assert vendor is not None
        assert vendor.erased
        assert vendor.iban == ERASED
        assert vendor.status is VendorStatus.SUSPENDED
        erasure = uow.audit.by_id("erasure:v-gone")
    assert erasure is not None
    assert erasure.kind == "erasure"
    with pytest.raises(Conflict):
        company.vendor_work.change_bank_details("v-gone", iban=IBAN)
    with pytest.raises(Conflict):
        company.privacy.erase_vendor("v-gone", by="again")
    with company.engine.connect() as conn:
        wrapped = conn.execute(text("SELECT wrapped_key FROM vendor_keys "
                                    "WHERE vendor_id = 'v-gone'")).scalar_one()
        logged = " ".join(conn.execute(text("SELECT body FROM audit_log")).scalars())
        events = " ".join(conn.execute(text("SELECT payload FROM outbox")).scalars())
    assert wrapped is None
    with company.uow() as uow:  # free text about the vendor goes with its key
        assert uow.vendors.notes("v-gone") == []
        assert uow.vendors.messages("v-gone") == []
    for secret in (IBAN, "COBADEFFXXX", TAX_ID):  # the logs never held the details
        assert secret not in logged
        assert secret not in events
    assert company.audit.verify() == []
    assert list(company.queries.verify()) == []
    company.vendor_work.register_vendor(clean_vendor("v-next"))
    run_until_idle(company)  # agents and workflows go on around the erased vendor


def test_retention_purges_exactly_what_the_policy_says(settings: Settings) -> None:
    app = _app(settings, retention_days={"conversations": 30, "agent_notes": None,
                                         "idempotency_keys": 0, "arena_tool_logs": 7})
    now = now_us()
    app.vendor_work.register_vendor(clean_vendor())
    with app.uow() as uow:
        for age_days in (1, 29, 31, 400):
            at = now - age_days * DAY_US
            uow.vendors.add_message(Message("v-acme", "c-1", "vendor", "u-1",
                                            f"asked {age_days} days ago", at))
            uow.vendors.add_note(Note("v-acme", Author.AGENT, "a-1", f"note {age_days}", at))
        uow.commit()
    with app.engine.begin() as conn:
        for name, expires in (("old", now - DAY_US), ("live", now + DAY_US)):
            conn.execute(text("INSERT INTO idempotency_keys (scope, key, request_hash, state, "
                              "created_at, expires_at) VALUES ('api', :k, 'h', 'completed', "
                              ":c, :e)"), {"k": name, "c": now - 2 * DAY_US, "e": expires})
    dry = app.privacy.retain(dry_run=True, at_us=now)
    purged = {c.name: c.purged for c in dry.classes}
    assert purged["conversations"] == 2
    assert purged["idempotency_keys"] == 1
    assert purged["agent_notes"] == 0  # kept for good
    report = app.privacy.retain(at_us=now)
    assert {c.name: c.purged for c in report.classes} == purged
    with app.uow() as uow:
        assert {m.text for m in uow.vendors.messages("v-acme")} == {
            "asked 29 days ago", "asked 1 days ago"}
        assert len(uow.vendors.notes("v-acme")) == 4
    conversations = next(c for c in report.classes if c.name == "conversations")
    assert conversations.oldest_kept_us == now - 29 * DAY_US
    with app.engine.connect() as conn:
        assert conn.execute(text("SELECT key FROM idempotency_keys")).scalars().all() == [
            "live"]
    assert app.privacy.retain(at_us=now).purged == 0
    app.close()


def test_the_migration_seals_vendors_registered_before_it(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as conn:  # back to the schema before 0019, with a plaintext row
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0018")
        conn.execute(text(
            "INSERT INTO vendors (vendor_id, tenant, legal_name, country, tax_id, iban, bic, "
            "routing_number, account_number, industry, website, profile, documents, "
            "timezone, status, created_at) VALUES ('v-old', 'default', 'Old GmbH', 'DE', "
            f"'DE136695976', '{IBAN}', 'COBADEFFXXX', '', '', 'paper', '', '', '[]', 'UTC', "
            "'active', 1)"))
    keys = KeyRing({1: bytes([1]) * 32})
    migrate(engine, keys=keys)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT iban, tax_id FROM vendors")).one()
    assert IBAN not in row[0]
    assert "DE136695976" not in row[1]
    from finbot.adapters.db.uow import SqlUnitOfWork

    with SqlUnitOfWork(engine, keys=keys) as uow:
        vendor = uow.vendors.get("v-old")
    assert vendor is not None
    assert (vendor.iban, vendor.tax_id) == (IBAN, "DE136695976")
    engine.dispose()
