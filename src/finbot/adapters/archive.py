"""The event archive: outbox rows past retention, kept as gzip-compressed JSON lines.

One file per trimmed batch and stream, named by the batch's first and last outbox ids
(``<stream>/<first>-<last>.jsonl.gz``), written to a temporary name, flushed to disk and
renamed, so a file exists complete or not at all; writing the same batch again replaces it
with the same content. Files are read back in outbox order for replays.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from finbot.domain.events import Event


def _line(outbox_id: int, event: Event) -> str:
    return json.dumps({"outbox_id": outbox_id, "event_id": event.event_id,
                       "type": event.type, "version": event.version, "stream": event.stream,
                       "aggregate_id": event.aggregate_id,
                       "aggregate_seq": event.aggregate_seq, "tenant": event.tenant,
                       "occurred_at": event.occurred_at_us, "trace_id": event.trace_id,
                       "payload": dict(event.payload)}, sort_keys=True)


def _event(record: dict[str, object]) -> tuple[int, Event]:
    payload = record["payload"]
    if not isinstance(payload, dict):
        raise ValueError("archived payload is not an object")
    return int(str(record["outbox_id"])), Event(
        str(record["event_id"]), str(record["type"]), int(str(record["version"])),
        str(record["stream"]), str(record["aggregate_id"]),
        int(str(record["aggregate_seq"])), str(record["tenant"]),
        int(str(record["occurred_at"])), str(record["trace_id"]), payload)


class FileArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, stream: str, rows: Sequence[tuple[int, Event]]) -> Path:
        """Archive one batch of one stream; returns the file."""
        folder = self.root / stream
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{rows[0][0]:015d}-{rows[-1][0]:015d}.jsonl.gz"
        partial = path.with_suffix(".partial")
        with open(partial, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb") as packed:
                for outbox_id, event in rows:
                    packed.write((_line(outbox_id, event) + "\n").encode())
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(path)
        return path

    def read(self, stream: str, *, after_id: int = 0) -> Iterator[tuple[int, Event]]:
        """Archived events of ``stream`` past outbox id ``after_id``, in outbox order."""
        folder = self.root / stream
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.jsonl.gz")):
            last = int(path.name.split(".")[0].split("-")[1])
            if last <= after_id:
                continue
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for line in lines:
                    outbox_id, event = _event(json.loads(line))
                    if outbox_id > after_id:
                        yield outbox_id, event
