"""``finbot up``: one process running the web app and the background workers."""

from __future__ import annotations

import threading

import uvicorn
from rich.console import Console

from finbot.bootstrap import App, bootstrap
from finbot.domain.errors import NotFound
from finbot.entrypoints import workers
from finbot.entrypoints.cli.policy import load_policy_file
from finbot.entrypoints.web.app import create_web_app
from finbot.services.demo import seed_demo


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
    threads = workers.start(workers.all_tasks(app), stop)
    console.print(f"FinBot is running at [bold]http://{host}:{port}/[/bold] "
                  f"(database: {app.engine.url.render_as_string()})")
    if app.settings.environment != "development":
        console.print("routes need the operator bearer token: run `finbot operator-token`")
    try:
        uvicorn.run(create_web_app(app), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)
        app.close()


def _has_policy(app: App) -> bool:
    try:
        app.policies.current()
    except NotFound:
        return False
    return True
