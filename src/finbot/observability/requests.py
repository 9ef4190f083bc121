"""The web app's request context: every HTTP request gets a request id (the caller's
X-Request-ID when it is a plain token, else a new one), echoed in the response, bound to
its log lines, and an ``http.request`` span around it (the trace its work continues; the
caller's own, when it sends a W3C ``traceparent``).

Plain ASGI, so it wraps the whole app without buffering bodies or WebSocket traffic. The
span names the route's template (``/api/invoices/{invoice_id}``), never the query string.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from structlog.contextvars import bound_contextvars

from finbot.observability.tracing import continued, span
from finbot.privacy.redaction import redact_text

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = "x-request-id"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{8,128}")


class RequestContext:
    """ASGI middleware: request id, log context and the ``http.request`` span."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        with continued(_header(scope, "traceparent")), bound_contextvars(
                request_id=request_id), span(
                "http.request", **{"http.request.method": scope["method"],
                                   "finbot.request_id": request_id}) as current:
            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []),
                                          (HEADER.encode(), request_id.encode())]
                    current.set_attribute("http.response.status_code", message["status"])
                await send(message)
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                current.set_attribute("http.route", _route(scope))


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID if it is a plain token of 8 to 128 characters, else a
    new one (a header is the caller's text: it must not smuggle anything into the logs)."""
    sent = _header(scope, HEADER)
    return sent if sent is not None and _ACCEPTED.fullmatch(sent) else uuid.uuid4().hex


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    for key, value in scope.get("headers", ()):
        if key == wanted:
            return str(value.decode("latin-1"))
    return None


def _route(scope: Scope) -> str:
    """The matched route's template, or the path with personal data redacted."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else redact_text(str(scope.get("path", "")))
