"""``finbot bench api``: the HTTP API under load on loopback, next to a minimal FastAPI
"hello" route served the same way in the same run.

Both servers are uvicorn processes with the same settings (workers, event loop, HTTP
parser, no access log); the load comes from this process through an async HTTP client.
Each target is measured twice:

- capacity: a closed loop of ``concurrency`` clients sending back to back for
  ``seconds``; requests per second and the share of errors;
- steady rate: requests started on a fixed schedule of ``rate`` per second for
  ``seconds`` (an open loop, so a slow answer cannot hold the next request back), with
  latency counted from each request's scheduled start; p50, p99 and errors.

The FinBot target is invoice submission (POST /api/invoices with an API token and an
Idempotency-Key, each request a new invoice) on a scratch database with a vendor whose
onboarding has run; the scratch database is dropped afterwards.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx2
from fastapi import FastAPI

from finbot.bench.agents import bench_company
from finbot.bench.samples import percentile
from finbot.bench.scratch import Backend, scratch_database
from finbot.bootstrap import bootstrap
from finbot.config import Settings

Progress = Callable[[str], None]
TARGET_PER_S = 300
TARGET_P99_MS = 100.0
UNLIMITED = {kind: "1000000/second" for kind in ("default", "login", "money", "chat",
                                                   "upload")}
"""Rate limits out of the way: the bench measures the API, not its limiter's refusals."""


def hello_web() -> FastAPI:
    """The baseline: the smallest FastAPI application, one JSON route."""
    hello = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @hello.post("/hello")
    async def answer() -> dict[str, str]:
        return {"hello": "world"}

    return hello


@dataclass
class Request:
    """One kind of request the load generator sends; ``make(n)`` gives the n-th one's
    headers and JSON body."""

    method: str
    path: str
    make: Callable[[int], tuple[dict[str, str], dict[str, Any]]]


@dataclass
class Samples:
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_api_bench(*, backend: Backend, postgres_url: str, seconds: float = 10.0,
                  rate: int = TARGET_PER_S, concurrency: int = 32, server_workers: int = 2,
                  progress: Progress | None = None) -> dict[str, Any]:
    say = progress or (lambda _: None)
    results: dict[str, Any] = {"backend": backend, "seconds": seconds, "rate_per_s": rate,
                               "concurrency": concurrency, "server_workers": server_workers}
    with scratch_database(backend, postgres_url) as url:
        say("preparing a company, an onboarded vendor and an API token")
        token, vendor_id = _prepare(url, postgres_url)
        env = {"FINBOT_DATABASE_URL": url, "FINBOT_POSTGRES_URL": postgres_url,
               "FINBOT_ENVIRONMENT": "development",
               "FINBOT_RATE_LIMITS": json.dumps(UNLIMITED)}
        hello = Request("POST", "/hello", lambda n: ({}, {}))
        invoice = Request("POST", "/api/invoices", _invoice_maker(token, vendor_id))
        with _served("finbot.bench.api:hello_web", server_workers, {}) as base:
            say(f"hello route: capacity with {concurrency} clients, then {rate}/s")
            results["hello"] = _measure(base, hello, seconds, rate, concurrency)
        with _served("finbot.entrypoints.web.app:web_from_settings", server_workers,
                     env) as base:
            say(f"invoice submission: capacity with {concurrency} clients, then {rate}/s")
            results["invoices"] = _measure(base, invoice, seconds, rate, concurrency)
    hello_cap = results["hello"]["capacity_per_s"]
    invoices = results["invoices"]
    results["ratio_invoices_vs_hello"] = round(invoices["capacity_per_s"] / hello_cap, 4)
    results["targets"] = {"invoices_per_s": TARGET_PER_S, "p99_ms": TARGET_P99_MS}
    results["targets_met"] = (invoices["capacity_per_s"] >= TARGET_PER_S
                              and invoices["steady_p99_ms"] < TARGET_P99_MS
                              and invoices["steady_achieved_per_s"] >= 0.98 * rate
                              and invoices["errors"] == 0)
    return results


