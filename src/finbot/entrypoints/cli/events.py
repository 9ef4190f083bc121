"""``finbot events …``: the event spine: status, dead letters, replay and retention."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import typer
from rich.progress import Progress
from rich.table import Table

from finbot.adapters.redis.consumer import DEAD_LETTERS
from finbot.adapters.redis.streams import group_states, stream_key
from finbot.bootstrap import bootstrap
from finbot.domain.errors import InvalidInput
from finbot.domain.events import STREAMS
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.workers import retention_round
from finbot.services.history import replay as replay_history

events_cli = typer.Typer(help="The event spine: status, dead letters, replay, retention.",
                         no_args_is_help=True)
_ENTRY_ID = re.compile(r"^(\d+)-(\d+)$")


def parse_point(value: str, option: str) -> tuple[int | None, int]:
    """A replay bound: (time in µs, or None; outbox id to start after). Accepts an ISO-8601
    time (UTC if no zone), a Redis stream entry id (``1700000000000-0``, its time) or an
    outbox id (an integer)."""
    if value.isdigit():
        return None, int(value) - 1
    entry = _ENTRY_ID.match(value)
    if entry:
        return int(entry.group(1)) * 1000, 0
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} takes an ISO-8601 time, a stream entry id or an "
                           f"outbox id, not {value!r}", code="bad_point", field=option) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000), 0


@events_cli.command("status")
@reports_errors
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The outbox (rows, not yet relayed, dead letters) and, with Redis, each stream's
    length and each consumer group's pending and not-yet-delivered entries."""
    app = bootstrap()
    with app.uow() as uow:
        report: dict[str, Any] = {"outbox": uow.outbox.stats(), "streams": {}}
    if app.redis is not None:
        for stream in [*STREAMS, DEAD_LETTERS]:
            key = stream_key(stream, prefix=app.settings.events_prefix)
            report["streams"][stream] = {
                "length": int(app.redis.xlen(key)),
                "groups": {g.group: {"pending": g.pending, "lag": g.lag}
                           for g in group_states(app.redis, key)}}
    if as_json:
        print(json.dumps(report, indent=2))
        return
    outbox = report["outbox"]
    console.print(f"outbox: {outbox['outbox']} events, {outbox['unrelayed']} not relayed, "
                  f"{outbox['dead_letters']} dead letters (embedded consumers)")
    if app.redis is None:
        console.print("embedded mode (no FINBOT_REDIS_URL): consumers read the outbox")
    for stream, info in report["streams"].items():
        groups = ", ".join(f"{name}: {g['pending']} pending, {g['lag']} undelivered"
                           for name, g in info["groups"].items()) or "no consumer groups"
        console.print(f"stream {stream}: {info['length']} entries; {groups}", highlight=False)


@events_cli.command("dead-letters")
@reports_errors
def dead_letters(consumer: str = typer.Option(None, help="Only this consumer."),
                 as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Events a consumer gave up on, with the reason and the attempts made."""
    app = bootstrap()
    names = [consumer] if consumer else sorted(app.consumers)
    rows: list[dict[str, Any]] = [
            {"consumer": name, "event": letter.reference, "error": letter.error,
             "attempts": letter.attempts}
            for name in names for letter in app.consumer(name).dead_letters()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("consumer", "event", "attempts", "error")
    for row in rows:
        table.add_row(row["consumer"], row["event"], str(row["attempts"]), row["error"])
    console.print(table if rows else "no dead letters")


@events_cli.command("replay")
@reports_errors
def replay(stream: str = typer.Option(..., help="The stream to replay, e.g. business."),
           from_: str = typer.Option(..., "--from", help="Where to start: an ISO-8601 time "
                                     "(UTC unless given), a stream entry id or an outbox id."),
           to: str = typer.Option(None, help="Where to stop (a time or entry id); default: "
                                             "the end."),
           consumer: str = typer.Option(..., help="The consumer whose handler is re-run."),
           dry_run: bool = typer.Option(False, "--dry-run",
                                        help="Only count what would be replayed.")) -> None:
    """Re-drive CONSUMER over STREAM's history (the archive, then the outbox), in order:
    for a new detector, a rebuilt projection or after an incident."""
    app = bootstrap()
    if stream not in STREAMS:
        raise InvalidInput(f"unknown stream {stream!r}; streams: {', '.join(STREAMS)}",
                           code="stream_unknown", field="stream")
    spec = app.consumer_spec(consumer)
    if stream not in spec.streams:
        raise InvalidInput(f"consumer {consumer} does not read {stream}", field="stream")
    from_us, after_id = parse_point(from_, "--from")
    to_us = parse_point(to, "--to")[0] if to else None
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"replaying {stream} into {consumer}", total=None)
        report = replay_history(app.uow, app.archive, spec, stream=stream, from_us=from_us,
                                after_id=after_id, to_us=to_us, dry_run=dry_run,
                                progress=lambda n: bar.advance(task, n))
    verb = "would replay" if dry_run else "replayed"
    console.print(f"{verb} {report.matched} events into {consumer}"
                  + (f" ({report.first} … {report.last})" if report.matched else ""),
                  highlight=False)
    app.close()


@events_cli.command("trim")
@reports_errors
def trim() -> None:
    """Apply retention now (the relay worker, or embedded the executor, does it hourly):
    archive outbox events older than FINBOT_EVENTS_RETENTION_DAYS to files, delete them,
    and trim the Redis streams up to the same moment, never past unacknowledged entries."""
    app = bootstrap()
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("archiving", total=None)
        report = retention_round(app, progress=lambda n: bar.advance(task, n))
    console.print(f"archived {report.archived} events to {len(report.files)} files under "
                  f"{app.settings.archive_dir}; {report.processed_pruned} processed-event "
                  "records pruned", highlight=False)
    app.close()
