"""A chaos run: the platform under load on PostgreSQL and Redis while its worker
processes are killed with SIGKILL at random moments, Redis is stopped, then PostgreSQL.

The run owns its servers (``servers``) and its workers (``fleet``: ``copies`` processes of
every role, so it also shows several copies sharing the load with no double effect).
The driver registers seeded vendors, submits invoices at a steady rate (some fraudulent,
as ``finbot simulate`` makes them) and plays the reviewers; it never consumes an event
itself. A monkey kills a random worker every few seconds and starts it again shortly after.
Once the load is in, the kills done and everything settled, the workers are stopped
cleanly and ``checks`` judge what the run left behind.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from finbot.bootstrap import App, bootstrap
from finbot.chaos.checks import run_checks
from finbot.chaos.fleet import Fleet
from finbot.chaos.servers import PrivatePostgres, PrivateRedis
from finbot.config import Settings
from finbot.domain.clock import now_us
from finbot.domain.errors import FinbotError
from finbot.entrypoints.workers import UPKEEP_EVERY_S, Role, settled, stream_backlog
from finbot.simulation import (
    _FRAUD,
    _SPREAD_US,
    _invoices,
    _register,
    _review,
    _status,
    _vendor,
    prepare_company,
)

Say = Callable[[str], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ChaosPlan:
    """What a chaos run does; the defaults are the full run the hardening issue asks for."""

    invoices: int = 1000
    vendors: int = 40
    rate: float = 25.0  # invoices submitted per second
    copies: int = 2
    kills: int = 12
    kill_every_s: float = 5.0
    redis_outage_s: float = 30.0
    postgres_outage_s: float = 10.0
    fraud_rate: float = 0.05
    seed: int = 7
    settle_timeout_s: float = 600.0


@dataclass
class ChaosReport:
    plan: ChaosPlan
    kills: Counter[str] = field(default_factory=Counter)
    outages: list[dict[str, Any]] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)  # exits nobody caused
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    work: dict[str, dict[str, int]] = field(default_factory=dict)  # per worker, last run
    problems: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    settled_after_s: float | None = None
    duration_s: float = 0.0
    retries: int = 0  # driver calls repeated while a server was away

    @property
    def ok(self) -> bool:
        return (self.settled_after_s is not None and not self.crashed
                and all(code == 0 for code in self.exit_codes.values())
                and not any(self.problems.values()))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "plan": asdict(self.plan), "kills": dict(self.kills),
                "kills_total": sum(self.kills.values()), "outages": self.outages,
                "crashed": self.crashed, "exit_codes": self.exit_codes, "work": self.work,
                "problems": self.problems, "counts": self.counts,
                "settled_after_s": self.settled_after_s, "duration_s": self.duration_s,
                "driver_retries": self.retries}


def run_chaos(plan: ChaosPlan, *, say: Say = lambda _: None,
              keep: Path | None = None) -> ChaosReport:
    """Run ``plan`` in a scratch directory (``keep``: there instead, left for reading)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return _run_in(plan, keep, say)
    with tempfile.TemporaryDirectory(prefix="finbot-chaos-") as root:
        return _run_in(plan, Path(root), say)


def _run_in(plan: ChaosPlan, root: Path, say: Say) -> ChaosReport:
    started = time.monotonic()
    report = ChaosReport(plan)
    try:
        with private_platform(root, copies=plan.copies, prefix="finbot:chaos:",
                              say=say) as platform:
            Driver(plan, platform.app, platform.fleet, platform.postgres, platform.redis,
                   report, say).run()
    finally:
        report.duration_s = round(time.monotonic() - started, 1)
    return report


@dataclass
class Platform:
    """FinBot on private servers: the driver's app, the worker processes, the servers."""

    app: App
    fleet: Fleet
    postgres: PrivatePostgres
    redis: PrivateRedis


