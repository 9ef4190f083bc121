"""``finbot vendors erase`` and ``finbot retention run``: a vendor's right to erasure
(crypto-shredding its data key) and the retention of the data classes that expire."""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict

import typer
from rich.progress import Progress
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.clock import utc_datetime
from finbot.entrypoints.cli.common import console, errors, reports_errors

vendors_cli = typer.Typer(help="Vendors: erasure of their personal data.",
                          no_args_is_help=True)
retention_cli = typer.Typer(help="Retention of the data classes that expire.",
                            no_args_is_help=True)


@vendors_cli.command("erase")
@reports_errors
def erase(vendor_id: str,
          by: str = typer.Option(None, help="Who asks (recorded in the audit log); default: "
                                 "cli:<your login>."),
          yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")
          ) -> None:
    """Erase VENDOR_ID by destroying its data key: its tax id and bank details read as
    erased everywhere from now on, for good, and the vendor is suspended. The decision log
    and the ledger keep verifying; the erasure itself is audit-logged."""
    if not yes:
        typer.confirm(f"Erase vendor {vendor_id}'s bank and tax details for good?",
                      abort=True, err=True)
    app = bootstrap()
    done = app.privacy.erase_vendor(vendor_id, by=by or f"cli:{getpass.getuser()}")
    app.close()
    when = utc_datetime(done.at_us).strftime("%Y-%m-%d %H:%M:%S")
    console.print(f"erased vendor {done.vendor_id} at {when} UTC (audit record "
                  f"{done.record_seq})", highlight=False)


@retention_cli.command("run")
@reports_errors
def run(dry_run: bool = typer.Option(False, "--dry-run",
                                     help="Only count what would be purged."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
        ) -> None:
    """Purge every data class's rows older than its retention (FINBOT_RETENTION_DAYS, a
    JSON object of days per class); the worker does this hourly. The ledger and the
    decision log are append-only and never purged."""
    app = bootstrap()
    with Progress(console=errors, transient=True, disable=as_json) as bar:
        task = bar.add_task("purging", total=None)
        report = app.privacy.retain(dry_run=dry_run, progress=lambda n: bar.advance(task, n))
    app.close()
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        return
    verb = "would purge" if dry_run else "purged"
    table = Table("data class", "kept (days)", verb, "oldest kept")
    for found in report.classes:
        table.add_row(found.name, "for good" if found.days is None else f"{found.days:g}",
                      str(found.purged), "—" if found.oldest_kept_us is None else
                      f"{utc_datetime(found.oldest_kept_us):%Y-%m-%d %H:%M}")
    console.print(table)
