"""What the API tests share: the web app over the test's database with a fast password
hash and generous rate limits, users of each role in two tenants, and signed-in clients
that send their CSRF token the way the portals do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from finbot.adapters.db.uow import SqlUnitOfWork
from finbot.bootstrap import App
from finbot.entrypoints.web.app import create_web_app
from finbot.services.auth import AuthService

PASSWORD = "correct horse battery staple"
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
GENEROUS = {kind: "100000/minute" for kind in ("default", "login", "money", "chat", "upload")}


def web_app(app: App, *, limits: dict[str, str] | None = None) -> FastAPI:
    """The web app with a fast hasher and, unless ``limits`` says, no practical limits."""
    app.settings = app.settings.model_copy(update={"rate_limits": limits or GENEROUS})
    app.auth = AuthService(app.uow, session_ttl_s=3600, hasher=FAST,
                           one_read=lambda: SqlUnitOfWork(app.engine, one_read=True))
    return create_web_app(app)


@dataclass
class People:
    """The emails of the users ``add_people`` created, by name."""

    emails: dict[str, str] = field(default_factory=dict)


def add_user(app: App, email: str, *roles: str, vendors: tuple[str, ...] = (),
             tenant: str = "default") -> str:
    app.auth.create_user(email, PASSWORD, roles=list(roles), vendors=list(vendors),
                         tenant=tenant)
    return email


def sign_in(web: FastAPI, email: str, *, address: str = "127.0.0.1") -> TestClient:
    """A client signed in as ``email`` that sends its CSRF token on every request."""
    client = TestClient(web, client=(address, 5000))
    answer = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@contextmanager
def running(web: FastAPI) -> Iterator[TestClient]:
    """An anonymous client with the app's lifespan running (the live push hub)."""
    with TestClient(web, client=("127.0.0.1", 5000)) as client:
        yield client
