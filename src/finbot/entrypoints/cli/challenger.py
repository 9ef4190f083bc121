"""``finbot challenger …``: register a challenger beside an agent's champion, watch it in
shadow, route a canary share to it, report its agreement, collect sign-offs, promote or
retire it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from finbot.bootstrap import bootstrap
from finbot.domain.agreement import report_json
from finbot.domain.challengers import DEFAULT_MIN_AGREEMENT, DEFAULT_MIN_COUNT, SignOffRole
from finbot.domain.clock import utc_datetime
from finbot.domain.errors import InvalidInput
from finbot.entrypoints.cli.challenger_report import report_html
from finbot.entrypoints.cli.common import console, reports_errors

challenger_cli = typer.Typer(
    help="Challengers: another agent version, model or fraud model beside an agent's "
         "champion, in shadow (logged, never executed), then canary, then promoted.",
    no_args_is_help=True)
BY = typer.Option(..., "--by", help="Who makes the change (recorded in the audit log).")
REASON = typer.Option(..., "--reason", help="Why (recorded in the audit log).")
CHALLENGER = typer.Argument(..., help="The challenger id (see `finbot challenger list`).")


@challenger_cli.command("add")
@reports_errors
def add(agent: str = typer.Argument(..., help="The agent challenged: onboarding, invoice, "
                                               "fraud or payments."),
        by: str = BY,
        challenger_id: str | None = typer.Option(None, "--id", help="Its id (default: a "
                                                 "new ch-… id)."),
        agent_version: str | None = typer.Option(None, "--agent-version",
                                                 help="Another agent version, e.g. invoice/3."),
        prompt_file: Path | None = typer.Option(None, "--prompt-file", exists=True,
                                                dir_okay=False, help="Another prompt."),
        model: str | None = typer.Option(None, "--model", help="Another model, by its name "
                                         "among the router's choices (`finbot challenger "
                                         "models`)."),
        fraud_version: str | None = typer.Option(None, "--fraud-version",
                                                 help="Another fraud model version "
                                                      "(fraud agent only)."),
        min_agreement: str = typer.Option(str(DEFAULT_MIN_AGREEMENT), "--min-agreement",
                                          help="Agreement promotion needs, 0 to 1."),
        min_count: int = typer.Option(DEFAULT_MIN_COUNT, "--min-count", min=1,
                                      help="Paired decisions promotion needs.")) -> None:
    """Register a challenger of AGENT; it starts in shadow."""
    prompt = prompt_file.read_text(encoding="utf-8") if prompt_file else None
    challenger = bootstrap().challengers.add(
        agent, by=by, challenger_id=challenger_id, agent_version=agent_version, prompt=prompt,
        model_name=model, fraud_version=fraud_version, min_agreement=min_agreement,
        min_count=min_count)
    console.print(f"{challenger.challenger_id}: {challenger.state.value} beside the "
                  f"{challenger.agent_id} agent's champion")


@challenger_cli.command("models")
@reports_errors
def models() -> None:
    """The model names a challenger may use (the router's choices)."""
    for name in bootstrap().models.names():
        console.print(name, markup=False)


@challenger_cli.command("list")
@reports_errors
def list_() -> None:
    """Every challenger with its state, canary share and what differs."""
    rows = bootstrap().challengers.all()
    table = Table("id", "agent", "state", "canary", "differs", "bar", "since")
    for c in rows:
        differs = ", ".join(f"{k}={v}" for k, v in (
            ("version", c.agent_version), ("prompt", "custom" if c.prompt else None),
            ("model", c.model_name), ("fraud", c.fraud_version)) if v)
        table.add_row(c.challenger_id, c.agent_id, c.state.value, f"{c.canary_share:.0%}",
                      differs, f"{c.min_agreement:.0%} of {c.min_count}",
                      utc_datetime(c.changed_at_us).strftime("%Y-%m-%d %H:%M UTC"))
    console.print(table)
    if not rows:
        console.print("no challengers; add one with `finbot challenger add AGENT`")


@challenger_cli.command("report")
@reports_errors
def report(challenger: str = CHALLENGER,
           format_: str = typer.Option("json", "--format", help="json or html."),
           output: Path | None = typer.Option(None, "--output", "-o", dir_okay=False,
                                              help="Write here (default: standard output).")
           ) -> None:
    """Agreement with the champion: overall, per segment (agent, outcome, vendor country,
    amount band), the confusion matrix and every disagreement with both decision ids."""
    if format_ not in ("json", "html"):
        raise InvalidInput(f"--format is json or html, not {format_!r}", field="format")
    app = bootstrap()
    found = app.challengers.report(challenger)
    bar = app.challengers.get(challenger).min_agreement
    text = (json.dumps(report_json(found), indent=2) if format_ == "json"
            else report_html(found, min_agreement=str(bar)))
    if output is None:
        console.print(text, markup=False, highlight=False, soft_wrap=True)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"report written to {output}")


@challenger_cli.command("sign")
@reports_errors
def sign(challenger: str = CHALLENGER,
         signer: str = typer.Option(..., "--signer", help="Who signs (once per challenger)."),
         role: str = typer.Option(..., "--role", help="risk, compliance or engineering.")
         ) -> None:
    """Record a sign-off of CHALLENGER's promotion (three roles are needed)."""
    app = bootstrap()
    done = app.challengers.sign(challenger, signer=signer, role=role)
    missing = {r.value for r in SignOffRole} - {
        s.role.value for s in app.challengers.sign_offs(challenger)}
    console.print(f"{done.signer} signed {challenger} as {done.role.value}; "
                  f"still needed: {', '.join(sorted(missing)) or 'none'}")


@challenger_cli.command("canary")
@reports_errors
def canary(challenger: str = CHALLENGER,
           share: str = typer.Option(..., "--share", help="Share of live traffic, 0 to 1."),
           by: str = BY, reason: str = REASON) -> None:
    """Let CHALLENGER decide SHARE of its agent's live traffic (by subject hash)."""
    moved = bootstrap().challengers.canary(challenger, share, by=by, reason=reason)
    console.print(f"{challenger}: canary on {moved.canary_share:.0%} of live traffic")


@challenger_cli.command("promote")
@reports_errors
def promote(challenger: str = CHALLENGER, by: str = BY, reason: str = REASON) -> None:
    """Make CHALLENGER its agent's live decider; refused, with the reasons, without the
    agreement bar and the risk, compliance and engineering sign-offs."""
    moved = bootstrap().challengers.promote(challenger, by=by, reason=reason)
    console.print(f"{challenger}: {moved.state.value}")


@challenger_cli.command("retire")
@reports_errors
def retire(challenger: str = CHALLENGER, by: str = BY, reason: str = REASON) -> None:
    """Take CHALLENGER out of the loop for good."""
    moved = bootstrap().challengers.retire(challenger, by=by, reason=reason)
    console.print(f"{challenger}: {moved.state.value}")
