"""``finbot model …``: train the fraud model on synthetic data, evaluate a version, print its
card, list the registry."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import typer

from finbot.config import Settings
from finbot.entrypoints.cli.common import console, reports_errors

model_cli = typer.Typer(help="The fraud model (train, evaluate, cards) and the agents' cards.",
                        no_args_is_help=True)

_VENDORS = typer.Option(300, min=10, max=100_000, help="Synthetic vendors.")
_INVOICES = typer.Option(6000, min=100, max=5_000_000, help="Synthetic invoice payments.")
_FRAUD_RATE = typer.Option(0.02, min=0.001, max=0.5, help="Share of fraudulent payments.")
_BUDGET = typer.Option(0.02, min=0.001, max=1.0,
                       help="Share of payments reviewers can look at (precision at budget).")
_JSON = typer.Option(False, "--json", help="Print JSON instead of a summary.")


@model_cli.command("train")
@reports_errors
def train_command(vendors: int = _VENDORS, invoices: int = _INVOICES,
                  fraud_rate: float = _FRAUD_RATE,
                  seed: int = typer.Option(7, help="Seed of the data and of training."),
                  budget: float = _BUDGET, as_json: bool = _JSON) -> None:
    """Generate seeded synthetic data, train (same seed and data: same model hash), evaluate
    on the held-out rows and register the version with its model card."""
    from finbot.fraud import ModelRegistry, evaluate, generate, train

    with console.status("generating synthetic payments…"):
        dataset = generate(vendors=vendors, invoices=invoices, fraud_rate=fraud_rate, seed=seed)
    with console.status(f"training on {len(dataset)} payments…"):
        trained = train(dataset, seed=seed)
    metrics = evaluate(trained, trained.test_set, review_budget=budget)
    registry = ModelRegistry(Settings().models_dir)
    info = registry.save(trained, metrics, created_at=datetime.now(UTC).isoformat())
    if as_json:
        print(json.dumps(info.to_dict(), sort_keys=True, indent=2))
        return
    console.print(f"registered {info.version}  model {info.model_hash[:16]}…  "
                  f"data {info.data_hash[:16]}…")
    _summary(metrics.to_dict())
    console.print(f"card: finbot model card {info.version}")


@model_cli.command("evaluate")
@reports_errors
def evaluate_command(version: str = typer.Argument(None, help="Default: the latest."),
                     vendors: int = _VENDORS, invoices: int = _INVOICES,
                     fraud_rate: float = _FRAUD_RATE,
                     seed: int = typer.Option(1001, help="Seed of the fresh evaluation data "
                                              "(differ from the training seed)."),
                     budget: float = _BUDGET, as_json: bool = _JSON) -> None:
    """Score a registered version on freshly generated data and report ROC-AUC, PR-AUC,
    precision at the review budget and metrics by country and vendor size."""
    from finbot.fraud import ModelRegistry, generate
    from finbot.fraud.metrics import measure

    registry = ModelRegistry(Settings().models_dir)
    version = version or registry.latest().version
    scorer = registry.load(version)
    dataset = generate(vendors=vendors, invoices=invoices, fraud_rate=fraud_rate, seed=seed)
    metrics = measure(dataset.y, scorer.probabilities(dataset.X), dataset.segments,
                      review_budget=budget).to_dict()
    if as_json:
        print(json.dumps({"version": version, "seed": seed, **metrics}, sort_keys=True,
                         indent=2))
        return
    console.print(f"{version} on {len(dataset)} fresh payments (seed {seed})")
    _summary(metrics)


@model_cli.command("card")
@reports_errors
def card_command(version: str = typer.Argument(None, help="Default: the latest.")) -> None:
    """Print a version's model card (Markdown): data, parameters, metrics by segment, known
    failure modes, hashes."""
    from finbot.fraud import ModelRegistry

    registry = ModelRegistry(Settings().models_dir)
    print(registry.card(version or registry.latest().version))


@model_cli.command("agent-card")
@reports_errors
def agent_card_command(
        key: str = typer.Argument(None, help="An agent version with - for /, e.g. invoice-2; "
                                             "default: list the agents' cards."),
        every: bool = typer.Option(False, "--all", help="Print (and keep) every card.")
) -> None:
    """An agent version's card (Markdown): purpose, output, tools, the checks an approval
    must rest on, what the gate does, known limitations and the full prompt; kept with the
    model registry under agents/<agent>/ by version and prompt digest."""
    from finbot.bootstrap import bootstrap, deciding_agents
    from finbot.services.models import ModelCatalogue, card_sources

    app = bootstrap(run_migrations=False)
    try:
        deciding = deciding_agents(app.fraud_scorer)
        catalogue = ModelCatalogue(app.settings.models_dir, app.models,
                                   [a.spec for a in deciding.values()],
                                   cards=card_sources(deciding, app.agent_tools))
        keys = catalogue.agent_cards() if every else [key] if key else []
        if not keys:
            for known in catalogue.agent_cards():
                console.print(known)
            return
        for chosen in keys:
            print(catalogue.agent_card(chosen))
    finally:
        app.close()


@model_cli.command("list")
@reports_errors
def list_command() -> None:
    """The registered versions, oldest first."""
    from finbot.fraud import ModelRegistry

    registry = ModelRegistry(Settings().models_dir)
    for version in registry.versions():
        info = registry.info(version)
        console.print(f"{version}  {info.created_at}  ROC-AUC "
                      f"{_number(info.metrics.roc_auc)}")


def _summary(metrics: dict[str, object]) -> None:
    console.print(
        f"ROC-AUC {_number(metrics['roc_auc'])}  PR-AUC {_number(metrics['pr_auc'])}  "
        f"precision@budget {_number(metrics['precision_at_budget'])}  "
        f"recall@budget {_number(metrics['recall_at_budget'])}  "
        f"({metrics['positives']} fraud in {metrics['rows']})")


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "n/a"
