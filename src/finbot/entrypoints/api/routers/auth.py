"""Signing in and out, and who the caller is. Sign-in rotates the session (any session
the browser held ends) and answers with the CSRF token the browser sends on writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from finbot.entrypoints.api.deps import (
    COOKIE,
    Auth,
    WebDep,
    limited_by_address,
    session_secret,
)
from finbot.entrypoints.api.schemas import LoginRequest, Me
from finbot.services.auth import Session

router = APIRouter(prefix="/api/auth", tags=["auth"])


def me_of(request: Request, who: Auth) -> Me:
    session: Session | None = getattr(request.state, "session", None)
    return Me(user_id=who.user_id, tenant=who.tenant, roles=sorted(who.roles),
              vendors=sorted(who.vendors), permissions=sorted(who.permissions), via=who.via,
              csrf_token=session.csrf_token if session else None)


@router.post("/login", dependencies=[Depends(limited_by_address("login"))])
async def login(body: LoginRequest, request: Request, response: Response, web: WebDep) -> Me:
    """Sign in with email and password; sets the session cookie."""
    web.limiter.check("login", f"email:{body.email.strip().lower()}")
    old = session_secret(web, request)
    session = await run_in_threadpool(lambda: web.app.auth.sign_in(
        body.email, body.password, replacing=old))
    set_session_cookie(web, response, session)
    request.state.session = session
    return me_of(request, session.principal)


def set_session_cookie(web: WebDep, response: Response, session: Session) -> None:
    response.set_cookie(COOKIE, web.signer.dumps(session.secret), httponly=True,
                        samesite="lax", secure=web.secure_cookies, path="/",
                        max_age=web.app.settings.session_ttl_s)


@router.post("/logout", status_code=204)
async def logout(request: Request, response: Response, web: WebDep, _: Auth) -> None:
    """End this browser's session (POST only, with the CSRF token)."""
    secret = session_secret(web, request)
    if secret is not None:
        await run_in_threadpool(web.app.auth.sign_out, secret)
    response.delete_cookie(COOKIE, path="/")


@router.get("/me")
def me(me: Annotated[Me, Depends(me_of)]) -> Me:
    """The signed-in user, their roles and permissions, and the CSRF token."""
    return me
