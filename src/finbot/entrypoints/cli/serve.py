"""``finbot up``: one process running the web app and the background workers."""

from __future__ import annotations

import secrets
import threading

import uvicorn
from rich.console import Console

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.errors import NotFound
from finbot.entrypoints import workers
from finbot.entrypoints.cli.policy import load_policy_file
from finbot.entrypoints.web.app import create_web_app
from finbot.observability.setup import observe
from finbot.services.demo import DEMO_USERS, seed_demo, seed_demo_users


def serve(*, host: str | None, port: int | None, seed: bool, console: Console) -> None:
    settings = Settings()
    observe(settings, role="up")
    app = bootstrap(settings)
    host = host or app.settings.host
    port = port if port is not None else app.settings.port
    policy = app.policies.publish(load_policy_file(None)) if not _has_policy(app) else None
    if policy is not None:
        console.print(f"published the default policy as {policy.version}")
    if seed and not app.queries.accounts():
        report = seed_demo(app.ledger)
        console.print(f"seeded demo data: {report.accounts} accounts, "
                      f"{report.transfers_new} transfers")
    if seed and app.settings.environment == "development":
        _seed_people(app, console)
    stop = threading.Event()
    threads = workers.start(workers.all_tasks(app), stop)
    console.print(f"FinBot is running at [bold]http://{host}:{port}/[/bold] "
                  f"(database: {app.engine.url.render_as_string()})")
    console.print(f"API documentation: http://{host}:{port}/docs")
    try:
        uvicorn.run(create_web_app(app), host=host, port=port, log_config=None,
                    log_level=None)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        app.close()


def _seed_people(app: App, console: Console) -> None:
    """Demo users on a development install, with a password made for this install and
    kept (owner-readable only) in the data directory, so later runs can show it again."""
    kept = app.settings.data_dir / "demo-password.txt"
    if kept.exists():
        password = kept.read_text().strip()
    else:
        password = secrets.token_urlsafe(12)
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(password + "\n")
    seed_demo_users(app.auth, password=password)
    console.print("demo users (password [bold]" + password + "[/bold], kept in "
                  f"{kept}): " + ", ".join(email for email, _ in DEMO_USERS))


def _has_policy(app: App) -> bool:
    try:
        app.policies.current()
    except NotFound:
        return False
    return True
