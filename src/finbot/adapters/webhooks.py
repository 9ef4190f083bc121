"""Outbound webhooks: signed so the receiver can tell FinBot sent them, and kept from
reaching inside the network FinBot runs in (SSRF).

Each request carries ``X-FinBot-Signature: t=<unix seconds>,v1=<hex>``, the HMAC-SHA256
of ``"<t>.<body>"`` under the shared secret; a receiver recomputes it and refuses a stale
timestamp (a replay). Before connecting, the host is resolved and every address it
resolves to must be public: loopback, private, link-local, multicast, reserved and
unspecified ranges are refused unless the deployment allows private targets (a lab whose
guardrail service runs beside FinBot). Redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx2

from finbot.domain.errors import InvalidInput

SIGNATURE_HEADER = "X-FinBot-Signature"
Resolver = Callable[[str, int], list[str]]


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, body: bytes, header: str, *, now: int, tolerance_s: int = 300
           ) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` within ``tolerance_s`` of now."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, body, timestamp), header)


def _resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port,
                                                                   type=socket.SOCK_STREAM)})


def check_target(url: str, *, allow_private: bool = False,
                 resolve: Resolver = _resolve) -> None:
    """Refuse (InvalidInput, field ``url``) a URL that is not http(s) or whose host
    resolves to an address FinBot must not call."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook URL is http:// or https:// with a host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL carries no credentials", field="url")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(parts.hostname, port)
    except OSError:
        raise InvalidInput(f"cannot resolve {parts.hostname}", field="url") from None
    if not addresses:
        raise InvalidInput(f"{parts.hostname} resolves to no address", field="url")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not allow_private and not ip.is_global:
            raise InvalidInput(f"{parts.hostname} resolves to {ip}, a private or reserved "
                               "address FinBot does not call", field="url")


class SignedPoster:
    """Posts JSON bodies to one checked URL with the signature header."""

    def __init__(self, url: str, secret: bytes, *, allow_private: bool = False,
                 timeout_s: float = 3.0, resolve: Resolver = _resolve,
                 clock: Callable[[], float] = time.time) -> None:
        check_target(url, allow_private=allow_private, resolve=resolve)
        self._url = url
        self._secret = secret
        self._clock = clock
        self._client = httpx2.Client(timeout=timeout_s, follow_redirects=False)

    def post(self, body: bytes) -> bytes | None:
        """The answer's body, or None when the receiver failed, timed out or answered
        other than 2xx."""
        header = signature(self._secret, body, int(self._clock()))
        try:
            answer = self._client.post(self._url, content=body, headers={
                SIGNATURE_HEADER: header, "Content-Type": "application/json"})
        except httpx2.HTTPError:
            return None
        return answer.content if answer.is_success else None

    def close(self) -> None:
        self._client.close()
