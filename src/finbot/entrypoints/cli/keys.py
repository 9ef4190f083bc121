"""``finbot keys …``: the key-encryption keys that wrap every vendor's data key: their
status, a fresh KEK entry to configure, and the rotation that re-wraps onto the newest."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.entrypoints.cli.common import console, errors, reports_errors
from finbot.privacy.keys import new_kek_text

keys_cli = typer.Typer(help="Encryption keys of vendors' bank and tax details.",
                       no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print a JSON summary instead of text.")


@keys_cli.command("status")
@reports_errors
def status(as_json: bool = JSON) -> None:
    """How many vendor data keys each KEK version wraps (and how many were destroyed),
    the current KEK version and the versions this process holds."""
    app = bootstrap()
    found = app.privacy.key_status()
    app.close()
    if as_json:
        print(json.dumps({"current": found.current, "known": found.known,
                          "per_kek": found.per_kek(),
                          "keys": [asdict(count) for count in found.counts]}, indent=2))
        return
    table = Table("KEK version", "data-key version", "state", "vendors",
                  title=f"current KEK version {found.current}; held: {found.known}")
    for count in found.counts:
        table.add_row(str(count.kek_version), str(count.key_version),
                      "destroyed (erased)" if count.destroyed else "live", str(count.vendors))
    console.print(table)


@keys_cli.command("rotate")
@reports_errors
def rotate(data_keys: bool = typer.Option(
               False, "--data-keys", help="Also give each vendor a fresh data key and "
               "re-encrypt its fields under it."),
           batch: int = typer.Option(100, min=1, max=10_000,
                                     help="Vendors per transaction."),
           as_json: bool = JSON) -> None:
    """Re-wrap every vendor data key still under an older KEK with the current one
    (FINBOT_KEK's highest version), without downtime: give every process the new KEK with
    the old one in FINBOT_KEK_PREVIOUS first, so reads accept both while this runs. Safe to
    interrupt and run again: it carries on with the keys still to do."""
    app = bootstrap()
    total = app.privacy.key_status().stale
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=errors,
                  disable=as_json) as bar:
        task = bar.add_task(f"re-wrapping onto KEK {app.keys.current}", total=total)
        report = app.privacy.rotate(data_keys=data_keys, batch=batch,
                                    progress=lambda n: bar.advance(task, n))
    app.close()
    if as_json:
        print(json.dumps(asdict(report), indent=2))
    else:
        fresh = " with fresh data keys" if report.fresh_data_keys else ""
        console.print(f"re-wrapped {report.rewrapped} vendor keys onto KEK version "
                      f"{report.kek_version}{fresh}; {report.remaining} left under older "
                      "KEKs", highlight=False)
    if report.remaining:
        raise typer.Exit(1)


@keys_cli.command("new")
def new(version: int = typer.Argument(..., min=1, help="The new KEK's version.")) -> None:
    """Print a fresh random KEK entry (VERSION:BASE64) for FINBOT_KEK or its file."""
    print(new_kek_text(version))
