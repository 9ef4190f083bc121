"""Playing the arena: the challenge board, starting a challenge, opening hints, the facts
seen in the player's sandbox as events arrive, solves with their score, the scoreboard,
and the trail of an attempt (what the agents saw, what they did, what the gate did).

The facts are observed by the arena-watch consumer (``observe_in``, in its transaction)
on every event of a sandbox tenant whose player has a challenge under way, so a solve is
recorded exactly once, whichever process handled the event. Scores come from the one
formula in ``arena.scoring``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Protocol

from finbot.arena import evaluators
from finbot.arena.challenges import Challenge, load_challenges
from finbot.arena.defence import (
    CASES,
    GUARDRAILS,
    MailCase,
    Measured,
    mail_blocked,
    measure,
    parse_rule,
)
from finbot.arena.evaluators import Fact
from finbot.arena.findings import LEDGER_EFFECT, TRAINING_EFFECT, Finding
from finbot.arena.play import (
    ARENA_FEED,
    Play,
    check_startable,
    complete,
    defended,
    observed,
    with_hint,
)
from finbot.arena.scoring import Solve, Standing, leaderboard, score
from finbot.domain.clock import now_us
from finbot.domain.errors import InvalidInput, NotFound
from finbot.domain.events import Event
from finbot.domain.payments import SagaState
from finbot.domain.users import Permission, Principal, sandbox_player, sandbox_tenant
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.payment_grounds import grounds_of
from finbot.services.ports import UnitOfWork
from finbot.services.retry import retrying

_EFFECTS = frozenset({LEDGER_EFFECT, TRAINING_EFFECT})
"""Findings about money, not detections of an attack."""


@dataclass(frozen=True)
class Entry:
    """One challenge as a player sees it on the board."""

    challenge: Challenge
    play: Play | None
    locked_by: tuple[str, ...]

    @property
    def hints(self) -> list[dict[str, Any]]:
        """Every hint's cost; the text of those opened."""
        opened = self.play.hints_opened if self.play else 0
        return [{"cost": h.cost, "text": h.text if n < opened else None}
                for n, h in enumerate(self.challenge.hints)]


class Webhook(Protocol):
    """A player's guardrail webhook as FinBot calls it (``adapters.webhooks``)."""

    def post(self, body: bytes) -> bytes | None: ...
    def close(self) -> None: ...


