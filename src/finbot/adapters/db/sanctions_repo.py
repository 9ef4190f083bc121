"""The imported sanctions list in SQL: replaced whole by each import, read by
``SqlSanctionsView``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from finbot.adapters.db.tables import sanctions_entries
from finbot.agents.sanctions import SanctionedParty
from finbot.domain.errors import InvalidInput

BATCH = 1_000
"""Rows per executemany: OFAC's list (some 15,000 entries) goes in a few round trips."""
_NAME_LENGTH = 512
"""The width of ``sanctions_entries.name``."""


class SqlSanctionsRepo:
    """The stored sanctions list, on the caller's connection; never commits."""

    def __init__(self, connection: Connection) -> None:
        self.conn = connection

    def replace_all(self, parties: Sequence[SanctionedParty], *, imported_at_us: int) -> int:
        """Delete every stored entry and insert ``parties``; the number inserted.

        A stamp no later than the stored one is moved just past it: readers cache the list
        until the newest stamp changes, so every import must change it."""
        _check_names(parties)
        previous = self.summary()[1]
        if previous is not None and imported_at_us <= previous:
            imported_at_us = previous + 1
        self.conn.execute(delete(sanctions_entries))
        rows = (_row(party, imported_at_us) for party in parties)
        while batch := list(islice(rows, BATCH)):
            self.conn.execute(insert(sanctions_entries), batch)
        return len(parties)

    def summary(self) -> tuple[int, int | None]:
        """How many entries are stored, and when they were imported (None: never)."""
        count, latest = self.conn.execute(select(
            func.count(), func.max(sanctions_entries.c.imported_at))).one()
        return int(count), None if latest is None else int(latest)


def _row(party: SanctionedParty, imported_at_us: int) -> dict[str, Any]:
    # Encoded as SqlSanctionsView decodes them: JSON lists of strings.
    return {"entry_id": party.entry_id, "name": party.name, "kind": party.kind,
            "programs": json.dumps(list(party.programs), ensure_ascii=False),
            "aliases": json.dumps(list(party.aliases), ensure_ascii=False),
            "imported_at": imported_at_us}


def _check_names(parties: Sequence[SanctionedParty]) -> None:
    # PostgreSQL would refuse the row mid-import and SQLite would keep it: refuse up front.
    for party in parties:
        if len(party.name) > _NAME_LENGTH:
            raise InvalidInput(f"entry {party.entry_id}: a name is at most {_NAME_LENGTH} "
                               "characters", field="sdn")
