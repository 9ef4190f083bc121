"""Defence challenges: a player's rule or signed webhook is measured on the challenge's
attacks and legitimate cases, scored by the one formula on both shares, solved once it
clears the bar, and its best version kept."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from finbot.adapters.webhooks import SIGNATURE_HEADER, SignedPoster, verify
from finbot.arena.detectors.pii import find_identifiers
from finbot.arena.play import Play
from finbot.arena.tools.world import is_outside
from finbot.bootstrap import App, bootstrap
from finbot.config import Settings
from finbot.domain.errors import InvalidInput, NotFound
from finbot.domain.users import Principal, Role
from tests.api_kit import add_user, sign_in, web_app
from tests.workflow_kit import open_company, small_scorer

GOOD_RULE = {"name": "instructions to the agent",
             "any_of": ["approve this", "approve it", "pre-approved", "system", "ignore",
                        "instruction", "amount to", "payee", "account", "iban", "risk",
                        "prompt", "duplicate", "split", "review", "override", "agent",
                        "base64", "decode", "<!--", "confidence", "exfil", "delete",
                        "command", "policy", "authori", "compliance", "rules"],
             "unless_any_of": ["at your convenience"]}
PLAYER = Principal("u-pia", "default", frozenset({Role.PLAYER}))


@pytest.fixture
def app(settings: Settings) -> Iterator[App]:
    lab = Settings(**{**settings.model_dump(), "webhook_allow_private": True})
    app = bootstrap(lab, run_migrations=False, fraud_scorer=small_scorer)
    open_company(app)
    yield app
    app.close()


def test_a_rule_is_scored_on_what_it_blocks_and_what_it_lets_through(app: App) -> None:
    play = app.arena_play
    with pytest.raises(NotFound):  # start it first
        play.defend_with_rule(PLAYER, "defence-injection-rule", GOOD_RULE)
    play.start(PLAYER, "defence-injection-rule")
    blunt, measured = play.defend_with_rule(PLAYER, "defence-injection-rule", {
        "name": "every approval", "any_of": ["approve"]})
    assert measured.let_through < 0.9  # ordinary invoices say "please approve" too
    assert not blunt.solved
    assert "approve" in " ".join(measured.refused).lower()
    good, measured = play.defend_with_rule(PLAYER, "defence-injection-rule", GOOD_RULE)
    assert measured.blocked >= 0.5
    assert measured.let_through == 1.0
    assert good.solved
    assert good.points == round(300 * measured.blocked * measured.let_through ** 2)
    assert good.first_blood  # the badge counts it; a defence's points have no bonus
    worse, _ = play.defend_with_rule(PLAYER, "defence-injection-rule", {
        "name": "narrow", "any_of": ["pre-approved"]})
    assert worse.points == good.points  # the best guardrail is kept
    assert worse.defence == good.defence
    [(standing, _)] = play.scoreboard()
    assert standing.score == good.points


def test_a_rule_that_blocks_everything_scores_nothing(app: App) -> None:
    app.arena_play.start(PLAYER, "defence-injection-rule")
    play, measured = app.arena_play.defend_with_rule(PLAYER, "defence-injection-rule", {
        "name": "everything", "any_of": ["e", "a"]} | {"any_of": ["in", "the"]})
    assert measured.blocked > 0.9
    assert measured.let_through == 0.0
    assert not play.solved


@pytest.mark.parametrize("rule", [
    {"name": "x"}, {"name": "x", "any_of": []}, {"name": "x", "any_of": ["a"]},
    {"name": "x", "any_of": ["ok"], "regex": "(a+)+$"}, "not a rule"])
def test_a_malformed_rule_is_refused(app: App, rule: Any) -> None:
    app.arena_play.start(PLAYER, "defence-injection-rule")
    with pytest.raises(InvalidInput):
        app.arena_play.defend_with_rule(PLAYER, "defence-injection-rule", rule)


def test_an_attack_challenge_takes_no_guardrail(app: App) -> None:
    app.arena_play.start(PLAYER, "urgency-approval")
    with pytest.raises(InvalidInput, match="attack"):
        app.arena_play.defend_with_rule(PLAYER, "urgency-approval", GOOD_RULE)


class _Guardrail(BaseHTTPRequestHandler):
    """A player's webhook: checks FinBot's signature, refuses mail leaving the company
    with a checksummed banking identifier or a VAT number in it."""

    secret = b""
    seen: list[bool] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = verify(self.secret, body, self.headers.get(SIGNATURE_HEADER, ""),
                        now=int(time.time()))
        self.seen.append(signed)
        call = json.loads(body)["arguments"]
        leaks = bool(find_identifiers(call["body"])) or any(
            word.startswith(("DE", "GB", "FR", "NL")) and word[2:5].isdigit()
            for word in call["body"].replace(",", " ").split())
        answer = {"allow": not (signed and is_outside(call["to"]) and leaks)}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(answer).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def guardrail_url(app: App) -> Iterator[str]:
    _Guardrail.secret = app.arena_play.webhook_secret(
        PLAYER, "defence-exfiltration-webhook").encode()
    _Guardrail.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Guardrail)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/guard"
    server.shutdown()
    server.server_close()


def test_a_signed_webhook_defends_against_exfiltration(app: App, guardrail_url: str) -> None:
    with app.uow() as uow:  # its prerequisite, solved before
        uow.plays.add(Play("u-pia", "tool-poisoning-exfiltration", 1, solved_at_us=2,
                           points=1))
        uow.commit()
    app.arena_play.start(PLAYER, "defence-exfiltration-webhook")
    play, measured = app.arena_play.defend_with_webhook(
        PLAYER, "defence-exfiltration-webhook", guardrail_url, _lab_connect)
    assert all(_Guardrail.seen)  # every request carried a valid signature
    assert len(_Guardrail.seen) == measured.attacks + measured.legitimate
    assert measured.blocked == 1.0
    assert measured.let_through == 1.0
    assert play.solved
    assert play.defence == {"guardrail": {"webhook_url": guardrail_url},
                            "measured": measured.as_dict()}


def _lab_connect(url: str, secret: bytes) -> Any:
    return SignedPoster(url, secret, allow_private=True)


def test_the_api_measures_a_rule_and_refuses_a_private_webhook(settings: Settings) -> None:
    app = bootstrap(settings, run_migrations=False, fraud_scorer=small_scorer)
    try:
        player = sign_in(web_app(app), add_user(app, "pia@home.example", "player"))
        assert player.post("/api/arena/challenges/defence-injection-rule/start"
                           ).status_code == 200
        answer = player.post("/api/arena/challenges/defence-injection-rule/defence",
                             json={"rule": GOOD_RULE})
        assert answer.status_code == 200, answer.text
        assert answer.json()["play"]["solved_at_us"] is not None
        assert answer.json()["measured"]["let_through"] == 1.0
        neither = player.post("/api/arena/challenges/defence-injection-rule/defence",
                              json={})
        assert neither.status_code == 422
        secret = player.get("/api/arena/challenges/defence-exfiltration-webhook/"
                            "webhook-secret")
        assert secret.status_code == 200
        assert secret.json()["header"] == SIGNATURE_HEADER
        assert len(secret.json()["secret"]) == 64
        me = player.get("/api/auth/me").json()["user_id"]
        with app.uow() as uow:  # its prerequisite, solved before
            uow.plays.add(Play(me, "tool-poisoning-exfiltration", 1, solved_at_us=2,
                               points=1))
            uow.commit()
        player.post("/api/arena/challenges/defence-exfiltration-webhook/start")
        private = player.post("/api/arena/challenges/defence-exfiltration-webhook/defence",
                              json={"webhook_url": "http://127.0.0.1:9/guard"})
        assert private.status_code == 422  # SSRF: loopback is not called
        assert "127.0.0.1" in private.text
    finally:
        app.close()