class ArenaPlay:
    def __init__(self, uow: UowFactory, *, secret: bytes, outbox: Outbox | None = None,
                 challenges: Sequence[Challenge] | None = None,
                 clock: Callable[[], int] = now_us) -> None:
        """``secret``: the deployment's secret, from which each webhook's signing secret
        is derived."""
        self._uow = uow
        self._secret = secret
        self._outbox = outbox or Outbox(clock=clock)
        self._challenges = {c.id: c for c in (challenges or load_challenges())}
        self._clock = clock

    def challenge(self, challenge_id: str) -> Challenge:
        found = self._challenges.get(challenge_id)
        if found is None:
            raise NotFound(f"no challenge {challenge_id!r}", field="challenge_id")
        return found

    def board(self, player: Principal) -> list[Entry]:
        """Every challenge with the player's play of it and what still locks it."""
        player.require(Permission.ARENA_PLAY)
        with self._uow() as uow:
            plays = {p.challenge_id: p for p in uow.plays.of_player(player.user_id)}
        solved = {c for c, p in plays.items() if p.solved}
        return [Entry(c, plays.get(c.id), tuple(p for p in c.prerequisites if p not in solved))
                for c in self._challenges.values()]

    def start(self, player: Principal, challenge_id: str) -> Play:
        """Start ``challenge_id`` (the same play if started before): from now on the facts
        seen in the player's sandbox count towards it."""
        player.require(Permission.ARENA_PLAY)
        challenge = self.challenge(challenge_id)

        def begin() -> Play:
            with self._uow() as uow:
                found = uow.plays.get(player.user_id, challenge_id)
                if found is not None:
                    return found
                solved = {p.challenge_id for p in uow.plays.of_player(player.user_id)
                          if p.solved}
                check_startable(challenge, solved)
                play = Play(player.user_id, challenge_id, self._clock())
                uow.plays.add(play)
                uow.commit()
            return play
        return retrying(begin)

    def open_hint(self, player: Principal, challenge_id: str) -> tuple[Play, str]:
        """Open the challenge's next hint (it costs its points on the solve): the play
        and the hint's text."""
        player.require(Permission.ARENA_PLAY)
        challenge = self.challenge(challenge_id)

        def open_next() -> Play:
            with self._uow() as uow:
                play = uow.plays.get(player.user_id, challenge_id, lock=True)
                if play is None:
                    raise NotFound("start the challenge before opening its hints",
                                   field="challenge_id")
                opened = with_hint(play, challenge)
                uow.plays.save(opened)
                uow.commit()
            return opened
        play = retrying(open_next)
        return play, challenge.hints[play.hints_opened - 1].text

    def defend_with_rule(self, player: Principal, challenge_id: str, rule: Any
                         ) -> tuple[Play, Measured]:
        """Measure the player's rule (``defence.TextRule`` as JSON) on the challenge's
        cases; the play as kept (see ``play.defended``) and this rule's measure."""
        challenge = self._defence(player, challenge_id, "rule")
        parsed = parse_rule(rule)
        measured = measure(parsed.matches, CASES[str(challenge.solved_when.blocks)](),
                           CASES[str(challenge.solved_when.lets_through)]())
        return self._defended(player, challenge, parsed.model_dump(mode="json"),
                              measured), measured

    def webhook_secret(self, player: Principal, challenge_id: str) -> str:
        """The secret the player's webhook checks FinBot's signatures with (one per player
        and challenge, derived from the deployment's secret: nothing to store or leak)."""
        self._defence(player, challenge_id, "webhook")
        return hmac.new(self._secret, f"webhook:{player.user_id}:{challenge_id}".encode(),
                        hashlib.sha256).hexdigest()

    def defend_with_webhook(self, player: Principal, challenge_id: str, url: str,
                            connect: Callable[[str, bytes], Webhook]) -> tuple[Play, Measured]:
        """Ask the player's webhook about each of the challenge's tool calls (signed with
        ``webhook_secret``; ``connect`` checks the URL and opens the connection) and
        measure its answers."""
        challenge = self._defence(player, challenge_id, "webhook")
        hook = connect(url, self.webhook_secret(player, challenge_id).encode())

        def blocks(case: MailCase) -> bool:
            body = json.dumps({"challenge_id": challenge_id, **case.call()}, sort_keys=True)
            return mail_blocked(hook.post(body.encode()))
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                attacks = CASES[str(challenge.solved_when.blocks)]()
                legitimate = CASES[str(challenge.solved_when.lets_through)]()
                verdicts = list(pool.map(blocks, [*attacks, *legitimate]))
        finally:
            hook.close()
        answered = iter(verdicts)
        measured = measure(lambda _case: next(answered), attacks, legitimate)
        return self._defended(player, challenge, {"webhook_url": url}, measured), measured

    def _defence(self, player: Principal, challenge_id: str, kind: str) -> Challenge:
        player.require(Permission.ARENA_PLAY)
        challenge = self.challenge(challenge_id)
        wanted = GUARDRAILS.get(challenge.surface)
        if wanted is None:
            raise InvalidInput(f"challenge {challenge_id} is an attack: it is solved by "
                               "what the agents do, not by a guardrail", field="challenge_id")
        if wanted != kind:
            raise InvalidInput(f"challenge {challenge_id} is defended with a {wanted}",
                               field="guardrail")
        return challenge

    def _defended(self, player: Principal, challenge: Challenge, guardrail: dict[str, Any],
                  measured: Measured) -> Play:
        def keep() -> Play:
            with self._uow() as uow:
                play = uow.plays.get(player.user_id, challenge.id, lock=True)
                if play is None:
                    raise NotFound("start the challenge before defending it",
                                   field="challenge_id")
                at = self._clock()
                first = not play.solved and uow.plays.solvers(challenge.id) == 0
                kept = defended(replace(play, first_blood=play.first_blood or first),
                                challenge, guardrail, measured, at_us=at,
                                points=lambda p: score(self._solve(p)))
                if not kept.solved:
                    kept = replace(kept, first_blood=False)
                uow.plays.save(kept)
                if kept.solved and not play.solved:
                    self._announce(uow, kept)
                uow.commit()
            return kept
        return retrying(keep)

    def scoreboard(self, *, limit: int = 100) -> list[tuple[Standing, str]]:
        """The leaderboard with each player's display name, best first."""
        with self._uow() as uow:
            solves = uow.plays.solves()
            names = _display_names(uow, solves)
        by_player: dict[str, list[Solve]] = {}
        for play in solves:
            if play.challenge_id in self._challenges:
                by_player.setdefault(play.player_id, []).append(self._solve(play))
        return [(s, names[s.player]) for s in leaderboard(by_player)[:limit]]

    def activity(self, *, limit: int = 30) -> list[dict[str, Any]]:
        """The latest solves across the arena, newest first, with display names."""
        with self._uow() as uow:
            solves = uow.plays.solves(limit=limit)
            names = _display_names(uow, solves)
        return [{"player": names[s.player_id], "player_id": s.player_id,
                 "challenge_id": s.challenge_id,
                 "title": self._challenges[s.challenge_id].title
                 if s.challenge_id in self._challenges else s.challenge_id,
                 "points": s.points, "first_blood": s.first_blood, "at_us": s.solved_at_us}
                for s in solves]

    def trail(self, player: Principal, challenge_id: str, *, limit: int = 50
              ) -> dict[str, Any]:
        """The attempt's trail in the player's sandbox since it started: each decision
        with what the agent saw (its input and the model exchanges), what it did (its
        proposal and tool calls) and what the gate did (mode, rules, outcome); the tool
        calls on the tool servers; the findings."""
        player.require(Permission.ARENA_PLAY)
        challenge = self.challenge(challenge_id)
        tenant = sandbox_tenant(player.user_id)
        with self._uow() as uow:
            play = uow.plays.get(player.user_id, challenge_id)
            if play is None:
                raise NotFound("this challenge was never started", field="challenge_id")
            ids = [f"onboarding:{v.vendor_id}:onboarding"
                   for v in uow.vendors.page(tenant=tenant, limit=limit)]
            ids += [f"invoice:{i.invoice_id}:{step}"
                    for i in uow.invoices.page(tenant=tenant, limit=limit)
                    for step in ("invoice", "fraud", "payment")]
            decisions = sorted((r for d in ids if (r := uow.audit.by_id(d)) is not None
                                and r.created_at >= play.started_at_us),
                               key=lambda r: r.seq)
            calls = [c for c in uow.arena.calls(tenant) if c.at_us >= play.started_at_us]
            findings = [f for f in uow.findings.page(tenant, limit=limit)
                        if f.at_us >= play.started_at_us]
        return {"challenge": challenge.id, "play": _play_json(play, challenge),
                "decisions": [_decision_trail(r.record_id, r.data) for r in decisions],
                "tool_calls": [{"tool": c.tool, "agent_id": c.agent_id,
                                "arguments": c.arguments, "result": c.result,
                                "at_us": c.at_us} for c in calls[-limit:]],
                "findings": [{"detector": f.detector, "severity": f.severity,
                              "detail": f.detail, "at_us": f.at_us} for f in findings]}

    def observe_in(self, uow: UnitOfWork, event: Event, found: Sequence[Finding]) -> None:
        """Count what ``event`` shows towards the challenges its sandbox's player has
        under way; record a solve (and announce it) when a play has every fact."""
        player = sandbox_player(event.tenant)
        if player is None or not uow.plays.of_player(player, unsolved=True):
            return
        facts = facts_of(uow, event)
        if not facts:
            return  # most events show nothing: no play row is locked for them
        under_way = uow.plays.of_player(player, unsolved=True, lock=True)
        sandbox = uow.sandboxes.get(player)
        mode = sandbox.mode.value if sandbox is not None else "governed"
        at = self._clock()
        for play in under_way:
            challenge = self._challenges.get(play.challenge_id)
            if challenge is None:
                continue
            seen = observed(play, challenge, facts, at_us=at, mode=mode)
            if seen == play:
                continue
            self._progress(uow, event.tenant, play, seen)
            if complete(seen, challenge, detected=self._detected(uow, event.tenant, seen,
                                                                 found)):
                seen = self._solved(uow, seen, challenge, at)
            uow.plays.save(seen)

    def _progress(self, uow: UnitOfWork, tenant: str, before: Play, after: Play) -> None:
        for fact, was, now in (("manipulated", before.manipulated, after.manipulated),
                               ("money", before.money, after.money)):
            if was is None and now is not None:
                self._outbox.emit_in(uow, "arena.progress", f"play:{after.challenge_id}", {
                    "player_id": after.player_id, "challenge_id": after.challenge_id,
                    "fact": fact, "mode": now.mode}, tenant=tenant)

    def _detected(self, uow: UnitOfWork, tenant: str, play: Play,
                  found: Sequence[Finding]) -> bool:
        """Whether a detector (not a money check) fired in the sandbox during the play."""
        earlier = uow.findings.page(tenant, limit=200)
        return any(f.detector not in _EFFECTS and f.at_us >= play.started_at_us
                   for f in (*found, *earlier))

    def _solved(self, uow: UnitOfWork, play: Play, challenge: Challenge, at: int) -> Play:
        first = uow.plays.solvers(challenge.id) == 0
        solved = replace(play, solved_at_us=at, first_blood=first)
        solved = replace(solved, points=score(self._solve(solved)))
        self._announce(uow, solved)
        return solved

    def _announce(self, uow: UnitOfWork, solved: Play) -> None:
        """``arena.solved`` on the public feed, with what first blood added."""
        self._outbox.emit_in(uow, "arena.solved", f"play:{solved.challenge_id}", {
            "player_id": solved.player_id, "challenge_id": solved.challenge_id,
            "points": solved.points,
            "first_blood_points": score(self._solve(solved)) - score(
                self._solve(replace(solved, first_blood=False)))}, tenant=ARENA_FEED)

    def _solve(self, play: Play) -> Solve:
        blocked, let_through = play.shares
        return Solve(self._challenges[play.challenge_id], play.hints_opened, play.first_blood,
                     play.solved_at_us or 0, blocked, let_through)


