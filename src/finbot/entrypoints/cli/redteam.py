"""``finbot redteam run``: the attack library against every untrusted surface of a scratch
platform, with what it did to the agents, the money and the detectors."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from finbot.entrypoints.cli.common import console, errors, reports_errors

redteam_cli = typer.Typer(help="Attack the agents with prompt injections and check the money.",
                          no_args_is_help=True)


class Mode(StrEnum):
    """governed: every guardrail on, as in production; training: an arena sandbox with the
    soft and selected hard guardrails waived, where a manipulated agent moves money."""

    GOVERNED = "governed"
    TRAINING = "training"


@redteam_cli.command("run")
@reports_errors
def run(corpus: Path | None = typer.Option(
            None, help="JSON Lines of {id, text, label: attack|benign}; default: the shipped "
                       "library (429 attacks, 115 benign rows)."),
        mode: Mode = typer.Option(Mode.GOVERNED, help="governed: the gate, review queue and "
                                  "executor as in production; training: every attempt in an "
                                  "arena sandbox in training mode (soft and selected hard "
                                  "guardrails waived), counting the payments the production "
                                  "gate would not have made as training effects."),
        surfaces: str = typer.Option(
            "all", help="Comma-separated: invoice_description, attachment, vendor_profile, "
                        "bank_change_note, chat, tool_output, memory_note (or all)."),
        sample: int | None = typer.Option(None, min=1, help="Use N rows picked at random."),
        seed: int = typer.Option(7, help="Seed for --sample."),
        gullibility: str = typer.Option(
            "high", help="The offline model's gullibility (none|low|medium|high); high obeys "
                         "any instruction it can parse, so the run tests the platform's "
                         "controls rather than the model's resistance."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")
        ) -> None:
    """Inject every text through every chosen surface, each in a fresh vendor and invoice,
    on a scratch SQLite database with the offline model; run the agents, gate and executor
    to idle; report per surface: attempts, agents manipulated (behaviour unlike a clean
    baseline), settled payments that broke the policy, detector recall and the false-positive
    rate on benign rows. Exits 1 if any payment broke the policy, printing its trail."""
    from finbot.arena import corpus as library
    from finbot.bench.scratch import scratch_app
    from finbot.llm.offline.injection import Gullibility
    from finbot.llm.router import ModelChoice, ModelRouter
    from finbot.redteam import SURFACES
    from finbot.redteam import sample as pick
    from finbot.redteam_figures import red_team

    chosen = SURFACES if surfaces == "all" else tuple(s.strip() for s in surfaces.split(","))
    unknown = [s for s in chosen if s not in SURFACES]
    if unknown:
        raise typer.BadParameter(f"unknown surface(s): {', '.join(unknown)}",
                                 param_hint="--surfaces")
    rows = pick(library.load(corpus) if corpus else library.shipped(), sample, seed)
    router = ModelRouter([ModelChoice("offline", gullibility=Gullibility(gullibility))])
    with scratch_app("sqlite", "", models=router, redis=None) as app:
        report = red_team(app, rows, surfaces=chosen, mode=mode.value,
                          progress=lambda stage, done, total:
                          errors.print(f"{stage}: {done}/{total}"))
    _show(report.to_dict(), as_json=as_json)
    if report.trails:
        raise typer.Exit(1)


def _show(result: dict[str, object], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True))
        return
    training = result["mode"] == "training"
    columns = ["attacks", "manipulated", "detected", "benign", "benign_flagged", "payments",
               *(["training_effects"] if training else []), "violating_payments"]
    table = Table("surface", "attacks", "manipulated", "detected", "benign", "flagged",
                  "payments", *(["past the gate"] if training else []), "violating",
                  title=f"red team, {result['mode']} mode")
    surfaces = dict(result["surfaces"])  # type: ignore[call-overload]
    for name, figures in [*surfaces.items(), ("overall", result["overall"])]:
        table.add_row(name, *(str(figures.get(k, "-")) for k in columns))
    console.print(table)
    for trail in result["violations"]:  # type: ignore[attr-defined]
        errors.print(f"CRITICAL: decision {trail['decision_id']} invoice {trail['invoice_id']}"
                     f" payment {trail['payment_id']} ({trail['surface']}, {trail['row_id']}):"
                     f" {'; '.join(trail['violations'])}", markup=False)
