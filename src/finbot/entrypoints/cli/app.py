"""The ``finbot`` command: run the platform, migrate, seed demo data, inspect the ledger, bench.

Every command builds the application through ``bootstrap`` from ``FINBOT_*`` settings;
domain errors are printed as ``error[code]: message`` with exit status 2.
"""

from __future__ import annotations

import sys

import typer

from finbot.config import Settings
from finbot.entrypoints.cli.arena import arena_cli
from finbot.entrypoints.cli.audit import audit_cli
from finbot.entrypoints.cli.bench import bench_cli
from finbot.entrypoints.cli.breaker import breaker_cli
from finbot.entrypoints.cli.challenger import challenger_cli
from finbot.entrypoints.cli.chaos import chaos_cli
from finbot.entrypoints.cli.chat import chat
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.cli.events import events_cli
from finbot.entrypoints.cli.explain import explain, replay
from finbot.entrypoints.cli.keys import keys_cli
from finbot.entrypoints.cli.ledger import ledger_cli
from finbot.entrypoints.cli.model import model_cli
from finbot.entrypoints.cli.monitor import monitor_cli
from finbot.entrypoints.cli.payments import payments_cli
from finbot.entrypoints.cli.policy import policy_cli
from finbot.entrypoints.cli.privacy import retention_cli, vendors_cli
from finbot.entrypoints.cli.redteam import redteam_cli
from finbot.entrypoints.cli.review import review_cli
from finbot.entrypoints.cli.rollback import rollback
from finbot.entrypoints.cli.sanctions import sanctions_cli
from finbot.entrypoints.cli.simulate import simulate
from finbot.entrypoints.cli.users import users_cli
from finbot.entrypoints.cli.worker import worker

cli = typer.Typer(help="FinBot: vendor payments run by AI agents that never touch money.",
                  no_args_is_help=True, add_completion=False)
demo_cli = typer.Typer(help="Demo data for trying FinBot out.", no_args_is_help=True)
cli.add_typer(demo_cli, name="demo")
cli.add_typer(ledger_cli, name="ledger")
cli.add_typer(keys_cli, name="keys")
cli.add_typer(vendors_cli, name="vendors")
cli.add_typer(retention_cli, name="retention")
cli.add_typer(payments_cli, name="payments")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(policy_cli, name="policy")
cli.add_typer(review_cli, name="review")
cli.add_typer(breaker_cli, name="breaker")
cli.add_typer(challenger_cli, name="challenger")
cli.add_typer(bench_cli, name="bench")
cli.add_typer(events_cli, name="events")
cli.add_typer(model_cli, name="model")
cli.add_typer(monitor_cli, name="monitor")
cli.add_typer(sanctions_cli, name="sanctions")
cli.add_typer(users_cli, name="users")
cli.add_typer(arena_cli, name="arena")
cli.add_typer(redteam_cli, name="redteam")
cli.add_typer(chaos_cli, name="chaos")
cli.command("worker")(worker)
cli.command("simulate")(simulate)
cli.command("chat")(chat)
cli.command("rollback")(rollback)
cli.command("explain")(explain)
cli.command("replay")(replay)


@cli.command()
@reports_errors
def migrate() -> None:
    """Create or upgrade the database schema (safe to run repeatedly)."""
    from finbot.bootstrap import bootstrap

    app = bootstrap()
    console.print(f"database at {app.engine.url.render_as_string()} is up to date")
    app.close()


@demo_cli.command("seed")
@reports_errors
def demo_seed(vendors: int = typer.Option(8, min=1, max=500, help="How many demo vendors."),
              invoices: int = typer.Option(6, min=1, max=200,
                                           help="Invoices per vendor.")) -> None:
    """Fill the configured database with demo vendors, accounts and transfers (idempotent)."""
    from finbot.bootstrap import bootstrap
    from finbot.services.demo import seed_demo

    app = bootstrap()
    report = seed_demo(app.ledger, vendors=vendors, invoices_per_vendor=invoices)
    console.print(f"{report.accounts} accounts; {report.transfers_new} new transfers "
                  f"({report.transfers_submitted - report.transfers_new} already there)")
    app.close()


@cli.command()
@reports_errors
def up(host: str = typer.Option(None, help="Interface to listen on [FINBOT_HOST]."),
       port: int = typer.Option(None, min=0, max=65535, help="Port [FINBOT_PORT]."),
       seed: bool = typer.Option(True, help="Seed demo data when the ledger is empty.")) -> None:
    """Migrate, seed demo data if the ledger is empty, run the background workers and serve."""
    from finbot.entrypoints.cli.serve import serve

    serve(host=host, port=port, seed=seed, console=console)


@cli.command()
@reports_errors
def web(host: str = typer.Option(None, help="Interface to listen on [FINBOT_HOST]."),
        port: int = typer.Option(None, min=0, max=65535, help="Port [FINBOT_PORT]."),
        workers: int = typer.Option(1, min=1, max=64, help="Web worker processes.")) -> None:
    """Serve the web app alone, for production beside `finbot worker …` processes: no
    background work and no migrations (run `finbot migrate` first). With FINBOT_REDIS_URL
    set, rate limits are counted in Redis, so any number of web processes, on any number
    of hosts, share them."""
    import uvicorn

    from finbot.observability.setup import observe

    settings = Settings()
    observe(settings, role="web")
    uvicorn.run("finbot.entrypoints.web.app:web_from_settings", factory=True,
                host=host or settings.host, port=port if port is not None else settings.port,
                workers=workers, log_config=None, log_level=None)


def main() -> None:
    """Console-script entry point."""
    try:
        cli()
    except KeyboardInterrupt:
        sys.exit(130)
