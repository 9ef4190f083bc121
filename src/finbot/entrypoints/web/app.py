"""The web application: the JSON API (one router per resource), the live event socket
and the pages. Routes stay thin: parse, ask the caller's scope, map errors to statuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from anyio import to_thread
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig

from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.entrypoints.api import errors
from finbot.entrypoints.api.deps import Web
from finbot.entrypoints.api.routers import (
    arena,
    arena_tools,
    auth,
    breakers,
    decisions,
    events,
    findings,
    invoices,
    ledger,
    payments,
    policy,
    reviews,
    sandbox,
    vendors,
)
from finbot.entrypoints.api.schemas import ANY_ROUTE_ERRORS
from finbot.entrypoints.web import (
    admin,
    arena_defence,
    arena_trail,
    messages,
    metrics,
    portal,
    signup,
    vendor,
)
from finbot.entrypoints.web import arena as arena_pages
from finbot.entrypoints.web import arena_tools as arena_tool_forms
from finbot.entrypoints.web.push import TOO_SLOW, UNAUTHORISED, PushHub, Subscriber, audience_of
from finbot.observability.requests import RequestContext
from finbot.observability.setup import observe

STATIC = Path(__file__).parent / "static"
NO_NATIVE_TELEMETRY: TelemetryConfig = {
    "tracing": False, "metrics": False, "logs": False, "operation_spans": False,
    "auto_configure": False}
"""FastAPI's own spans and logs are off: they would keep raw paths, some query values and
exception texts, which FinBot's ``http.request`` span and redacted logs never hold."""
ROUTERS = (auth, vendors, invoices, payments, decisions, reviews, ledger, policy, breakers,
           events, findings, sandbox, arena, arena_tools)


def create_web_app(app: App, *, owns_app: bool = False) -> FastAPI:
    """The web application over ``app``; with ``owns_app`` it closes ``app`` when the
    server stops."""
    hub = PushHub(app)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Blocking work (database calls) runs in threads; no more at once than there are
        # pooled connections, so none waits for a connection or opens a spare one.
        to_thread.current_default_thread_limiter().total_tokens = (
            app.settings.database_pool_size)
        hub.start()
        yield
        hub.stop()
        if owns_app:
            app.close()

    web = FastAPI(title="FinBot", version="0.1.0", lifespan=lifespan,
                  description="Vendor payments run by AI agents that are never trusted "
                  "with money. Sign in (POST /api/auth/login) or send "
                  "`Authorization: Bearer <API token>`.",
                  responses=ANY_ROUTE_ERRORS, telemetry=NO_NATIVE_TELEMETRY)
    web.state.finbot = Web.of(app)
    web.add_middleware(RequestContext)
    errors.install(web)
    for module in ROUTERS:
        web.include_router(module.router)
    for pages in (portal, signup, vendor, messages, admin, arena_pages, arena_tool_forms,
                  arena_trail, arena_defence):
        web.include_router(pages.router)
    web.include_router(metrics.router)
    web.mount("/static", StaticFiles(directory=STATIC), name="static")

    @web.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @web.websocket("/ws/events")
    async def live_events(socket: WebSocket, token: str | None = None) -> None:
        audience = audience_of(app, token)
        if audience is None:
            await socket.close(code=UNAUTHORISED, reason="a valid push token is required")
            return
        await socket.accept()
        await _pump(socket, hub, hub.subscribe(audience))

    return web


def web_from_settings() -> FastAPI:
    """The web app alone over the configured database (``finbot web``, and uvicorn's
    ``--factory`` for several worker processes): no background workers, no migrations;
    it closes the app's connections when the server stops. Each worker process sets up
    its own logs and traces."""
    settings = Settings()
    observe(settings, role="web")
    return create_web_app(bootstrap(settings, run_migrations=False), owns_app=True)


async def _pump(socket: WebSocket, hub: PushHub, subscriber: Subscriber) -> None:
    """Send the subscriber's events until the client leaves or falls too far behind."""
    closed = asyncio.ensure_future(socket.receive())  # the client leaving
    try:
        while True:
            message = asyncio.ensure_future(subscriber.queue.get())
            done, _ = await asyncio.wait({message, closed}, return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                if closed.result().get("type") == "websocket.disconnect":
                    message.cancel()
                    return
                closed = asyncio.ensure_future(socket.receive())  # ignore client chatter
                if message not in done:
                    message.cancel()
                    continue
            payload = message.result()
            if payload is None:
                await socket.close()
                return
            await socket.send_json(payload)
            if subscriber.overflowed and subscriber.queue.empty():
                await socket.close(code=TOO_SLOW, reason="client too slow")
                return
    except WebSocketDisconnect:
        return
    finally:
        closed.cancel()
        hub.unsubscribe(subscriber)
