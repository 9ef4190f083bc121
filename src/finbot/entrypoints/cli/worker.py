"""``finbot worker ROLE``: one worker process (run several for scale)."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

import typer

from finbot.adapters.db.availability import database_unavailable
from finbot.bootstrap import App, bootstrap
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
    app = _when_the_database_answers(lambda: bootstrap(settings), stop)
    if app is None:  # stopped while waiting
        console.print(f"worker {role} stopped")
        return
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
    done = ", ".join(f"{name} {n}" for name, n in workers.work_done(tasks).items())
    console.print(f"worker {role} stopped; done: {done or 'nothing counted'}",
                  highlight=False)


def _when_the_database_answers(build: Callable[[], App], stop: threading.Event,
                               *, retry_s: float = 1.0) -> App | None:
    """The app, once the database answers: a worker (re)started while the database is
    restarting waits for it, as its loops do, instead of exiting; None if stopped first."""
    while True:
        try:
            return build()
        except Exception as failure:
            if not database_unavailable(failure):
                raise
            console.print(f"waiting for the database: {type(failure).__name__}",
                          highlight=False)
        if stop.wait(retry_s):
            return None
