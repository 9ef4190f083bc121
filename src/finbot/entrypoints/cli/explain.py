"""``finbot explain`` and ``finbot replay``: a past decision told to a regulator, and re-run
from its recorded model exchanges to show it comes out the same."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import typer

from finbot.bootstrap import bootstrap
from finbot.domain.errors import NotFound
from finbot.entrypoints.cli.common import console, errors, reports_errors
from finbot.entrypoints.decision_report import explainer, render_html, render_pdf, replayer
from finbot.services.replay import ReplayResult

T = TypeVar("T")


class ReportFormat(StrEnum):
    HTML = "html"
    PDF = "pdf"
    JSON = "json"


@reports_errors
def explain(decision_id: str = typer.Argument(..., metavar="DECISION_ID",
                                                   help="The decision's id."),
            format_: ReportFormat = typer.Option(ReportFormat.HTML, "--format",
                                                 help="html, pdf or json."),
            out: Path | None = typer.Option(None, help="File to write [stdout; a PDF needs "
                                                       "--out]."),
            checkpoint: bool = typer.Option(True, help="Take a checkpoint when none covers "
                                                       "the decision yet.")) -> None:
    """A decision explained for a regulator: outcome, model and policy versions, input,
    reasoning, rules, reviews, execution, ledger entries and a Merkle inclusion proof."""
    app = bootstrap()
    try:
        report = _found(lambda: explainer(app).explain(decision_id, checkpoint=checkpoint))
    finally:
        app.close()
    if format_ is ReportFormat.PDF:
        if out is None:
            errors.print("a PDF is written to a file: add --out FILE.pdf")
            raise typer.Exit(2)
        out.write_bytes(render_pdf(report))
    else:
        text = (json.dumps(report, indent=2, sort_keys=True) if format_ is ReportFormat.JSON
                else render_html(report))
        if out is None:
            print(text)
            return
        out.write_text(text, encoding="utf-8")
    console.print(f"wrote the report on {decision_id} to {out}", markup=False)


@reports_errors
def replay(decision_id: str = typer.Argument(..., metavar="DECISION_ID",
                                                   help="The decision's id."),
           policy: str | None = typer.Option(None, help="Replay under this policy version "
                                                        "instead of the decision's own."),
           as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")
           ) -> None:
    """Re-run a decision from its recorded model exchanges under its policy version,
    through the same agent and gate code, writing nothing; exit 0 when identical, 1 when
    it differs (saying where and why)."""
    app = bootstrap()
    try:
        result = _found(lambda: replayer(app).replay(decision_id, policy_version=policy))
    finally:
        app.close()
    if as_json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True, default=str))
    else:
        _show(result)
    if not result.identical:
        raise typer.Exit(1)


def _found(action: Callable[[], T]) -> T:
    """``action``'s result; an unknown id is a clear error with exit status 1."""
    try:
        return action()
    except NotFound as missing:
        errors.print(f"error[{missing.code}]: {missing.message}", markup=False, style="red")
        raise typer.Exit(1) from None


def _show(result: ReplayResult) -> None:
    verdict = "identical" if result.identical else "DIFFERS"
    console.print(f"{result.decision_id}: {verdict} (replayed from {result.method}, policy "
                  f"{result.policy_version}; recorded {result.recorded_outcome}, replayed "
                  f"{result.replayed_outcome})", markup=False)
    for difference in result.differences:
        console.print(f"- {difference.what}: {difference.why}", markup=False, soft_wrap=True)
        console.print(f"    recorded: {difference.recorded}", markup=False, soft_wrap=True)
        console.print(f"    replayed: {difference.replayed}", markup=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
