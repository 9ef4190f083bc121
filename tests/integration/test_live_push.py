"""Live push over the authenticated WebSocket: a client sees its tenant's events and no
other tenant's; without a valid token nothing is sent; with Redis, clients of two web
processes both see an event, whichever process it came through."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from finbot.adapters.redis.streams import RedisStreamPublisher
from finbot.arena.play import ARENA_FEED
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.events import Event
from finbot.entrypoints.web.app import create_web_app
from finbot.entrypoints.web.push import UNAUTHORISED, Audience, audience_of, issue_token
from finbot.services.relay import OutboxRelay
from tests.api_kit import add_user, sign_in, web_app
from tests.conftest import REDIS_URL
from tests.workflow_kit import clean_vendor


def emit(app: App, tenant: str, reason: str) -> None:
    with app.uow() as uow:
        app.outbox.emit_in(uow, "breaker.changed", "agent:a", {
            "agent_id": "a", "from_state": "closed", "to_state": "open", "reason": reason},
            tenant=tenant)
        uow.commit()


def keep_emitting(app: App, tenant: str, reason: str, stop: threading.Event) -> None:
    """Until the client has it: the tail starts at the end of history once connected."""
    while not stop.wait(0.1):
        emit(app, tenant, reason)


def receive_reason(socket: Any, app: App, tenant: str, reason: str) -> dict[str, Any]:
    stop = threading.Event()
    emitter = threading.Thread(target=keep_emitting, args=(app, tenant, reason, stop))
    emitter.start()
    try:
        return socket.receive_json()  # type: ignore[no-any-return]
    finally:
        stop.set()
        emitter.join()


def test_a_client_sees_its_tenants_events_only(app: App) -> None:
    web = web_app(app)
    add_user(app, "adam@acme.example", "admin", tenant="acme")
    token = sign_in(web, "adam@acme.example").get("/api/events/token").json()["token"]
    with TestClient(web) as client, client.websocket_connect(
            f"/ws/events?token={token}") as socket:
        emit(app, "globex", "not yours")  # another tenant's, first
        message = receive_reason(socket, app, "acme", "yours")
    assert message["type"] == "breaker.changed"
    assert message["payload"]["reason"] == "yours"  # globex's event never arrived first


@pytest.mark.parametrize("token", [None, "forged", "expired"])
def test_a_socket_without_a_valid_token_is_refused(app: App, token: str | None,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if token == "expired":
        monkeypatch.setattr("finbot.entrypoints.web.push.TOKEN_TTL_S", -1)
        token = issue_token(app, "acme")
    url = "/ws/events" + (f"?token={token}" if token else "")
    with (TestClient(create_web_app(app)) as client,
          pytest.raises(WebSocketDisconnect) as refused,
          client.websocket_connect(url) as socket):
        socket.receive_json()
    assert refused.value.code == UNAUTHORISED


def test_the_token_route_needs_a_signed_in_user(app: App) -> None:
    with TestClient(create_web_app(app), client=("127.0.0.1", 5000)) as client:
        assert client.get("/api/events/token").status_code == 401


def test_a_vendor_users_socket_carries_only_their_vendors_events(app: App) -> None:
    web = web_app(app)
    app.vendor_work.register_vendor(clean_vendor("v-mine"))
    app.vendor_work.register_vendor(clean_vendor("v-theirs"))
    add_user(app, "ann@acme.example", "vendor", vendors=("v-mine",))
    token = sign_in(web, "ann@acme.example").get("/api/events/token").json()["token"]
    with TestClient(web) as client, client.websocket_connect(
            f"/ws/events?token={token}") as socket:
        stop = threading.Event()

        def note(vendor_id: str) -> None:
            with app.uow() as uow:
                app.outbox.emit_in(uow, "vendor.status_changed", vendor_id, {
                    "vendor_id": vendor_id, "status": "active"})
                uow.commit()

        def keep_noting() -> None:
            while not stop.wait(0.1):
                note("v-theirs")
                note("v-mine")
        noting = threading.Thread(target=keep_noting)
        noting.start()
        try:
            message = socket.receive_json()
        finally:
            stop.set()
            noting.join()
    assert message["payload"]["vendor_id"] == "v-mine"


@pytest.mark.redis
def test_clients_of_two_web_processes_both_see_an_event(
        app: App, redis_prefix: tuple[Any, str]) -> None:
    redis_client, prefix = redis_prefix
    settings = Settings(**{**app.settings.model_dump(), "redis_url": REDIS_URL,
                           "events_prefix": prefix})
    first, second = (bootstrap(settings, run_migrations=False) for _ in range(2))
    relay = OutboxRelay(app.uow, RedisStreamPublisher(redis_client, prefix=prefix))
    stop = threading.Event()
    relaying = threading.Thread(target=relay.run, args=(stop,), kwargs={"idle_s": 0.01})
    relaying.start()
    try:
        with TestClient(create_web_app(first)) as one, TestClient(create_web_app(second)) as two:
            token = issue_token(first, "acme")
            with one.websocket_connect(f"/ws/events?token={token}") as a, \
                    two.websocket_connect(f"/ws/events?token={token}") as b:
                got_a = receive_reason(a, app, "acme", "fan-out")
                got_b = receive_reason(b, app, "acme", "fan-out")
    finally:
        stop.set()
        relaying.join()
        first.close()
        second.close()
    assert got_a["payload"]["reason"] == got_b["payload"]["reason"] == "fan-out"


def _event(type_: str, tenant: str, payload: dict[str, Any]) -> Event:
    return Event("e-1", type_, 1, "business", "agg", 1, tenant, 0, "t", payload)


def test_an_arena_players_socket_hears_their_sandbox_and_the_public_feed() -> None:
    """A player's socket (their sandbox's tenant, their sandbox's vendors) hears every arena
    event of their sandbox and the arena's public solves; no one else's sandbox, and a
    vendor user of the operating tenant hears neither the feed nor its findings."""
    player = Audience("arena:u-pia", frozenset({"sbx-v"}), arena=True)
    vendor = Audience("default", frozenset({"v-mine"}))
    progress = _event("arena.progress", "arena:u-pia", {"player_id": "u-pia"})
    theirs = _event("arena.progress", "arena:u-max", {"player_id": "u-max"})
    solved = _event("arena.solved", ARENA_FEED, {"player_id": "u-max"})
    finding = _event("arena.finding", "default", {"finding_id": "f"})
    assert player.sees(progress)
    assert not player.sees(theirs)
    assert player.sees(solved)
    assert not vendor.sees(solved)
    assert not vendor.sees(finding)


def test_a_players_token_carries_the_public_feed(app: App) -> None:
    web = web_app(app)
    add_user(app, "pia@acme.example", "player")
    add_user(app, "ann@acme.example", "vendor")
    for email, hears in (("pia@acme.example", True), ("ann@acme.example", False)):
        token = sign_in(web, email).get("/api/events/token").json()["token"]
        audience = audience_of(app, token)
        assert audience is not None
        assert audience.arena is hears