def _display_names(uow: UnitOfWork, plays: Sequence[Play]) -> dict[str, str]:
    """Each player's display name (their id if the user is gone)."""
    return {p: (u.display_name if (u := uow.users.get(p)) else p)
            for p in {play.player_id for play in plays}}


def facts_of(uow: UnitOfWork, event: Event) -> list[Fact]:
    """What ``event`` shows, read from the records it announces."""
    payload = event.payload
    if event.type == "decision.recorded":
        record = uow.audit.by_id(str(payload["decision_id"]))
        return evaluators.of_decision(record.record_id, record.data) if record else []
    if event.type == "payment.settled" and payload["state"] == SagaState.COMPLETED:
        saga = uow.sagas.get(str(payload["payment_id"]))
        if saga is None:
            return []
        _, grounds = grounds_of(uow, saga)
        return evaluators.of_payment(saga.id, [*grounds.checks, grounds.decision])
    if event.type == "vendor.status_changed" and payload["status"] == "active":
        vendor_id = str(payload["vendor_id"])
        record = uow.audit.by_id(f"onboarding:{vendor_id}:onboarding")
        return evaluators.of_vendor_active(vendor_id, record.data if record else None)
    if event.type in ("tool.called", "tool.refused"):  # refused: the gate held
        return evaluators.of_tool_call(event.event_id, str(payload["tool"]),
                                       str(payload["agent_id"]),
                                       evaluators.parsed_arguments(str(payload["arguments"])))
    if event.type == "assistant.replied":
        calls = json.loads(str(payload["tool_calls"]) or "[]")
        return evaluators.of_reply(event.event_id, "communication", str(payload["excerpt"]),
                                   calls, vendor_id=str(payload["vendor_id"]))
    return []


def _play_json(play: Play, challenge: Challenge) -> dict[str, Any]:
    return {"started_at_us": play.started_at_us, "hints_opened": play.hints_opened,
            "manipulated": play.manipulated.as_dict() if play.manipulated else None,
            "money": play.money.as_dict() if play.money else None,
            "money_asked": challenge.solved_when.money is not None,
            "solved_at_us": play.solved_at_us, "points": play.points,
            "first_blood": play.first_blood,
            "defence": dict(play.defence) if play.defence else None}


def _decision_trail(decision_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    proposal = data.get("proposal") or {}
    return {
        "decision_id": decision_id, "stage": data.get("stage"), "agent_id": data.get("agent_id"),
        "saw": {"input": proposal.get("input_snapshot"),
                "model_exchanges": proposal.get("model_exchanges")},
        "did": {"outcome": proposal.get("outcome"), "confidence": proposal.get("confidence"),
                "reasoning": proposal.get("reasoning"),
                "tool_calls": proposal.get("tool_calls")},
        "gate": {"mode": data.get("mode"), "outcome": data.get("outcome"),
                 "rules_fired": [r for r in data.get("rules") or () if r.get("fired")],
                 "training": data.get("training"), "error": data.get("error")},
    }
