"""``finbot review …``: work the human review queue and export reviews as training labels."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.clock import now_us, utc_datetime
from finbot.domain.reviews import ReviewItem, Verdict
from finbot.entrypoints.cli.common import console, reports_errors

review_cli = typer.Typer(help="The human review queue for escalated decisions.",
                         no_args_is_help=True)

REVIEWER = typer.Option(..., "--reviewer", help="Your reviewer id (recorded in the log).")
RATIONALE = typer.Option(..., "--rationale", help="Why: required, recorded in the log.")


def _when(us: int) -> str:
    return utc_datetime(us).strftime("%Y-%m-%d %H:%M UTC")


@review_cli.command("list")
@reports_errors
def list_items(overdue: bool = typer.Option(False, help="Only items past their SLA."),
               limit: int = typer.Option(50, min=1, max=1000, help="At most this many.")
               ) -> None:
    """Unsettled escalations, most urgent first, with their SLA due time."""
    app = bootstrap()
    items, depth = app.reviews.pending(limit=limit, overdue=overdue), app.reviews.depth()
    now = now_us()
    table = Table("decision", "vendor", "amount", "priority", "due", "approvals", "reason")
    for item in items:
        due = _when(item.due_at_us) + (" [red]OVERDUE[/red]" if item.overdue(now) else "")
        table.add_row(item.decision_id, item.vendor_id, f"{item.amount} {item.currency}",
                      item.priority.name.lower(), due,
                      f"{len(item.approvals)}/{item.required_approvals}", item.reason[:60])
    console.print(table)
    console.print(f"{depth.pending} waiting, {depth.overdue} past their SLA")


@review_cli.command("show")
@reports_errors
def show(decision_id: str) -> None:
    """One queue item and every review it has had."""
    item, reviews = bootstrap().reviews.show(decision_id)
    console.print_json(json.dumps(_public(item)))
    for review in reviews:
        console.print(f"  {_when(review.created_at_us)} {review.reviewer_id}: "
                      f"{review.verdict.value} — {review.rationale}", markup=False)


@review_cli.command("approve")
@reports_errors
def approve(decision_id: str, reviewer: str = REVIEWER, rationale: str = RATIONALE) -> None:
    """Approve an escalated decision (above the four-eyes amount, two reviewers must)."""
    _review(decision_id, reviewer, Verdict.APPROVE, rationale)


@review_cli.command("reject")
@reports_errors
def reject(decision_id: str, reviewer: str = REVIEWER, rationale: str = RATIONALE) -> None:
    """Reject an escalated decision; nothing will be paid for it."""
    _review(decision_id, reviewer, Verdict.REJECT, rationale)


def _review(decision_id: str, reviewer: str, verdict: Verdict, rationale: str) -> None:
    item = bootstrap().reviews.review(decision_id, reviewer_id=reviewer, verdict=verdict,
                                      rationale=rationale)
    console.print(f"{decision_id}: {item.status.value} "
                  f"({len(item.approvals)}/{item.required_approvals} approvals)")


@review_cli.command("labels")
@reports_errors
def labels(out: Path = typer.Option(..., help="File to write (JSON Lines).")) -> None:
    """Export every review as a training label: the agent's input and proposal beside the
    human verdict and rationale."""
    count = 0
    with out.open("w") as sink:
        for label in bootstrap().reviews.labels():
            sink.write(json.dumps(label, sort_keys=True) + "\n")
            count += 1
    console.print(f"wrote {count} labels to {out}")


def _public(item: ReviewItem) -> dict[str, object]:
    return {"decision_id": item.decision_id, "vendor_id": item.vendor_id,
            "amount": str(item.amount), "currency": item.currency, "reason": item.reason,
            "priority": item.priority.name.lower(), "due_at": _when(item.due_at_us),
            "status": item.status.value, "approvals": list(item.approvals),
            "required_approvals": item.required_approvals}
