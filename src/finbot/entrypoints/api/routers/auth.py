"""Signing in and out, and who the caller is. Sign-in rotates the session (any session
the browser held ends) and answers with the CSRF token the browser sends on writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from finbot.entrypoints.api.deps import (
    Auth,
    WebDep,
    limited_by_address,
    sign_in,
    sign_out,
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
    session = await sign_in(web, request, response, body.email, body.password)
    return me_of(request, session.principal)


@router.post("/logout", status_code=204)
async def logout(request: Request, response: Response, web: WebDep, _: Auth) -> None:
    """End this browser's session (POST only, with the CSRF token)."""
    await sign_out(web, request, response)


@router.get("/me")
def me(me: Annotated[Me, Depends(me_of)]) -> Me:
    """The signed-in user, their roles and permissions, and the CSRF token."""
    return me
