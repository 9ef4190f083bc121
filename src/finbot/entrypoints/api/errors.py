"""Domain errors as HTTP answers: one status per error class and one body everywhere,
``{"code", "message", "field"}``, whether the error came from the domain, from request
validation or from the framework itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from finbot.domain.errors import (
    ConfigurationError,
    Conflict,
    ExecutionRefused,
    FinbotError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
)
from finbot.domain.reviews import ConflictOfInterest

STATUS: tuple[tuple[type[FinbotError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (ConflictOfInterest, 403),
    (NotFound, 404),
    (InvalidInput, 422),
    (Conflict, 409),
    (ExecutionRefused, 409),
    (ConfigurationError, 503),
)
"""The first matching class decides; any other FinbotError is a 409 (the request
clashes with the state of things)."""

_HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden",
               404: "not_found", 405: "method_not_allowed", 413: "too_large",
               415: "unsupported_media_type", 429: "rate_limited"}


def _is_page(request: Request) -> bool:
    """A browser page (not the JSON API): unauthenticated visits go to the sign-in page."""
    return request.method == "GET" and not request.url.path.startswith(("/api/", "/ws/"))


def status_of(error: FinbotError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 409)


def body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


class RateLimited(Exception):
    """Raised by a route's limiter when the caller has used up its allowance."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("too many requests")
        self.retry_after_s = retry_after_s


def install(web: FastAPI) -> None:
    """Register the handlers that give every error the one body."""

    @web.exception_handler(FinbotError)
    async def domain_error(request: Request, error: FinbotError) -> Response:
        if isinstance(error, Unauthenticated) and _is_page(request):
            return RedirectResponse("/login", status_code=303)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, Unauthenticated) else None
        return JSONResponse(error.as_dict(), status_code=status_of(error), headers=headers)

    @web.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("body", "query",
                                                                             "path", "header")]
        message = str(first.get("msg", "invalid request"))
        return JSONResponse(body("invalid_input", message, ".".join(where) or None), 422)

    @web.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(error.status_code, "http_error")
        return JSONResponse(body(code, str(error.detail)), error.status_code,
                            headers=getattr(error, "headers", None))

    @web.exception_handler(RateLimited)
    async def rate_limited(_: Request, error: RateLimited) -> JSONResponse:
        return JSONResponse(body("rate_limited", f"too many requests; retry in "
                                 f"{error.retry_after_s} s"), 429,
                            headers={"Retry-After": str(error.retry_after_s)})
