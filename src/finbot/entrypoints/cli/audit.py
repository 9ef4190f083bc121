"""``finbot audit …``: verify the hash chain and checkpoints, take checkpoints, prove records."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from finbot.bootstrap import bootstrap
from finbot.entrypoints.cli.common import console, errors, reports_errors

audit_cli = typer.Typer(help="The tamper-evident decision log.", no_args_is_help=True)


@audit_cli.command("verify")
@reports_errors
def verify() -> None:
    """Check every link, hash and checkpoint; exit 1 naming the first bad record."""
    app = bootstrap()
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=errors) as bar:
        task = bar.add_task("verifying", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        problems = app.audit.verify(progress=advance, limit=10)
    if not problems:
        console.print("[green]audit log verifies[/green]: every record links, hashes and "
                      "matches its checkpoints")
        return
    first = problems[0]
    errors.print(f"audit log broken at record {first.seq}: {first.message}", markup=False)
    for problem in problems[1:]:
        errors.print(f"  also: {problem.message}", markup=False)
    raise typer.Exit(1)


@audit_cli.command("checkpoint")
@reports_errors
def checkpoint() -> None:
    """Record the Merkle root over every record so far (RFC 6962)."""
    size, root = bootstrap().audit.checkpoint()
    console.print(f"checkpoint: {size} records, root {root}")


@audit_cli.command("prove")
@reports_errors
def prove(record_id: str) -> None:
    """Print an inclusion proof of one record against the newest covering checkpoint."""
    proof = bootstrap().audit.prove(record_id)
    print(json.dumps({"record": {"seq": proof.record.seq, "body": proof.record.body,
                                 "prev_hash": proof.record.prev_hash,
                                 "hash": proof.record.hash},
                      "index": proof.index, "tree_size": proof.tree_size,
                      "root_hash": proof.root_hash, "path": proof.path}, indent=2))


@audit_cli.command("export")
@reports_errors
def export(first: int = typer.Option(..., "--from", min=1, help="First record (seq)."),
           last: int = typer.Option(..., "--to", min=1, help="Last record (seq)."),
           out: Path = typer.Option(..., help="File to write (JSON Lines).")) -> None:
    """Write records FROM..TO with a checkpoint proof; scripts/verify_audit_export.py
    checks the file with nothing but the Python standard library."""
    lines = bootstrap().audit.export(first, last)
    out.write_text("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
    console.print(f"wrote {len(lines) - 2} records to {out}")
