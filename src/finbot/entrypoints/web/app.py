"""The web application: a read-only ledger overview page and JSON routes.

Until user accounts exist, every route is for operators only: in development the
server answers loopback clients; elsewhere a bearer token derived from the secret key
is required. Routes stay thin: parse, call the query side, map errors to statuses.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

from finbot.bootstrap import App
from finbot.domain.errors import FinbotError, NotFound
from finbot.domain.ledger import Account, Transfer
from finbot.domain.money import Currency, Money
from finbot.entrypoints.web.push import (
    TOKEN_TTL_S,
    TOO_SLOW,
    UNAUTHORISED,
    PushHub,
    issue_token,
    tenant_of,
)

TEMPLATES = Path(__file__).parent / "templates"
_LOOPBACK = {"127.0.0.1", "::1"}


def operator_token(app: App) -> str:
    """The bearer token operators use outside development (printed by ``finbot up``)."""
    secret = app.settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"finbot-operator", hashlib.sha256).hexdigest()


def create_web_app(app: App) -> FastAPI:
    hub = PushHub(app)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start()
        yield
        hub.stop()

    web = FastAPI(title="FinBot", version="0.1.0", lifespan=lifespan)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["money"] = _money

    def require_operator(request: Request) -> None:
        if app.settings.environment == "development":
            if request.client is None or request.client.host not in _LOOPBACK:
                raise HTTPException(403, "development server answers loopback clients only")
            return
        header = request.headers.get("authorization", "")
        if not hmac.compare_digest(header, f"Bearer {operator_token(app)}"):
            raise HTTPException(401, "operator bearer token required",
                                headers={"WWW-Authenticate": "Bearer"})

    operator = [Depends(require_operator)]

    @web.exception_handler(FinbotError)
    async def domain_error(_: Request, error: FinbotError) -> JSONResponse:
        status = 404 if isinstance(error, NotFound) else 409
        return JSONResponse(error.as_dict(), status_code=status)

    @web.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @web.get("/", response_class=HTMLResponse, dependencies=operator)
    def overview(request: Request) -> Any:
        accounts = app.queries.accounts()
        names = {a.id: a.code for a in accounts}
        return templates.TemplateResponse(request, "overview.html", {
            "accounts": accounts, "transfers": app.queries.history(limit=50, newest_first=True),
            "names": names})

    @web.get("/api/ledger/accounts", dependencies=operator)
    def list_accounts() -> list[dict[str, Any]]:
        return [account_public(a) for a in app.queries.accounts()]

    @web.get("/api/ledger/accounts/{code}", dependencies=operator)
    def get_account(code: str) -> dict[str, Any]:
        return account_public(app.queries.account(code))

    @web.get("/api/ledger/transfers", dependencies=operator)
    def list_transfers(after: Annotated[int, Query(ge=0)] = 0,
                       limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
        page = app.queries.history(after_seq=after, limit=limit)
        return {"transfers": [transfer_public(t) for t in page],
                "next": page[-1].seq if len(page) == limit else None}

    @web.get("/api/events/token", dependencies=operator)
    def push_token(tenant: Annotated[str, Query(min_length=1, max_length=64)] = "default"
                   ) -> dict[str, Any]:
        """A short-lived token for the live event socket of ``tenant``."""
        return {"token": issue_token(app, tenant), "expires_in_s": TOKEN_TTL_S}

    @web.websocket("/ws/events")
    async def live_events(socket: WebSocket, token: str | None = None) -> None:
        tenant = tenant_of(app, token)
        if tenant is None:
            await socket.close(code=UNAUTHORISED, reason="a valid push token is required")
            return
        await socket.accept()
        subscriber = hub.subscribe(tenant)
        closed = asyncio.ensure_future(socket.receive())  # the client leaving
        try:
            while True:
                message = asyncio.ensure_future(subscriber.queue.get())
                done, _ = await asyncio.wait({message, closed},
                                             return_when=asyncio.FIRST_COMPLETED)
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

    return web


def _money(minor: int, currency: str) -> str:
    return str(Money(minor, Currency.of(currency)))


def account_public(account: Account) -> dict[str, Any]:
    cur = Currency.of(account.currency)
    b = account.balances
    return {"code": account.code, "name": account.name, "type": account.type.value,
            "currency": account.currency, "flags": int(account.flags),
            "balance": str(Money(account.balance(), cur).amount),
            "debits_pending": b.debits_pending, "debits_posted": b.debits_posted,
            "credits_pending": b.credits_pending, "credits_posted": b.credits_posted}


def transfer_public(transfer: Transfer) -> dict[str, Any]:
    return {"seq": transfer.seq, "id": transfer.id, "kind": transfer.kind.value,
            "debit_account_id": transfer.debit_account_id,
            "credit_account_id": transfer.credit_account_id,
            "amount": str(Money(transfer.amount, Currency.of(transfer.currency)).amount),
            "currency": transfer.currency, "timestamp_us": transfer.timestamp,
            "parent_id": transfer.parent_id, "reference": transfer.reference}
