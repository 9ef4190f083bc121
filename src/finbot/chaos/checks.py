"""What must hold after a chaos run, each check naming what broke it.

- every approved invoice paid exactly once (one completed saga, one payment the rail
  accepted), and no invoice paid twice or paid without approval;
- every settled payment passes the ledger-effect check (approved decision or human
  approval, the invoice's amount, the vendor's payee account, an active vendor);
- the ledger verifies (balances from postings, zero-sum, append-only history);
- no pending transfer is older than its timeout;
- every event delivered: nothing waits in the outbox, no consumer group has undelivered or
  unacknowledged entries, nothing went to a dead letter;
- the audit chain verifies.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from finbot.adapters.rails.simulated import SimulatedRail
from finbot.adapters.redis.consumer import DEAD_LETTERS
from finbot.adapters.redis.streams import as_text, stream_key
from finbot.arena.effects import violations
from finbot.bootstrap import App
from finbot.domain.clock import now_us
from finbot.domain.invoices import Invoice, InvoiceStatus
from finbot.domain.payments import Saga, SagaState
from finbot.domain.workflows import workflow_id
from finbot.entrypoints.workers import settled, stream_backlog
from finbot.services.payment_grounds import grounds_of

APPROVED = {InvoiceStatus.APPROVED, InvoiceStatus.SCHEDULED, InvoiceStatus.PAID}
UNFINISHED = {InvoiceStatus.SUBMITTED, InvoiceStatus.VALIDATED}
LIMIT = 20  # problems listed per check


def run_checks(app: App, invoice_ids: Iterable[str], *,
               pending_grace_us: int) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Problems per check (empty lists when it holds) and what was counted."""
    problems: dict[str, list[str]] = {}
    counts = {"invoices": 0, "approved": 0, "paid": 0, "sagas": 0}
    payments = problems.setdefault("paid_exactly_once", [])
    effects = problems.setdefault("payments_rest_on_approval", [])
    found: list[tuple[str, Invoice | None, list[Saga]]] = []
    with app.uow() as uow:
        for invoice_id in invoice_ids:
            invoice = uow.invoices.get(invoice_id)
            sagas = uow.sagas.of_workflow(workflow_id("invoice", invoice_id)) if invoice else []
            found.append((invoice_id, invoice, sagas))
            for saga in sagas:
                if saga.state is SagaState.COMPLETED:
                    payment, grounds = grounds_of(uow, saga)
                    effects.extend(f"{saga.id}: {v}" for v in violations(payment, grounds))
        stale = uow.ledger.expired_pending_ids(now_us() - pending_grace_us, limit=LIMIT)
        outbox = uow.outbox.stats()
    for invoice_id, invoice, sagas in found:  # the rail answers on its own connections
        if invoice is None:
            payments.append(f"{invoice_id}: submitted but not stored")
            continue
        counts["invoices"] += 1
        counts["sagas"] += len(sagas)
        completed = [s for s in sagas if s.state is SagaState.COMPLETED]
        rail_paid = sum(_rail_payments(app, s.rail_key) for s in sagas)
        counts["paid"] += rail_paid > 0
        if invoice.status in UNFINISHED:
            payments.append(f"{invoice_id}: still {invoice.status.value}")
        elif invoice.status in APPROVED:
            counts["approved"] += 1
            if len(completed) != 1 or rail_paid != 1:
                payments.append(f"{invoice_id}: approved; {len(completed)} completed "
                                f"payment(s), {rail_paid} made by the rail")
        elif completed or rail_paid:
            payments.append(f"{invoice_id}: {invoice.status.value} but paid "
                            f"{max(len(completed), rail_paid)} time(s)")
    problems["ledger_verifies"] = [str(p) for p in islice(app.queries.verify(), LIMIT)]
    problems["no_stale_pending"] = [f"{pid}: pending past its timeout" for pid in stale]
    problems["events_delivered"] = _undelivered(app, outbox)
    problems["audit_verifies"] = [str(p) for p in app.audit.verify(limit=LIMIT)]
    return {name: found[:LIMIT] for name, found in problems.items()}, counts


def _rail_payments(app: App, key: str) -> int:
    if isinstance(app.rail, SimulatedRail):
        return app.rail.payments_for(key)
    raise TypeError("a chaos run judges payments on the simulated rail")


def _undelivered(app: App, outbox: dict[str, int]) -> list[str]:
    found = []
    if outbox["dead_letters"]:
        found.append(f"{outbox['dead_letters']} dead letters in the outbox table")
    if app.redis is None:  # embedded: the consumers read the table itself
        if not settled(app):
            found.append("events the embedded consumers have not taken yet")
        return found
    if outbox["unrelayed"]:
        found.append(f"{outbox['unrelayed']} outbox events never relayed")
    found += [f"{name}: {n} events not yet handled" for name, n in stream_backlog(app).items()
              if n]
    dead = stream_key(DEAD_LETTERS, prefix=app.settings.events_prefix)
    entries: Any = app.redis.xrange(dead, count=LIMIT)
    for _, fields in entries:
        row = {as_text(k): as_text(v) for k, v in fields.items()}
        found.append(f"dead letter for {row.get('consumer')}: {row.get('error')}")
    return found
