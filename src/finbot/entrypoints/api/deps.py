"""What every route depends on, in one place: who is asking (a session cookie or an API
token), their scope, CSRF protection for browsers, rate limits and idempotency keys.

A browser proves itself with the session cookie, whose value is signed with the secret
key, and, on every state-changing request, with the session's CSRF token in the
``X-CSRF-Token`` header or a ``csrf_token`` form field; a cross-site ``Origin`` is
refused outright. A machine client sends ``Authorization: Bearer fbt_…``; tokens are
not sent by browsers on their own, so they need no CSRF token.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Header, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from itsdangerous import BadSignature, URLSafeSerializer
from limits import RateLimitItem, parse_many, storage, strategies

from finbot.bootstrap import App, deciding_agents
from finbot.domain.errors import Forbidden, InvalidInput, Unauthenticated
from finbot.domain.users import Principal
from finbot.entrypoints.api.errors import RateLimited
from finbot.services.assistant import VendorAssistant
from finbot.services.auth import Session
from finbot.services.idempotency import StoredResponse
from finbot.services.models import ModelCatalogue, card_sources
from finbot.services.scope import Scope
from finbot.services.velocity import MoneyVelocity

COOKIE = "finbot_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Limiter:
    """Rate limits by route class, per client address and per user (``limits``)."""

    def __init__(self, limits: dict[str, str], *, storage_uri: str = "memory://") -> None:
        self._limits: dict[str, list[RateLimitItem]] = {
            kind: parse_many(text) for kind, text in limits.items()}
        self._limiter = strategies.MovingWindowRateLimiter(
            storage.storage_from_string(storage_uri))

    def check(self, kind: str, *identities: str) -> None:
        """Count one request of ``kind`` for each identity; RateLimited when any is over."""
        for item in self._limits.get(kind, ()):
            for identity in identities:
                if not self._limiter.hit(item, kind, identity):
                    reset = self._limiter.get_window_stats(item, kind, identity).reset_time
                    raise RateLimited(max(1, math.ceil(reset - time.time())))


@dataclass
class Web:
    """The per-process state routes share: the application, the limiter, the signer."""

    app: App
    limiter: Limiter
    signer: URLSafeSerializer
    velocity: MoneyVelocity

    @classmethod
    def of(cls, app: App) -> Web:
        settings = app.settings
        uri = settings.redis_url or "memory://"
        return cls(app, Limiter(settings.rate_limits, storage_uri=uri),
                   URLSafeSerializer(settings.secret_key.get_secret_value(),
                                     salt="finbot-session"),
                   MoneyVelocity(app.uow, app.outbox, threshold=settings.money_burst,
                                 storage_uri=uri))

    @cached_property
    def catalogue(self) -> ModelCatalogue:
        """The fraud registry and the agents' models and cards (built once: plain objects,
        no reads)."""
        deciding = deciding_agents(self.app.fraud_scorer)
        return ModelCatalogue(self.app.settings.models_dir, self.app.models,
                              [agent.spec for agent in deciding.values()],
                              cards=card_sources(deciding, self.app.agent_tools))

    @property
    def secure_cookies(self) -> bool:
        return self.app.settings.cookie_secure or self.app.settings.environment == "production"


async def web_of(request: Request) -> Web:  # async: no thread for a lookup
    state: Web = request.app.state.finbot
    return state


WebDep = Annotated[Web, Depends(web_of)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def session_secret(web: Web, request: Request) -> str | None:
    """The session secret the request's cookie carries, if its signature holds."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        secret = web.signer.loads(cookie)
    except BadSignature:
        return None
    return secret if isinstance(secret, str) else None


async def principal(request: Request, web: WebDep) -> Principal:
    """Who is asking: the API token's user, else the session's (CSRF-checked on writes)."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send 'Authorization: Bearer <API token>'")
        found: Principal = await run_in_threadpool(web.app.auth.token_principal,
                                                   token.strip())
        return found
    secret = session_secret(web, request)
    if secret is None:
        raise Unauthenticated("sign in, or send an API token")
    session: Session = await run_in_threadpool(web.app.auth.session, secret)
    if request.method not in SAFE_METHODS:
        await _check_csrf(request, session)
    request.state.session = session
    return session.principal


async def sign_in(web: Web, request: Request, response: Response, email: str,
                  password: str) -> Session:
    """Sign in (counted against the address's login limit), ending any session this
    browser held, and set the new session's cookie on ``response``."""
    web.limiter.check("login", f"email:{email.strip().lower()}")
    old = session_secret(web, request)
    session: Session = await run_in_threadpool(
        lambda: web.app.auth.sign_in(email, password, replacing=old))
    response.set_cookie(COOKIE, web.signer.dumps(session.secret), httponly=True,
                        samesite="lax", secure=web.secure_cookies, path="/",
                        max_age=web.app.settings.session_ttl_s)
    request.state.session = session
    return session


async def sign_out(web: Web, request: Request, response: Response) -> None:
    """End this browser's session and drop its cookie."""
    secret = session_secret(web, request)
    if secret is not None:
        await run_in_threadpool(web.app.auth.sign_out, secret)
    response.delete_cookie(COOKIE, path="/")


def check_origin(request: Request) -> None:
    """Refuse a request a browser sent from another site (its ``Origin`` names it)."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Forbidden("cross-site request refused", code="csrf_failed")


async def _check_csrf(request: Request, session: Session) -> None:
    check_origin(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        sent = str((await request.form()).get(CSRF_FIELD, ""))
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise Forbidden("missing or wrong CSRF token", code="csrf_failed", field=CSRF_FIELD)


Auth = Annotated[Principal, Depends(principal)]


async def scope(who: Auth, web: WebDep) -> Scope:  # async: builds objects, no I/O
    app = web.app
    return Scope(who, uow=app.uow, ledger=app.queries, work=app.vendor_work,
                 reviews=app.reviews, policies=app.policies, breakers=app.breakers,
                 assistant=VendorAssistant(app.uow, app.models, app.agent_tools,
                                           outbox=app.outbox),
                 home_tenant=app.settings.home_tenant, audit=app.audit,
                 models=web.catalogue, privacy=app.privacy)


ScopeDep = Annotated[Scope, Depends(scope)]


def limited(kind: str) -> Callable[..., Awaitable[None]]:
    """A dependency counting the request against ``kind``'s limits, per address and
    per signed-in user."""
    async def check(request: Request, web: WebDep, who: Auth) -> None:
        web.limiter.check(kind, f"ip:{client_address(request)}", f"user:{who.user_id}")
        if kind == "money" and web.velocity.burst(who):
            await run_in_threadpool(web.velocity.record, who)  # a fraud signal
    return check


def limited_by_address(kind: str) -> Callable[..., Awaitable[None]]:
    """For routes before sign-in: per client address only."""
    async def check(request: Request, web: WebDep) -> None:
        web.limiter.check(kind, f"ip:{client_address(request)}")
    return check


async def idempotency_key(idempotency_key: Annotated[str | None, Header(
        description="Required on every request that can move money: a repeat with the "
        "same key and body returns the first answer; another body is refused")] = None
                    ) -> str:
    if not idempotency_key:
        raise InvalidInput("this request can move money: send an Idempotency-Key header",
                           code="idempotency_key_required", field="Idempotency-Key")
    return idempotency_key


IdempotencyKey = Annotated[str, Depends(idempotency_key)]


def stored_answer(answer: StoredResponse) -> JSONResponse:
    """An idempotent command's answer as sent the first time, marked when replayed."""
    return JSONResponse(answer.json(), status_code=answer.status,
                        headers={"Idempotent-Replayed": "true"} if answer.replayed else None)
