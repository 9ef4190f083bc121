"""The challenger registry's use cases: add, sign off, canary, promote, retire, roll back,
and the agreement report a promotion is judged by. Every change is an audit record and an
event, written in the change's own transaction."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import replace
from decimal import Decimal
from typing import Any

from finbot.domain.agreement import (
    Agreement,
    Pair,
    Report,
    agreement,
    agreement_report,
    promotion_refusals,
)
from finbot.domain.challengers import (
    DEFAULT_MIN_AGREEMENT,
    DEFAULT_MIN_COUNT,
    Challenger,
    ChallengerPair,
    ChallengerState,
    PromotionRefused,
    SignOff,
    SignOffRole,
    check_change,
    share,
)
from finbot.domain.clock import now_us
from finbot.domain.errors import Conflict, InvalidInput, NotFound
from finbot.services.audit import AuditLog
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory
from finbot.services.ports import TransientConflict, UnitOfWork
from finbot.services.retry import retrying

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,47}$")


class ChallengerService:
    """The registry of challengers (see the module docstring). ``agents``: the agent ids a
    challenger may challenge; ``models``: the model names the router can build;
    ``fraud_versions``: the fraud model versions in the registry."""

    def __init__(self, uow: UowFactory, audit: AuditLog, *, agents: Collection[str],
                 models: Callable[[], Collection[str]],
                 fraud_versions: Callable[[], Collection[str]],
                 outbox: Outbox | None = None, clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._audit = audit
        self._agents = agents
        self._models = models
        self._fraud_versions = fraud_versions
        self._outbox = outbox or Outbox(clock=clock)
        self._clock = clock

    def add(self, agent_id: str, *, by: str, challenger_id: str | None = None,
            agent_version: str | None = None, prompt: str | None = None,
            model_name: str | None = None, fraud_version: str | None = None,
            min_agreement: Decimal | str = DEFAULT_MIN_AGREEMENT,
            min_count: int = DEFAULT_MIN_COUNT) -> Challenger:
        """Register a challenger of ``agent_id`` in shadow; InvalidInput naming what is
        wrong (an unknown agent, model or fraud version; nothing that differs)."""
        self._check_new(agent_id, model_name, fraud_version, prompt, agent_version)
        if min_count < 1:
            raise InvalidInput("min_count must be at least 1", field="min_count")
        now = self._clock()
        challenger = Challenger(
            challenger_id or f"ch-{uuid.uuid4().hex[:10]}", agent_id, ChallengerState.SHADOW,
            now, now, agent_version, prompt, model_name, fraud_version,
            min_agreement=share(min_agreement, field="min_agreement"), min_count=min_count)
        if not _ID.match(challenger.challenger_id):
            raise InvalidInput("a challenger id is 1-48 lower-case letters, digits, '.', '_' "
                               "or '-'", field="challenger_id")
        with self._uow() as uow:
            if uow.challengers.get(challenger.challenger_id) is not None:
                raise Conflict(f"challenger {challenger.challenger_id!r} exists",
                               code="challenger_exists", field="challenger_id")
            uow.challengers.add(challenger)
            self._logged(uow, None, challenger, by=by, reason="registered")
            uow.commit()
        return challenger

    def all(self) -> list[Challenger]:
        with self._uow() as uow:
            return uow.challengers.all()

    def get(self, challenger_id: str) -> Challenger:
        with self._uow() as uow:
            return _found(uow, challenger_id)

    def sign_offs(self, challenger_id: str) -> list[SignOff]:
        with self._uow() as uow:
            _found(uow, challenger_id)
            return uow.challengers.sign_offs(challenger_id)

    def sign(self, challenger_id: str, *, signer: str, role: SignOffRole | str) -> SignOff:
        """Record ``signer``'s sign-off in ``role``; each signer signs a challenger once."""
        if not signer.strip():
            raise InvalidInput("a sign-off names who signs", field="signer")
        sign_off = SignOff(challenger_id, signer.strip(), _role(role), self._clock())
        with self._uow() as uow:
            challenger = _found(uow, challenger_id)
            check_change(challenger, ChallengerState.PROMOTED)
            if not uow.challengers.sign(sign_off):
                raise Conflict(f"{sign_off.signer} has already signed {challenger_id!r}",
                               code="already_signed", field="signer")
            self._audit.append_in(uow, "challenger",
                                  f"challenger:{challenger_id}:sign:{sign_off.signer}", {
                                      "challenger_id": challenger_id, "action": "sign_off",
                                      "signer": sign_off.signer, "role": sign_off.role.value,
                                      "at_us": sign_off.at_us})
            uow.commit()
        return sign_off

    def canary(self, challenger_id: str, canary_share: Decimal | str, *, by: str,
               reason: str) -> Challenger:
        """Let the challenger decide ``canary_share`` of its agent's live traffic."""
        return self._move(challenger_id, ChallengerState.CANARY, by=by, reason=reason,
                          canary_share=share(canary_share, field="share"))

    def retire(self, challenger_id: str, *, by: str, reason: str) -> Challenger:
        return self._move(challenger_id, ChallengerState.RETIRED, by=by, reason=reason)

    def roll_back(self, challenger_id: str, reason: str, *,
                  to: ChallengerState = ChallengerState.SHADOW) -> Challenger:
        """Take a canary out of live traffic (its breaker tripped, or its agreement fell),
        announced as challenger.rolled_back."""
        def announce(uow: UnitOfWork, moved: Challenger) -> None:
            self._outbox.emit_in(uow, "challenger.rolled_back", moved.challenger_id, {
                "challenger_id": moved.challenger_id, "agent_id": moved.agent_id,
                "to_state": moved.state.value, "reason": reason})
        return self._move(challenger_id, to, by="finbot", reason=reason, then=announce)

    def promote(self, challenger_id: str, *, by: str, reason: str) -> Challenger:
        """Make the challenger its agent's live decider; PromotionRefused with every reason
        when its agreement or its sign-offs fall short. Another promoted challenger of the
        same agent is retired."""
        report = self.report(challenger_id)
        with self._uow() as uow:
            challenger = _found(uow, challenger_id)
            refusals = promotion_refusals(challenger, report,
                                          uow.challengers.sign_offs(challenger_id))
        if refusals:
            raise PromotionRefused(f"{challenger_id} cannot be promoted: "
                                   + "; ".join(refusals), field="challenger_id")
        for other in self.all():
            if other.agent_id == challenger.agent_id and (
                    other.state is ChallengerState.PROMOTED):
                self.retire(other.challenger_id, by=by, reason=f"succeeded by {challenger_id}")
        return self._move(challenger_id, ChallengerState.PROMOTED, by=by, reason=reason)

    def report(self, challenger_id: str) -> Report:
        with self._uow() as uow:
            _found(uow, challenger_id)
            pairs = [_pair(uow, p) for p in uow.challengers.pairs(challenger_id)]
        return agreement_report(challenger_id, [p for p in pairs if p is not None])

    def rolling(self, challenger_id: str, *, last: int) -> Agreement:
        """Agreement over the challenger's ``last`` compared steps."""
        with self._uow() as uow:
            pairs = [_pair(uow, p) for p in uow.challengers.pairs(challenger_id, last=last)]
        return agreement(p for p in pairs if p is not None)

    def _check_new(self, agent_id: str, model_name: str | None, fraud_version: str | None,
                   prompt: str | None, agent_version: str | None) -> None:
        if agent_id not in self._agents:
            raise InvalidInput(f"no deciding agent {agent_id!r}; known: "
                               f"{', '.join(sorted(self._agents))}", field="agent")
        if not any((model_name, fraud_version, prompt, agent_version)):
            raise InvalidInput("a challenger must differ from the champion: give an agent "
                               "version and prompt, a model or a fraud model version",
                               field="challenger")
        if model_name is not None and model_name not in (known := self._models()):
            raise InvalidInput(f"no model {model_name!r} among the router's choices; known: "
                               f"{', '.join(sorted(known))}", field="model")
        if fraud_version is not None:
            if agent_id != "fraud":
                raise InvalidInput("only the fraud agent has a fraud model to challenge",
                                   field="fraud_version")
            if fraud_version not in (versions := self._fraud_versions()):
                raise InvalidInput(f"no fraud model {fraud_version!r} in the registry; "
                                   f"known: {', '.join(sorted(versions)) or 'none'}",
                                   field="fraud_version")

    def _move(self, challenger_id: str, to: ChallengerState, *, by: str, reason: str,
              canary_share: Decimal | None = None,
              then: Callable[[UnitOfWork, Challenger], None] | None = None) -> Challenger:
        if not reason.strip():
            raise InvalidInput("a challenger change needs a reason", field="reason")

        def attempt() -> Challenger:
            with self._uow() as uow:
                before = _found(uow, challenger_id)
                check_change(before, to)
                moved = replace(before, state=to, changed_at_us=self._clock(),
                                version=before.version + 1, canary_share=(
                                    before.canary_share if canary_share is None
                                    else canary_share))
                if not uow.challengers.save(moved, expected_version=before.version):
                    raise TransientConflict(f"challenger {challenger_id} moved under us")
                self._logged(uow, before, moved, by=by, reason=reason)
                if then is not None:
                    then(uow, moved)
                uow.commit()
            return moved
        return retrying(attempt)

    def _logged(self, uow: UnitOfWork, before: Challenger | None, after: Challenger, *,
                by: str, reason: str) -> None:
        """The change's audit record and its challenger.changed event."""
        data: dict[str, Any] = {
            "challenger_id": after.challenger_id, "agent_id": after.agent_id,
            "action": "change", "by": by, "reason": reason,
            "from": before.state.value if before else None, "to": after.state.value,
            "canary_share": str(after.canary_share), "agent_version": after.agent_version,
            "model_name": after.model_name, "fraud_version": after.fraud_version,
            "min_agreement": str(after.min_agreement), "min_count": after.min_count}
        if before is None and after.prompt is not None:
            data["prompt"] = after.prompt
        self._audit.append_in(uow, "challenger",
                              f"challenger:{after.challenger_id}:{after.version}", data)
        self._outbox.emit_in(uow, "challenger.changed", after.challenger_id, {
            "challenger_id": after.challenger_id, "agent_id": after.agent_id,
            "from_state": before.state.value if before else "", "to_state": after.state.value,
            "reason": reason})


