"""Self sign-up: anyone may open a vendor user's account in the operating tenant, with no
vendor yet, and is signed in to register one. Passwords follow the sign-in rules
(``domain.users.check_password``) and are hashed with argon2id by ``AuthService``.

There is no session to carry a CSRF token yet, so the form proves it came from this site
twice over: a cross-site ``Origin`` is refused, and the form carries a signed, expiring
token that must match a nonce cookie (SameSite=Strict) set when the form was drawn.
"""

from __future__ import annotations

import hmac
import logging
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from finbot.domain.errors import Conflict, InvalidInput
from finbot.domain.users import MIN_PASSWORD_CHARS, Role
from finbot.entrypoints.api.deps import Web, WebDep, check_origin, limited_by_address, sign_in
from finbot.entrypoints.web.portal import Form_, page

logger = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
NONCE_COOKIE = "finbot_signup"
FORM_TTL_S = 3600
TAKEN = ("This address cannot be used to sign up. If you already have an account, sign "
         "in instead.")
"""Said for an address already in use: that much a sign-up cannot avoid saying; the
address itself is not repeated and nothing else about the account is told."""


@router.get("/signup")
def signup_page(request: Request, web: WebDep) -> HTMLResponse:
    return _form(request, web)


@router.post("/signup", dependencies=[Depends(limited_by_address("login"))])
async def signup(request: Request, web: WebDep, email: Form_, password: Form_,
                 password_again: Form_, form_token: Form_) -> Response:
    """Create a vendor user with no vendor yet, sign them in and send them to register
    their vendor."""
    check_origin(request)
    if not _drawn_here(web, request, form_token):
        return _form(request, web, email=email,
                     error="This form has expired. Please fill it in again.")
    if password != password_again:
        return _form(request, web, email=email, error="The two passwords differ.")
    try:
        await run_in_threadpool(lambda: web.app.auth.create_user(
            email, password, roles=[Role.VENDOR.value], tenant=web.app.settings.home_tenant))
    except Conflict:
        return _form(request, web, error=TAKEN)
    except InvalidInput as refused:
        return _form(request, web, email=email, error=refused.message)
    logger.info("a vendor user signed up")  # who is in the database, not in the logs
    answer = RedirectResponse("/vendor", status_code=303)
    await sign_in(web, request, answer, email, password)
    answer.delete_cookie(NONCE_COOKIE, path="/signup")
    return answer


def _form(request: Request, web: Web, *, email: str = "", error: str = "") -> HTMLResponse:
    """The sign-up form with a fresh nonce: in its cookie and, signed, in the form."""
    nonce = secrets.token_urlsafe(24)
    answer = page(request, "signup.html", None, email=email, error=error,
                  form_token=_signer(web).dumps(nonce), min_password=MIN_PASSWORD_CHARS)
    answer.set_cookie(NONCE_COOKIE, nonce, httponly=True, samesite="strict",
                      secure=web.secure_cookies, path="/signup", max_age=FORM_TTL_S)
    return answer


def _drawn_here(web: Web, request: Request, form_token: str) -> bool:
    """Whether the form was drawn by this site for this browser, within the hour."""
    try:
        nonce = _signer(web).loads(form_token, max_age=FORM_TTL_S)
    except BadSignature:  # SignatureExpired is one
        return False
    cookie = request.cookies.get(NONCE_COOKIE, "")
    return isinstance(nonce, str) and bool(cookie) and hmac.compare_digest(nonce, cookie)


def _signer(web: Web) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(web.app.settings.secret_key.get_secret_value(),
                                  salt="finbot-signup")
