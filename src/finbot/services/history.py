"""Event history: retention of the outbox (archived to files before it is deleted) and
replay, which re-drives a consumer's handler over a stretch of history.

The outbox is the history of record in both modes (Redis streams are a delivery channel
with a capped length): a replay reads the archive for what was trimmed and the outbox for
the rest, in outbox order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Protocol

from finbot.domain.clock import now_us
from finbot.domain.events import Event
from finbot.services.events import ConsumerSpec
from finbot.services.ledger import UowFactory

Progress = Callable[[int], None]
"""Told how many more items were done."""


class Archive(Protocol):
    def write(self, stream: str, rows: Sequence[tuple[int, Event]]) -> Path: ...
    def read(self, stream: str, *, after_id: int = 0) -> Iterator[tuple[int, Event]]: ...


@dataclass
class TrimReport:
    archived: int = 0
    files: list[Path] = field(default_factory=list)
    processed_pruned: int = 0


def trim_outbox(uow: UowFactory, archive: Archive, *, before_us: int, relayed_only: bool,
                consumers: list[str], batch: int = 1000,
                progress: Progress | None = None) -> TrimReport:
    """Archive, then delete, outbox rows older than ``before_us`` that nothing needs: with
    Redis, rows already relayed; embedded, rows every consumer has passed. Then drop the
    processed-events records no redelivery can need any more."""
    report = TrimReport()
    while True:
        with uow() as unit:
            below = None if relayed_only else unit.outbox.slowest_offset(consumers)
            rows = unit.outbox.expired(before_us=before_us, relayed_only=relayed_only,
                                       below=below, limit=batch)
        if not rows:
            break
        by_stream = sorted(rows, key=lambda row: (row[1].stream, row[0]))
        for stream, group in groupby(by_stream, key=lambda row: row[1].stream):
            report.files.append(archive.write(stream, list(group)))  # on disk before...
        with uow() as unit:
            unit.outbox.delete([outbox_id for outbox_id, _ in rows])  # ...deleted here
            unit.commit()
        report.archived += len(rows)
        if progress:
            progress(len(rows))
    with uow() as unit:
        report.processed_pruned = unit.outbox.prune_processed(before_us=before_us)
        unit.commit()
    return report


@dataclass
class ReplayReport:
    matched: int = 0
    handled: int = 0
    first: str | None = None
    last: str | None = None


def history(uow: UowFactory, archive: Archive, *, stream: str, after_id: int = 0,
            batch: int = 500) -> Iterator[tuple[int, Event]]:
    """Every event of ``stream`` past outbox id ``after_id``: the archive, then the
    outbox."""
    last = after_id
    for outbox_id, event in archive.read(stream, after_id=after_id):
        last = outbox_id
        yield outbox_id, event
    while True:
        with uow() as unit:
            rows = unit.outbox.history(streams=[stream], after_id=last, from_us=None,
                                       to_us=None, limit=batch)
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1][0]


def replay(uow: UowFactory, archive: Archive, spec: ConsumerSpec, *, stream: str,
           from_us: int | None = None, after_id: int = 0, to_us: int | None = None,
           dry_run: bool = False, progress: Progress | None = None) -> ReplayReport:
    """Re-drive ``spec``'s handler over the events of ``stream`` from a time or an outbox
    id up to ``to_us``: each event is handled again in its own transaction, with its
    processed-events record renewed. Handlers are written to be re-run (the executor's
    recognises a payment it already started)."""
    report = ReplayReport()
    for _, event in history(uow, archive, stream=stream, after_id=after_id):
        if from_us is not None and event.occurred_at_us < from_us:
            continue
        if to_us is not None and event.occurred_at_us > to_us:
            continue  # clocks of different processes: later rows may still be in range
        if spec.types is not None and event.type not in spec.types:
            continue
        report.matched += 1
        report.first = report.first or event.event_id
        report.last = event.event_id
        if not dry_run:
            with uow() as unit:
                unit.outbox.unclaim(spec.name, event.event_id)
                unit.outbox.claim(spec.name, event.event_id, now_us())
                spec.handler(unit, event)
                unit.commit()
            report.handled += 1
        if progress:
            progress(1)
    return report
