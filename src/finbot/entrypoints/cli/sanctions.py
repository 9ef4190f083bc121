"""``finbot sanctions …``: import OFAC's published list for screening, and see which list
is in use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from finbot.agents.sanctions import sample_parties
from finbot.bootstrap import bootstrap
from finbot.domain.clock import utc_datetime
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.services.sanctions import import_sanctions, sanctions_summary

sanctions_cli = typer.Typer(help="The sanctions list vendors are screened against.",
                            no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON instead of a sentence.")


@sanctions_cli.command("import")
@reports_errors
def import_command(
        sdn_csv: Path = typer.Argument(..., metavar="SDN_CSV", show_default=False,
                                       help="OFAC's SDN.CSV (UTF-8)."),
        aliases: Path | None = typer.Option(None, "--aliases", metavar="ALT_CSV",
                                            help="OFAC's ALT.CSV (UTF-8): other names of "
                                                 "the listed entries."),
        as_json: bool = _JSON) -> None:
    """Replace the stored list with SDN_CSV's entries in one transaction; a malformed file
    changes nothing. Screening uses the new list from its next check."""
    sdn_text = _read(sdn_csv, "SDN_CSV")
    aliases_text = _read(aliases, "--aliases") if aliases is not None else None
    app = bootstrap()
    try:
        count = import_sanctions(app.uow, sdn_text, aliases_text=aliases_text)
    finally:
        app.close()
    if as_json:
        print(json.dumps({"imported": count}))
        return
    console.print(f"imported {count} sanctions entries", highlight=False)


@sanctions_cli.command("status")
@reports_errors
def status_command(as_json: bool = _JSON) -> None:
    """How many entries the stored list holds and when it was imported, or that screening
    uses the sample shipped with FinBot because nothing has been imported."""
    app = bootstrap()
    try:
        count, imported_at_us = sanctions_summary(app.uow)
    finally:
        app.close()
    report = _report(count, imported_at_us)
    if as_json:
        print(json.dumps(report))
    elif imported_at_us is None:
        console.print(f"no list imported: screening uses the shipped sample "
                      f"({report['entries']} made-up entries)", highlight=False)
    else:
        console.print(f"{count} entries, imported {report['imported_at']}", highlight=False)


def _read(path: Path, what: str) -> str:
    # utf-8-sig: a byte-order mark would otherwise glue itself to the first entry's number.
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as error:
        reason = error.strerror or str(error)
    except UnicodeDecodeError as error:
        reason = f"not UTF-8 (byte {error.start}: {error.reason})"
    raise InvalidInput(f"cannot read {what} {str(path)!r}: {reason}", code="unreadable_file",
                       field=what)


def _report(count: int, imported_at_us: int | None) -> dict[str, Any]:
    if imported_at_us is None:
        return {"source": "sample", "entries": len(sample_parties()), "imported_at": None}
    moment = utc_datetime(imported_at_us)
    return {"source": "imported", "entries": count,
            "imported_at": moment.isoformat(timespec="seconds")}