def _found(uow: UnitOfWork, challenger_id: str) -> Challenger:
    challenger = uow.challengers.get(challenger_id)
    if challenger is None:
        raise NotFound(f"no challenger {challenger_id!r}", code="challenger_unknown",
                       field="challenger_id")
    return challenger


def _role(role: SignOffRole | str) -> SignOffRole:
    try:
        return SignOffRole(role)
    except ValueError:
        raise InvalidInput(f"{role!r} is not a sign-off role; one of: "
                           f"{', '.join(r.value for r in SignOffRole)}", field="role") from None


def _pair(uow: UnitOfWork, stored: ChallengerPair) -> Pair | None:
    """The compared step with both outcomes, its agent, vendor country and amount; None
    if either decision is missing from the log."""
    champion = uow.audit.by_id(stored.champion_decision_id)
    challenger = uow.audit.by_id(stored.challenger_decision_id)
    if champion is None or challenger is None:
        return None
    payment = champion.data.get("payment") or {}
    vendor = uow.vendors.get(str(payment.get("vendor_id", "")))
    return Pair(stored.step_decision_id, stored.champion_decision_id,
                stored.challenger_decision_id,
                str(champion.data.get("agent_id", "")).partition("@")[0],
                str(champion.data["outcome"]), str(challenger.data["outcome"]),
                vendor.country if vendor is not None else "",
                Decimal(str(payment.get("amount", "0"))), str(payment.get("currency", "")),
                stored.routed)
