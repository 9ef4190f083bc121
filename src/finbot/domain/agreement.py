"""How often a challenger decided as the champion did: overall, per segment, as a confusion
matrix, and the decisions where they differed, for a reviewer to read side by side."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from finbot.domain.challengers import Challenger, SignOff, missing_roles

_BANDS = ((Decimal(1_000), "<1k"), (Decimal(10_000), "1k-10k"),
          (Decimal(100_000), "10k-100k"))


@dataclass(frozen=True)
class Pair:
    """The champion's and the challenger's decisions on one workflow step."""

    step_decision_id: str
    champion_decision_id: str
    challenger_decision_id: str
    agent_id: str
    champion: str
    challenger: str
    vendor_country: str
    amount: Decimal
    currency: str
    routed: str
    """shadow: the champion decided live; canary: the challenger did."""

    @property
    def agrees(self) -> bool:
        return self.champion == self.challenger


@dataclass(frozen=True)
class Agreement:
    """How many pairs, and how many of them agreed."""

    count: int
    agreed: int

    @property
    def rate(self) -> Decimal | None:
        return Decimal(self.agreed) / Decimal(self.count) if self.count else None


@dataclass(frozen=True)
class Report:
    """The agreement report of one challenger."""

    challenger_id: str
    overall: Agreement
    segments: dict[str, dict[str, Agreement]]
    confusion: dict[str, dict[str, int]]
    """Champion's outcome → challenger's outcome → how many."""
    disagreements: list[Pair]


def amount_band(amount: Decimal) -> str:
    """The amount's order of magnitude (in its own currency; bands do not convert)."""
    for limit, label in _BANDS:
        if amount < limit:
            return label
    return ">=100k"


_SEGMENTS: dict[str, Callable[[Pair], str]] = {
    "agent": lambda p: p.agent_id,
    "outcome": lambda p: p.champion,
    "vendor_country": lambda p: p.vendor_country or "-",
    "amount_band": lambda p: amount_band(p.amount),
}


def agreement(pairs: Iterable[Pair]) -> Agreement:
    listed = list(pairs)
    return Agreement(len(listed), sum(p.agrees for p in listed))


def agreement_report(challenger_id: str, pairs: Sequence[Pair]) -> Report:
    """The report over ``pairs`` (segments by agent, champion outcome, vendor country and
    amount band)."""
    segments: dict[str, dict[str, Agreement]] = {}
    for name, key in _SEGMENTS.items():
        grouped: dict[str, list[Pair]] = defaultdict(list)
        for pair in pairs:
            grouped[key(pair)].append(pair)
        segments[name] = {value: agreement(group) for value, group in sorted(grouped.items())}
    counts = Counter((p.champion, p.challenger) for p in pairs)
    confusion: dict[str, dict[str, int]] = defaultdict(dict)
    for (champion, challenger), count in sorted(counts.items()):
        confusion[champion][challenger] = count
    return Report(challenger_id, agreement(pairs), segments, dict(confusion),
                  [p for p in pairs if not p.agrees])


def promotion_refusals(challenger: Challenger, report: Report,
                       sign_offs: Sequence[SignOff]) -> list[str]:
    """Why ``challenger`` may not be promoted yet; empty when it may."""
    reasons = []
    overall = report.overall
    if overall.count < challenger.min_count:
        reasons.append(f"only {overall.count} paired decisions; promotion needs at least "
                       f"{challenger.min_count}")
    if overall.rate is None or overall.rate < challenger.min_agreement:
        shown = "none" if overall.rate is None else f"{overall.rate:.2%}"
        reasons.append(f"agreement {shown} is below the required "
                       f"{challenger.min_agreement:.2%}")
    if missing := missing_roles(sign_offs):
        reasons.append("sign-off missing from " + ", ".join(r.value for r in missing))
    return reasons


def report_json(report: Report) -> dict[str, Any]:
    """The report as plain JSON values (rates as strings, exact)."""
    return {
        "challenger_id": report.challenger_id,
        "overall": _agreement_json(report.overall),
        "segments": {name: {value: _agreement_json(a) for value, a in values.items()}
                     for name, values in report.segments.items()},
        "confusion": report.confusion,
        "disagreements": [{
            "step_decision_id": p.step_decision_id, "routed": p.routed,
            "champion_decision_id": p.champion_decision_id, "champion": p.champion,
            "challenger_decision_id": p.challenger_decision_id, "challenger": p.challenger,
            "agent_id": p.agent_id, "vendor_country": p.vendor_country,
            "amount": str(p.amount), "currency": p.currency} for p in report.disagreements],
    }


def _agreement_json(agreed: Agreement) -> dict[str, Any]:
    rate = agreed.rate
    return {"count": agreed.count, "agreed": agreed.agreed,
            "rate": None if rate is None else str(rate.quantize(Decimal("0.0001")))}