def _prepare(url: str, postgres_url: str) -> tuple[str, str]:
    app = bootstrap(Settings(database_url=url, postgres_url=postgres_url,
                             environment="development"))
    try:
        (vendor_id,) = bench_company(app, 1)
        email = "bench@api.example"
        app.auth.create_user(email, "bench-password-not-secret", roles=["vendor"],
                             vendors=[vendor_id])
        return app.auth.issue_token(email, "bench", ttl_days=1), vendor_id
    finally:
        app.close()


def _invoice_maker(token: str, vendor_id: str
                   ) -> Callable[[int], tuple[dict[str, str], dict[str, Any]]]:
    run = os.urandom(4).hex()
    today = date.today()

    def make(n: int) -> tuple[dict[str, str], dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"{run}-{n}"}
        return headers, {"vendor_id": vendor_id, "number": f"API-{run}-{n}",
                         "amount": f"{100 + n % 900}.{n % 100:02d}", "currency": "USD",
                         "issued_on": today.isoformat(),
                         "due_on": (today + timedelta(days=30)).isoformat(),
                         "po_number": f"PO-{vendor_id}", "text": "Office supplies"}
    return make


def _measure(base: str, request: Request, seconds: float, rate: int,
             concurrency: int) -> dict[str, Any]:
    counter = itertools.count()
    asyncio.run(_closed_loop(base, request, counter, min(seconds, 1.0), concurrency))  # warm
    capacity, elapsed = asyncio.run(_closed_loop(base, request, counter, seconds,
                                                 concurrency))
    steady, achieved = asyncio.run(_open_loop(base, request, counter, seconds, rate))
    return {"capacity_per_s": round(len(capacity.latencies_ms) / elapsed, 1),
            "capacity_p99_ms": _p(capacity, 99),
            "steady_achieved_per_s": round(achieved, 1),
            "steady_p50_ms": _p(steady, 50), "steady_p99_ms": _p(steady, 99),
            "errors": capacity.error_count + steady.error_count,
            "error_kinds": {kind: capacity.errors.get(kind, 0) + steady.errors.get(kind, 0)
                            for kind in capacity.errors.keys() | steady.errors.keys()}}


def _p(samples: Samples, pct: int) -> float:
    return percentile(samples.latencies_ms, pct, digits=2) if len(
        samples.latencies_ms) > 1 else float("nan")


async def _send(client: httpx2.AsyncClient, request: Request, n: int, samples: Samples,
                started: float) -> None:
    headers, body = request.make(n)
    try:
        answer = await client.request(request.method, request.path, headers=headers,
                                      json=body)
    except httpx2.HTTPError as failed:
        samples.error(type(failed).__name__)
        return
    if answer.status_code >= 300:
        samples.error(f"HTTP {answer.status_code}")
        return
    samples.latencies_ms.append((time.perf_counter() - started) * 1000)


def _client(base: str, connections: int) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(base_url=base, timeout=30.0, limits=httpx2.Limits(
        max_connections=connections, max_keepalive_connections=connections))


async def _closed_loop(base: str, request: Request, counter: Iterator[int],
                       seconds: float, concurrency: int) -> tuple[Samples, float]:
    samples = Samples()
    started = time.perf_counter()
    deadline = started + seconds
    async with _client(base, concurrency) as client:
        async def one_client() -> None:
            while (now := time.perf_counter()) < deadline:
                await _send(client, request, next(counter), samples, now)
        await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return samples, time.perf_counter() - started


async def _open_loop(base: str, request: Request, counter: Iterator[int], seconds: float,
                     rate: int) -> tuple[Samples, float]:
    samples = Samples()
    total = max(1, int(seconds * rate))
    async with _client(base, 256) as client:
        started = time.perf_counter()
        pending = set()
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_send(client, request, next(counter), samples, due))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - started
    return samples, (len(samples.latencies_ms) + samples.error_count) / elapsed


@contextmanager
def _served(factory: str, workers: int, env: dict[str, str]) -> Iterator[str]:
    """A uvicorn process serving ``factory`` on a free loopback port until the block
    ends; yields its base URL once it answers."""
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(workers), "--no-access-log",
         "--log-level", "warning"],
        env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(server, port)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_listening(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the bench server exited with status {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the bench server did not start listening within 60 s")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
