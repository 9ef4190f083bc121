"""``finbot up``: one process running the web app and the background workers."""

from __future__ import annotations

import logging
import threading

import uvicorn
from rich.console import Console

from finbot.bootstrap import App, bootstrap
from finbot.domain.errors import NotFound
from finbot.entrypoints.cli.policy import load_policy_file
from finbot.entrypoints.web.app import create_web_app
from finbot.services.demo import seed_demo

SWEEP_EVERY_S = 5.0
CHECKPOINT_EVERY = 120  # rounds: a checkpoint every ten minutes
logger = logging.getLogger(__name__)


def serve(*, host: str | None, port: int | None, seed: bool, console: Console) -> None:
    app = bootstrap()
    host = host or app.settings.host
    port = port if port is not None else app.settings.port
    policy = app.policies.publish(load_policy_file(None)) if not _has_policy(app) else None
    if policy is not None:
        console.print(f"published the default policy as {policy.version}")
    if seed and not app.queries.accounts():
        report = seed_demo(app.ledger)
        console.print(f"seeded demo data: {report.accounts} accounts, "
                      f"{report.transfers_new} transfers")
    stop = threading.Event()
    worker = threading.Thread(target=_sweep, args=(app, stop), name="finbot-sweeper",
                              daemon=True)
    worker.start()
    console.print(f"FinBot is running at [bold]http://{host}:{port}/[/bold] "
                  f"(database: {app.engine.url.render_as_string()})")
    if app.settings.environment != "development":
        console.print("routes need the operator bearer token: run `finbot operator-token`")
    try:
        uvicorn.run(create_web_app(app), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        worker.join(timeout=10)
        app.close()


def _has_policy(app: App) -> bool:
    try:
        app.policies.current()
    except NotFound:
        return False
    return True


def background_round(app: App, round_no: int) -> None:
    """One round of upkeep: start the payments of approved escalations, resume payments,
    expire reservations, and every CHECKPOINT_EVERY rounds record a Merkle checkpoint of
    the audit chain."""
    while app.executor_events.poll():
        pass
    app.payments.resume_all()
    app.ledger.expire_pending()
    if round_no % CHECKPOINT_EVERY == 0:
        app.audit.checkpoint()


def _sweep(app: App, stop: threading.Event) -> None:
    """Run background rounds until told to stop."""
    round_no = 0
    while True:
        try:
            background_round(app, round_no)
        except Exception:  # a worker must outlive a bad round; the next one retries
            logger.exception("background round failed")
        round_no += 1
        if stop.wait(SWEEP_EVERY_S):
            return
