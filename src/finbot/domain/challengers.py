"""Challengers: another version of an agent run beside the champion before it may decide.

A challenger is another agent version and prompt, another model or another fraud model
for one agent. It shadows the champion (decides the same inputs, logged, never executed),
may then decide a fixed share of live traffic (canary) and is promoted only with enough
agreement and the sign-offs of risk, compliance and engineering.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from finbot.domain.errors import Conflict, InvalidInput


class ChallengerState(StrEnum):
    """shadow: decides beside the champion, never executed; canary: decides its share of
    live traffic; promoted: the champion's successor; retired: out of the loop."""

    SHADOW = "shadow"
    CANARY = "canary"
    PROMOTED = "promoted"
    RETIRED = "retired"

    @property
    def active(self) -> bool:
        """Whether the challenger still decides beside the champion."""
        return self in (ChallengerState.SHADOW, ChallengerState.CANARY)


class SignOffRole(StrEnum):
    """The three functions whose sign-off a promotion needs."""

    RISK = "risk"
    COMPLIANCE = "compliance"
    ENGINEERING = "engineering"


class PromotionRefused(Conflict):
    """Raised when a challenger is promoted without the agreement or sign-offs it needs."""

    code = "promotion_refused"


DEFAULT_MIN_AGREEMENT = Decimal("0.98")
DEFAULT_MIN_COUNT = 100


@dataclass(frozen=True)
class Challenger:
    """One challenger of one agent (by agent id): what differs from the champion, where it
    stands, and the bar its promotion must clear. None means "as the champion"."""

    challenger_id: str
    agent_id: str
    state: ChallengerState
    created_at_us: int
    changed_at_us: int
    agent_version: str | None = None
    prompt: str | None = None
    model_name: str | None = None
    fraud_version: str | None = None
    canary_share: Decimal = Decimal(0)
    min_agreement: Decimal = DEFAULT_MIN_AGREEMENT
    min_count: int = DEFAULT_MIN_COUNT
    version: int = 0

    @property
    def breaker_id(self) -> str:
        """The id its decisions carry, so its breaker is its own, never the champion's."""
        return f"{self.agent_id}@{self.challenger_id}"

    def routes(self, subject_id: str) -> bool:
        """Whether this canary decides ``subject_id`` live: the same answer for every
        retry of the same subject, about ``canary_share`` of all subjects."""
        return self.state is ChallengerState.CANARY and canary_bucket(
            self.challenger_id, subject_id) < self.canary_share


@dataclass(frozen=True)
class SignOff:
    """One person's recorded approval of a promotion, in one role."""

    challenger_id: str
    signer: str
    role: SignOffRole
    at_us: int


def canary_bucket(challenger_id: str, subject_id: str) -> Decimal:
    """A number in [0, 1) fixed by the challenger and the subject (SHA-256, not ``hash``,
    which changes between processes)."""
    digest = hashlib.sha256(f"{challenger_id}\x00{subject_id}".encode()).digest()
    return Decimal(int.from_bytes(digest[:8], "big")) / Decimal(2 ** 64)


def share(value: Decimal | float | str, *, field: str) -> Decimal:
    """A share from 0 to 1, or InvalidInput naming ``field``."""
    try:
        parsed = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(f"{field} must be a number from 0 to 1, not {value!r}",
                           field=field) from None
    if not parsed.is_finite() or not 0 <= parsed <= 1:
        raise InvalidInput(f"{field} must be a number from 0 to 1, not {value!r}", field=field)
    return parsed


def missing_roles(sign_offs: Iterable[SignOff]) -> list[SignOffRole]:
    """The roles that have not signed yet, in a fixed order."""
    signed = {s.role for s in sign_offs}
    return [role for role in SignOffRole if role not in signed]


def check_change(challenger: Challenger, to: ChallengerState) -> None:
    """A promoted or retired challenger stays so; anything else may move."""
    if not challenger.state.active:
        raise Conflict(f"challenger {challenger.challenger_id!r} is {challenger.state.value}; "
                       f"it cannot become {to.value}", code="challenger_closed",
                       field="challenger_id")


@dataclass(frozen=True)
class ChallengerPair:
    """One workflow step both decided: the step's own decision id, the champion's and the
    challenger's decision ids, and which of them decided live (shadow: the champion;
    canary: the challenger)."""

    challenger_id: str
    step_decision_id: str
    champion_decision_id: str
    challenger_decision_id: str
    routed: str
    at_us: int
