"""Agents get read-only ports, by construction: they cannot import a writer, and the
database refuses writes on the connections their views run on, even if agent code reached
past the view into its engine."""

from __future__ import annotations

import dataclasses
import inspect

import grimp
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from finbot.agents.ports import (
    AgentTools,
    InvoiceView,
    LedgerView,
    PolicyView,
    SanctionsView,
    VendorView,
)
from finbot.bootstrap import App
from finbot.domain.ledger import TransferRequest

WRITERS = ("finbot.services", "finbot.execution", "finbot.adapters", "finbot.bootstrap",
           "finbot.entrypoints", "sqlalchemy", "psycopg", "sqlite3", "redis")


def test_agent_code_cannot_import_anything_that_writes() -> None:
    graph = grimp.build_graph("finbot", include_external_packages=True)
    assert graph.chain_exists(importer="finbot.bootstrap", imported="finbot.services",
                              as_packages=True)  # the check can see a chain that exists
    present = [w for w in WRITERS if w in graph.modules]
    assert {"finbot.services", "finbot.adapters", "sqlalchemy"} <= set(present)
    for writer in present:  # a driver nothing in FinBot imports cannot be reached either
        assert not graph.chain_exists(importer="finbot.agents", imported=writer,
                                      as_packages=True), writer


def test_the_tools_an_agent_gets_are_exactly_the_read_views() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(AgentTools)}
    assert fields == {"ledger": "LedgerView", "policy": "PolicyView",
                      "vendors": "VendorView", "invoices": "InvoiceView",
                      "sanctions": "SanctionsView"}
    for view, reads in ((LedgerView, {"balances", "recent_transfers"}),
                        (PolicyView, {"current"}),
                        (VendorView, {"vendor", "vendors", "purchase_order", "notes", "bursts",
                                      "messages"}),
                        (InvoiceView, {"invoice", "of_vendor", "history"}),
                        (SanctionsView, {"parties"})):
        public = {name for name, _ in inspect.getmembers(view, inspect.isfunction)
                  if not name.startswith("_")}
        assert public == reads


def test_the_views_show_the_ledger_and_policy(app: App) -> None:
    app.policies.publish({"hard": {"max_single_payment": "10", "max_daily_volume": "10",
                                   "max_30d_volume": "10"}})
    app.ledger.open_account("company:bank", name="Bank", type="asset", currency="USD")
    app.ledger.open_account("vendor:1", name="V", type="liability", currency="USD")
    app.ledger.transfer(TransferRequest("t-1", "company:bank", "vendor:1", "12.50", "USD"))
    tools = app.agent_tools
    balances = tools.ledger.balances("vendor:1")
    assert balances is not None
    assert balances.credits_posted == 1250
    assert [t.id for t in tools.ledger.recent_transfers("vendor:1")] == ["t-1"]
    assert tools.ledger.balances("nope") is None
    assert tools.policy.current().version == "v1"


@pytest.mark.parametrize("statement", [
    "INSERT INTO ledger_accounts (code, name, type, currency, flags, created_at) "
    "VALUES ('x', 'x', 'asset', 'USD', 0, 1)",
    "INSERT INTO policies (version, seq, body, digest, created_at) VALUES ('v9', 9, '{}', 'd', 1)",
    "DELETE FROM review_queue",
])
def test_the_database_refuses_writes_through_the_agents_engine(app: App, statement: str) -> None:
    engine = app.agent_engine
    with engine.connect() as conn, pytest.raises(DBAPIError, match=r"(?i)read.only|readonly"):
        conn.execute(text(statement))
    with app.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_accounts")).scalar() == 0


def test_the_agents_engine_reads_each_statement_on_its_own_snapshot(app: App) -> None:
    """No transaction is held around an agent's read: a second read on the same
    connection sees what was committed after the first, and a writer is never waiting
    on it (each read would otherwise cost a BEGIN and a ROLLBACK)."""
    count = text("SELECT count(*) FROM ledger_accounts")
    with app.agent_engine.connect() as conn:
        assert conn.execute(count).scalar() == 0
        app.ledger.open_account("company:bank", name="Bank", type="asset", currency="USD")
        assert conn.execute(count).scalar() == 1
