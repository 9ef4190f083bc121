"""Importing a sanctions list: parse OFAC's published files, then replace the stored list in
one transaction, so screening sees the old list or the new one, never a mix or nothing."""

from __future__ import annotations

from collections.abc import Callable

from finbot.agents.sanctions import parse_sdn
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput
from finbot.services.ledger import UowFactory


def import_sanctions(uow: UowFactory, sdn_text: str, *,
                     aliases_text: str | None = None,
                     clock: Callable[[], int] = now_us) -> int:
    """Replace the stored list with the parties of an SDN.CSV text (and the aliases of an
    ALT.CSV text); the number imported. A malformed or empty file changes nothing."""
    parties = parse_sdn(sdn_text, aliases=aliases_text)
    if not parties:
        raise InvalidInput("the SDN file lists no entries; the stored list is kept",
                           field="sdn")
    with uow() as u:
        count = u.sanctions.replace_all(parties, imported_at_us=clock())
        u.commit()
    return count


def sanctions_summary(uow: UowFactory) -> tuple[int, int | None]:
    """How many entries are stored, and when they were imported (None: never, so screening
    uses the shipped sample)."""
    with uow() as u:
        return u.sanctions.summary()
