"""``finbot worker ROLE``: one worker process (run several for scale)."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import typer

from finbot.bootstrap import bootstrap
from finbot.config import Settings
from finbot.domain.errors import ConfigurationError
from finbot.entrypoints import workers
from finbot.entrypoints.cli.common import console, reports_errors
from finbot.entrypoints.workers import Role
from finbot.observability.setup import observe


@reports_errors
def worker(role: Role = typer.Argument(..., help="relay: outbox to Redis Streams; "
                                                 "executor: payments and upkeep; agents; "
                                                 "arena."),
           name: str = typer.Option(None, help="This copy's name in its consumer groups "
                                               "(default: host-pid; reuse a name to pick up "
                                               "what a stopped copy of that name held).")
           ) -> None:
    """Run one worker process of ROLE until SIGTERM or Ctrl-C; in-flight work is finished
    or handed back to the other copies first. A stop asked for while the worker is still
    starting is honoured too: it stops before taking any work."""
    stop = threading.Event()

    def request_stop(signum: int, _: FrameType | None) -> None:
        console.print(f"{signal.Signals(signum).name}: finishing in-flight work")
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    settings = Settings()
    observe(settings, role=f"worker-{role.value}")
    app = bootstrap(settings)
    if app.redis is None and role is not Role.executor:
        raise ConfigurationError(f"`finbot worker {role}` needs Redis: set FINBOT_REDIS_URL "
                                 "(without it, `finbot up` runs every worker in one process)",
                                 field="redis_url")
    tasks = workers.role_tasks(app, role.value, copy=name)
    if not tasks:
        raise ConfigurationError(f"no consumer is registered for the {role} role yet",
                                 field="role")
    threads = workers.start(tasks, stop) if not stop.is_set() else []
    console.print(f"worker {role} running: {', '.join(tasks)} (SIGTERM or Ctrl-C stops)",
                  highlight=False)
    while not stop.wait(0.5):
        pass
    for thread in threads:
        thread.join(timeout=30)
    app.close()
    console.print(f"worker {role} stopped")
