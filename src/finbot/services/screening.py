"""Untrusted content screened where it enters: an invoice's text and line descriptions, a
vendor's profile, a note to accounts payable, a chat question. The injection heuristic
(``arena.detectors.injection.assess``) scores the text in the same transaction that stores
it; a text with any weight of evidence is announced as ``content.screened`` (surface,
subject, vendor, score, cues; never the text), which the arena's watch raises as a finding
from the detection threshold on. Agents only ever read the content later, so the screen
sees every text before any model does, in full rather than as a truncated excerpt.
"""

from __future__ import annotations

from collections.abc import Iterable

from finbot.arena.detectors.injection import assess
from finbot.services.events import Outbox
from finbot.services.ports import UnitOfWork

ANNOUNCE_FROM = 0.2
"""The score from which a screened text is announced (the detector decides what alarms)."""


def screen_in(uow: UnitOfWork, outbox: Outbox, *, surface: str, subject_id: str,
              vendor_id: str, tenant: str, texts: Iterable[str]) -> float:
    """Score the texts of one submission together; announce them if suspicious. The score."""
    text = "\n".join(t for t in texts if t)
    if not text.strip():
        return 0.0
    found = assess(text)
    if found.score >= ANNOUNCE_FROM:
        outbox.emit_in(uow, "content.screened", subject_id, {
            "surface": surface, "subject_id": subject_id, "vendor_id": vendor_id,
            "score": f"{found.score:.3f}", "cues": ", ".join(found.cues)}, tenant=tenant)
    return found.score