@contextmanager
def private_platform(root: Path, *, copies: int, prefix: str, say: Say) -> Iterator[Platform]:
    """Start a private PostgreSQL and Redis in ``root``, migrate, and make (not start)
    ``copies`` workers of every role on them; stop and remove it all afterwards (the
    workers too, if a failure left them running)."""
    postgres, redis = PrivatePostgres(root), PrivateRedis(root)
    say(f"starting a private PostgreSQL (port {postgres.port}) and Redis "
        f"(port {redis.port}) in {root}")
    fleet: Fleet | None = None
    app: App | None = None
    try:
        postgres.start()
        redis.start()
        settings = Settings(database_url=postgres.url, redis_url=redis.url,
                            events_prefix=prefix)
        env = {**os.environ, "FINBOT_DATABASE_URL": postgres.url,
               "FINBOT_REDIS_URL": redis.url, "FINBOT_EVENTS_PREFIX": prefix}
        fleet = Fleet(tuple(role.value for role in Role), copies, env, root)
        app = bootstrap(settings)
        yield Platform(app, fleet, postgres, redis)
    finally:
        if fleet is not None:
            fleet.stop()  # after a failure; a finished run stopped them before its checks
        if app is not None:
            app.close()
        redis.close()
        postgres.close()


class Driver:
    """Load, reviewers, the monkey and the outages of one run."""

    def __init__(self, plan: ChaosPlan, app: App, fleet: Fleet,
                 postgres: PrivatePostgres | None, redis: PrivateRedis | None,
                 report: ChaosReport, say: Say) -> None:
        """Without ``postgres`` and ``redis`` there are no outages (a soak's load)."""
        self.plan, self.app, self.fleet, self.report, self.say = plan, app, fleet, report, say
        self.postgres, self.redis = postgres, redis
        self.rng = random.Random(plan.seed)  # noqa: S311 - chaos, not security
        self.labels: dict[str, str] = {}
        self.stop = threading.Event()
        self.killed: set[int] = set()  # pids the monkey killed (their exit is no crash)
        self.lock = threading.Lock()
        self.outage_due = [threading.Event(), threading.Event()]  # Redis, then PostgreSQL
        self.kills_done = threading.Event()

    def run(self) -> None:
        prefix = f"chaos{self.plan.seed}"
        self.patiently(lambda: prepare_company(self.app))
        self.fleet.start_all()
        self.say(f"{len(self.fleet.workers)} workers started "
                 f"({self.plan.copies} of each: {', '.join(self.fleet.roles)})")
        threads = [threading.Thread(target=self.reviewers, daemon=True),
                   threading.Thread(target=self._monkey, daemon=True),
                   threading.Thread(target=self._outages, daemon=True)]
        for thread in threads:
            thread.start()
        try:
            active = self.onboard(prefix)
            self._load(prefix, active)
            self.say("load submitted; waiting for the remaining kills and outages")
            self.kills_done.wait()
            for due in self.outage_due:
                due.set()  # a run too short to reach them still has them now
            threads[2].join()
            self._settle()
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=60)
        self.say("stopping the workers (SIGTERM) and checking what the run left")
        self.report.exit_codes = self.fleet.stop()
        self.report.work = self.fleet.work()
        self.report.problems, self.report.counts = run_checks(
            self.app, list(self.labels), pending_grace_us=int(3 * UPKEEP_EVERY_S * 1e6))

    # -- load ----------------------------------------------------------------------------

    def onboard(self, prefix: str) -> list[Any]:
        made = [_vendor(self.rng, prefix, i, 0.0) for i in range(self.plan.vendors)]
        vendors = [self.patiently(partial(_register, self.app, v)) for v in made]
        self.say(f"{len(vendors)} vendors registered; waiting for onboarding")
        deadline = time.monotonic() + self.plan.settle_timeout_s
        while time.monotonic() < deadline:
            states = [self.patiently(partial(_status, self.app, v.vendor_id))
                      for v in vendors]
            if all(s not in ("", "pending", "escalated") for s in states):
                break
            time.sleep(0.5)
        active = [v for v in vendors if _status(self.app, v.vendor_id) == "active"]
        if not active:
            raise RuntimeError("no vendor was onboarded; see the agents workers' logs")
        self.say(f"{len(active)} vendors active")
        return active

    def _load(self, prefix: str, active: list[Any]) -> None:
        start_at = now_us() - _SPREAD_US
        began = time.monotonic()
        thirds = {self.plan.invoices // 3: 0, 2 * self.plan.invoices // 3: 1}
        for n in range(self.plan.invoices):
            if n in thirds:
                self.outage_due[thirds[n]].set()
            vendor = active[n % len(active)]
            pattern = "normal"
            if self.rng.random() < self.plan.fraud_rate:
                pattern = _FRAUD[self.rng.randrange(len(_FRAUD))]
            if pattern == "bank_change" and len(active) < 2:
                pattern = "normal"
            at = start_at + _SPREAD_US * n // self.plan.invoices
            made = self.patiently(partial(_invoices, self.app, self.rng, prefix, n, vendor,
                                          pattern, at))
            for invoice in made:
                self.labels[invoice.invoice_id] = pattern
            if pattern == "bank_change":
                active.remove(vendor)  # its later invoices would wait out the cooling-off
            if (n + 1) % max(1, self.plan.invoices // 10) == 0:
                self.say(f"submitted {n + 1}/{self.plan.invoices} invoices")
            ahead = began + (n + 1) / self.plan.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)

    def patiently(self, call: Callable[[], T], *, patience_s: float = 120.0) -> T:
        """``call``, repeated while the database is away (a business refusal is final)."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                return call()
            except FinbotError:
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                self.report.retries += 1
                time.sleep(0.5)

    def reviewers(self) -> None:
        while not self.stop.is_set():
            try:
                _review(self.app, self.labels)
            except Exception:  # the database is away: review on the next round
                self.report.retries += 1
            self.stop.wait(0.3)

    # -- faults --------------------------------------------------------------------------

    def _monkey(self) -> None:
        """Kill a worker at random moments, every role in turn (in a shuffled order each
        round, a random copy of it); start it again after a short while."""
        roles: list[str] = []
        try:
            for _ in range(self.plan.kills):
                if self.stop.wait(self.rng.uniform(0.5, 1.5) * self.plan.kill_every_s):
                    return
                self._crashes()
                if not roles:
                    roles = self.rng.sample(self.fleet.roles, len(self.fleet.roles))
                role = roles.pop()
                alive = [w for w in self.fleet.workers if w.role == role and w.alive()]
                if not alive:
                    continue
                victim = self.rng.choice(alive)
                assert victim.process is not None
                with self.lock:
                    self.killed.add(victim.process.pid)
                self.fleet.kill(victim)
                self.report.kills[victim.role] += 1
                self.say(f"killed {victim.name} (SIGKILL); "
                         f"{sum(self.report.kills.values())}/{self.plan.kills}")
                if self.stop.wait(self.rng.uniform(0.2, 2.0)):
                    return
                self.fleet.start(victim)
        finally:
            self.kills_done.set()

    def _crashes(self) -> None:
        """Workers that died without being killed are findings; they are started again."""
        for worker in self.fleet.dead():
            assert worker.process is not None
            with self.lock:
                if worker.process.pid in self.killed:
                    continue
            self.report.crashed.append(f"{worker.name} exited {worker.process.returncode}: "
                                       f"{self.fleet.tail(worker, lines=5)}")
            self.fleet.start(worker)

    def _outages(self) -> None:
        servers: list[tuple[str, float, PrivateRedis | PrivatePostgres | None]] = [
            ("redis", self.plan.redis_outage_s, self.redis),
            ("postgres", self.plan.postgres_outage_s, self.postgres)]
        for due, (name, seconds, server) in zip(self.outage_due, servers, strict=True):
            due.wait()
            if self.stop.is_set() or seconds <= 0 or server is None:
                continue
            self.say(f"stopping {name} for {seconds:g} s")
            began = time.monotonic()
            server.stop()
            time.sleep(seconds)
            server.start()
            self.report.outages.append({"server": name, "seconds": seconds,
                                        "down_s": round(time.monotonic() - began, 1)})
            self.say(f"{name} is back")

    # -- the end ---------------------------------------------------------------------------

    def _settle(self) -> None:
        began = time.monotonic()
        deadline = began + self.plan.settle_timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            self._crashes()
            if self.patiently(self._idle):
                quiet += 1
                if quiet == 3:  # three looks in a row: nothing is still on its way
                    self.report.settled_after_s = round(time.monotonic() - began, 1)
                    self.say(f"settled {self.report.settled_after_s} s after the load")
                    return
            else:
                quiet = 0
            time.sleep(1.0)
        self.say(f"did not settle within {self.plan.settle_timeout_s:g} s: "
                 f"{self.patiently(lambda: stream_backlog(self.app))}")

    def _idle(self) -> bool:
        if not settled(self.app) or self.app.reviews.pending(limit=1):
            return False
        with self.app.uow() as uow:  # a step leased by a killed worker waits for its lease
            return not uow.sagas.unfinished(1) and not uow.workflows.counts().get("pending")


