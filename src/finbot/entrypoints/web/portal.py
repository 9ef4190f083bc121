"""The portals' shared parts, server-rendered (Jinja2 + htmx): the templates, the page
helper every page draws through, sign-in and sign-out, and the landing redirect by role.
The vendor portal lives in ``vendor``, the staff portal in ``admin``. Pages ask the
caller's scope exactly as the JSON API does; forms carry the session's CSRF token and,
where money can move, an idempotency key made when the form was drawn, so a double
submit is answered once.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from finbot.domain.clock import utc_datetime
from finbot.domain.errors import FinbotError
from finbot.domain.money import Money
from finbot.domain.users import Permission, Principal
from finbot.entrypoints.api.deps import Auth, WebDep, limited_by_address, sign_in, sign_out

TEMPLATES = Path(__file__).parent / "templates"
router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES))
templates.env.filters["when"] = lambda us: utc_datetime(int(us)).strftime(
    "%Y-%m-%d %H:%M UTC") if us else ""
Form_ = Annotated[str, Form()]


def money_text(amount: Decimal, currency: str) -> str:
    """``amount`` of ``currency`` for a page: grouped digits at the currency's precision
    (``12,000.00 USD``, ``5,000 JPY``), from the Decimal, never a float."""
    money = Money.of(amount, currency)
    return f"{money.amount:,.{money.currency.exponent}f} {money.currency.code}"


templates.env.filters["money"] = money_text


def page(request: Request, name: str, who: Principal | None, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "session", None)
    return templates.TemplateResponse(request, name, {
        "who": who, "csrf": session.csrf_token if session else "",
        "staff": who is not None and who.can(Permission.DECISIONS_READ), **context})


def redirect_with(path: str, notice: str) -> Response:
    """A 303 to ``path`` that shows ``notice`` there (post/redirect/get)."""
    joint = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joint}{urlencode({'notice': notice})}", status_code=303)


@router.get("/login")
def login_page(request: Request, error: str = "") -> HTMLResponse:
    return page(request, "login.html", None, error=error)


@router.post("/login", dependencies=[Depends(limited_by_address("login"))])
async def login_form(request: Request, web: WebDep, email: Form_, password: Form_
                     ) -> Response:
    answer = RedirectResponse("/", status_code=303)
    try:
        await sign_in(web, request, answer, email, password)
    except FinbotError as refused:
        return page(request, "login.html", None, error=refused.message, email=email)
    return answer


@router.post("/logout")
async def logout_form(request: Request, web: WebDep, _: Auth) -> Response:
    answer = RedirectResponse("/login", status_code=303)
    await sign_out(web, request, answer)
    return answer


@router.get("/")
def home(who: Auth) -> Response:
    if who.can(Permission.DECISIONS_READ):
        return RedirectResponse("/admin", status_code=303)
    if who.can(Permission.ARENA_PLAY):
        return RedirectResponse("/arena", status_code=303)
    if who.can(Permission.OWN_VENDORS):
        return RedirectResponse("/vendor", status_code=303)
    return RedirectResponse("/docs", status_code=303)
