"""The agents' read-only views, on an engine whose connections the database keeps from
writing (see ``make_engine(read_only=True)``)."""

from __future__ import annotations

import json

from sqlalchemy import Engine

from finbot.adapters.db.ledger_queries import LedgerQueries
from finbot.adapters.db.policy_repo import SqlPolicyRepo
from finbot.domain.errors import NotFound
from finbot.domain.ledger import Balances, Transfer
from finbot.domain.policy import Policy, policy_from_mapping


class SqlLedgerView:
    def __init__(self, read_only_engine: Engine) -> None:
        self._queries = LedgerQueries(read_only_engine)

    def balances(self, account_code: str) -> Balances | None:
        try:
            return self._queries.account(account_code).balances
        except NotFound:
            return None

    def recent_transfers(self, account_code: str, *, limit: int = 20) -> list[Transfer]:
        try:
            account = self._queries.account(account_code)
        except NotFound:
            return []
        return self._queries.history(account, limit=min(limit, 200), newest_first=True)


class SqlPolicyView:
    def __init__(self, read_only_engine: Engine) -> None:
        self._engine = read_only_engine

    def current(self) -> Policy:
        with self._engine.connect() as conn:
            latest = SqlPolicyRepo(conn).latest()
        if latest is None:
            raise NotFound("no policy has been published", field="policy")
        return policy_from_mapping(latest[0], json.loads(latest[2]))
