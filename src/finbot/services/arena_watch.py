"""The arena's watch: the detectors and the ledger-effect check, live over the event
stream. Each event is scanned as it is delivered; each settled payment is checked against
what it rests on. What is found is stored once (per event and detector) in the consumer's
own transaction, and a warning or worse is announced as ``arena.finding``.

A payment that broke the policy must never happen in governed mode; if one does, it is a
critical ``ledger_effect`` finding carrying the full trail, and an ERROR log line. A payment
an arena sandbox in training mode made past the production gate is what training is for:
a ``training_effect`` warning with the same trail (the attack reached money).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from finbot.arena.detectors import Pipeline, description_sha256
from finbot.arena.effects import violations, waived
from finbot.arena.findings import LEDGER_EFFECT, Finding, findings_of, money_violation
from finbot.arena.tools.catalogue import TOOLS
from finbot.domain.clock import now_us
from finbot.domain.events import SCHEMAS, Event
from finbot.domain.payments import SagaState
from finbot.services.arena_play import ArenaPlay
from finbot.services.events import Handler, Outbox
from finbot.services.payment_grounds import grounds_of
from finbot.services.ports import UnitOfWork

logger = logging.getLogger(__name__)
FINDING = "arena.finding"
WATCHED = frozenset(name for name, _ in SCHEMAS if not name.startswith("arena."))
"""Every event type but the arena's own announcements (findings, progress, solves: a
finding about a finding would feed on itself)."""


def watch(*, outbox: Outbox, pipeline: Pipeline | None = None, play: ArenaPlay | None = None,
          clock: Callable[[], int] = now_us) -> Handler:
    """The arena-watch consumer's handler. ``pipeline``: the detectors (default: the
    shipped ones, with the shipped tool descriptions as the drift baseline); ``play``:
    where the facts of a sandbox's event count towards its player's challenges."""
    detectors = pipeline or Pipeline.standard(tool_baseline={
        name: description_sha256(spec.description) for name, spec in TOOLS.items()})

    def handle(uow: UnitOfWork, event: Event) -> None:
        if event.type.startswith("arena."):
            return
        at = clock()
        found = findings_of(detectors.scan([event]), at_us=at)
        found += _ledger_effect(uow, event, at)
        for finding in found:
            if not uow.findings.add(finding):
                continue  # stored when the event was first delivered
            if finding.detector == LEDGER_EFFECT:
                _alert(finding)
            if finding.alarming:
                _announce(uow, outbox, finding)
        if play is not None:
            play.observe_in(uow, event, found)
    return handle


def _ledger_effect(uow: UnitOfWork, event: Event, at: int) -> list[Finding]:
    """The critical finding of a completed payment that broke the policy, if it did."""
    if event.type != "payment.settled" or event.payload["state"] != SagaState.COMPLETED:
        return []
    saga = uow.sagas.get(str(event.payload["payment_id"]))
    if saga is None or saga.state is not SagaState.COMPLETED:
        return []
    payment, grounds = grounds_of(uow, saga)
    found = []
    if broken := violations(payment, grounds):
        found.append(money_violation(event, payment, broken, at_us=at))
    if past := waived(grounds):
        found.append(money_violation(event, payment, past, at_us=at, training=True))
    return found


def _alert(finding: Finding) -> None:
    """The critical alert: ids, amount and the violations (account codes, no PII)."""
    logger.error("a settled payment broke the payment policy", extra={
        "finding_id": finding.finding_id, "tenant": finding.tenant, **finding.trail})


def _announce(uow: UnitOfWork, outbox: Outbox, finding: Finding) -> None:
    outbox.emit_in(uow, FINDING, finding.finding_id, {
        "finding_id": finding.finding_id, "detector": finding.detector,
        "severity": finding.severity, "aggregate_id": finding.aggregate_id,
        "detail": finding.detail}, tenant=finding.tenant)
