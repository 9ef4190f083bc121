"""The simulated world behind the synthetic data: vendor profiles, their legitimate invoices and
bank-detail changes, and the running per-vendor state that payment features are read from.

Kept apart from ``synthetic`` so the fraud patterns there read as a short list of recipes.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from finbot.fraud.dataset import LEGIT, Vendor
from finbot.fraud.features import VENDOR_SIZES, VendorSize

YEAR_DAYS = 365
HISTORY_DAYS = 180
"""Invoices this many days before day 0 are simulated only to give vendors a history."""

_COUNTRIES: tuple[tuple[str, str, float, str], ...] = (
    ("US", "USD", 0.30, "Inc"), ("GB", "GBP", 0.14, "Ltd"), ("DE", "EUR", 0.11, "GmbH"),
    ("FR", "EUR", 0.08, "SARL"), ("NL", "EUR", 0.06, "B.V."), ("IN", "USD", 0.08, "Pvt Ltd"),
    ("PL", "EUR", 0.05, "Sp. z o.o."), ("MX", "USD", 0.05, "S.A. de C.V."),
    ("AE", "USD", 0.04, "LLC"), ("SG", "SGD", 0.04, "Pte Ltd"), ("NG", "USD", 0.02, "Ltd"),
    ("BR", "USD", 0.02, "Ltda"),
)
"""Country, invoicing currency (all two-decimal), share of vendors, legal-form suffix."""
_ADJECTIVES = ("Northern", "Blue", "Summit", "Atlas", "Harbor", "Vertex", "Pioneer", "Granite",
               "Silver", "Cedar", "Apex", "Union")
_NOUNS = ("Logistics", "Supplies", "Consulting", "Systems", "Foods", "Textiles", "Metals",
          "Print", "Energy", "Software", "Freight", "Labs")
_SIZE_WEIGHTS = (0.6, 0.3, 0.1)
_SIZE_MEDIAN_MAJOR = {"small": 600, "medium": 4_000, "large": 25_000}
_SIZE_RATE = {"small": 1.0, "medium": 2.0, "large": 4.0}
_ROLES = ("regular", "seasonal", "dormant")
_ROLE_WEIGHTS = (0.9, 0.05, 0.05)
_SEASON_SPLIT, _SEASON_GAP = 70, 230
"""Seasonal vendors bill on days 0-69 and 300-364: a legitimate gap of over 180 days."""


@dataclass(slots=True)
class Profile:
    """A vendor plus how it behaves: typical amount, spread, cadence and role."""

    vendor: Vendor
    index: int
    role: str
    median_minor: int
    sigma: float
    retainer: bool
    rate: float


@dataclass(frozen=True, slots=True)
class Invoice:
    """An invoice before features exist; ``seq`` breaks same-day ties in creation order."""

    vendor: int
    day: int
    amount_minor: int
    pattern: str
    seq: int


@dataclass(slots=True)
class _Ledger:
    paid: list[tuple[int, int]] = field(default_factory=list)
    sorted_amounts: list[int] = field(default_factory=list)
    paid_accounts: set[int] = field(default_factory=set)


class World:
    """Every profile, invoice and bank change, and what has been paid so far per vendor."""

    def __init__(self, profiles: list[Profile]) -> None:
        self.profiles = profiles
        self.invoices: list[Invoice] = []
        self._bank_changes: dict[int, list[int]] = {}
        self._ledgers: dict[int, _Ledger] = {}

    def add(self, profile: Profile, day: int, amount_minor: int, pattern: str) -> None:
        self.invoices.append(Invoice(profile.index, day, amount_minor, pattern,
                                     len(self.invoices)))

    def change_bank(self, profile: Profile, day: int) -> None:
        bisect.insort(self._bank_changes.setdefault(profile.index, []), day)

    def new_vendor(self, rng: np.random.Generator, *, country: str, created_day: int) -> Profile:
        """A small vendor outside the regular population, such as a shell company."""
        vendor = _vendor(rng, len(self.profiles), country, "small", created_day)
        profile = Profile(vendor, len(self.profiles), "shell", 0, 0.0, False, 0.0)
        self.profiles.append(profile)
        return profile

    def history(self, profile: Profile) -> list[tuple[int, int]]:
        """``(day, amount)`` of every payment made to the vendor so far, oldest first."""
        return self._ledger(profile).paid

    def last_bank_change(self, profile: Profile, day: int) -> int | None:
        changes = self._bank_changes.get(profile.index, [])
        position = bisect.bisect_right(changes, day)
        return changes[position - 1] if position else None

    def median_paid(self, profile: Profile) -> int:
        amounts = self._ledger(profile).sorted_amounts
        if not amounts:
            return 0
        middle = len(amounts) // 2
        return amounts[middle] if len(amounts) % 2 else (amounts[middle - 1] + amounts[middle]) // 2

    def payee_paid_before(self, profile: Profile, day: int) -> bool:
        return self._account(profile, day) in self._ledger(profile).paid_accounts

    def record_paid(self, profile: Profile, invoice: Invoice) -> None:
        ledger = self._ledger(profile)
        ledger.paid.append((invoice.day, invoice.amount_minor))
        bisect.insort(ledger.sorted_amounts, invoice.amount_minor)
        ledger.paid_accounts.add(self._account(profile, invoice.day))

    def _account(self, profile: Profile, day: int) -> int:
        # Each bank-detail change moves payments to a new account, numbered by change count.
        return bisect.bisect_right(self._bank_changes.get(profile.index, []), day)

    def _ledger(self, profile: Profile) -> _Ledger:
        return self._ledgers.setdefault(profile.index, _Ledger())


def _vendor(rng: np.random.Generator, index: int, country: str, size: VendorSize,
            created_day: int) -> Vendor:
    row = next(r for r in _COUNTRIES if r[0] == country)
    name = (f"{_ADJECTIVES[int(rng.integers(len(_ADJECTIVES)))]} "
            f"{_NOUNS[int(rng.integers(len(_NOUNS)))]} {row[3]}")
    return Vendor(f"V{index + 1:05d}", name, country, row[1], size, created_day)


def _created_day(rng: np.random.Generator, role: str) -> int:
    if role == "regular" and rng.random() < 0.15:
        return int(rng.integers(-HISTORY_DAYS, 300))
    return int(rng.integers(-1500, -HISTORY_DAYS))


def make_profiles(rng: np.random.Generator, count: int) -> list[Profile]:
    """``count`` vendors: at least one bills regularly and, given two, one is dormant."""
    shares = np.array([r[2] for r in _COUNTRIES]) / sum(r[2] for r in _COUNTRIES)
    roles = [_ROLES[int(i)] for i in rng.choice(len(_ROLES), size=count, p=_ROLE_WEIGHTS)]
    if "regular" not in roles:
        roles[-1] = "regular"
    if count > 1 and "dormant" not in roles:
        roles[0] = "dormant"
    profiles = []
    for index, role in enumerate(roles):
        country = _COUNTRIES[int(rng.choice(len(_COUNTRIES), p=shares))][0]
        size = VENDOR_SIZES[int(rng.choice(len(VENDOR_SIZES), p=_SIZE_WEIGHTS))]
        vendor = _vendor(rng, index, country, size, _created_day(rng, role))
        median = round(_SIZE_MEDIAN_MAJOR[size] * rng.lognormal(0.0, 0.5) * 100)
        profiles.append(Profile(vendor, index, role, median, float(rng.uniform(0.15, 0.45)),
                                role == "regular" and rng.random() < 0.06,
                                _SIZE_RATE[size] * float(rng.lognormal(0.0, 0.3))))
    return profiles


def _cadence(rng: np.random.Generator, start: int, end: int, count: int) -> list[int]:
    if count <= 0 or end <= start:
        return []
    gap = (end - start) / count
    base = start + (np.arange(count) + rng.uniform(0.2, 0.8)) * gap
    days = np.clip(np.rint(base + rng.normal(0.0, max(1.0, gap * 0.15), count)), start, end - 1)
    return [int(d) for d in days]


def _year_window(profile: Profile) -> tuple[int, int]:
    if profile.role == "dormant":
        return 0, 0
    if profile.role == "seasonal":
        return 0, YEAR_DAYS - _SEASON_GAP
    return max(0, profile.vendor.created_day), YEAR_DAYS


def _history_window(profile: Profile) -> tuple[int, int]:
    if profile.role == "seasonal":
        return _SEASON_SPLIT - YEAR_DAYS + _SEASON_GAP, 0
    end = -10 if profile.role == "dormant" else 0
    return max(-HISTORY_DAYS, profile.vendor.created_day), end


def _amount(rng: np.random.Generator, profile: Profile) -> int:
    if profile.retainer:
        # Retainers bill the same round fee every time, like many real service contracts.
        return max(100, round(profile.median_minor, -4))
    return max(100, round(profile.median_minor * rng.lognormal(0.0, profile.sigma)))


def _vendor_days(rng: np.random.Generator, profile: Profile, count: int) -> list[int]:
    start, end = _history_window(profile)
    history_count = int(rng.poisson(profile.rate * 12 * max(0, end - start) / YEAR_DAYS))
    days = _cadence(rng, start, end, history_count)
    year = _cadence(rng, *_year_window(profile), count)
    if profile.role == "seasonal":
        year = [d if d < _SEASON_SPLIT else d + _SEASON_GAP for d in year]
    return days + year


def legit_invoices(rng: np.random.Generator, world: World, count: int) -> None:
    """``count`` legitimate invoices in the data year, plus unlabelled history before it."""
    spans = [max(0, end - start) for start, end in map(_year_window, world.profiles)]
    weights = np.array([p.rate * s for p, s in zip(world.profiles, spans, strict=True)])
    counts = rng.multinomial(count, weights / weights.sum())
    for profile, n in zip(world.profiles, counts, strict=True):
        for day in _vendor_days(rng, profile, int(n)):
            world.add(profile, day, _amount(rng, profile), LEGIT)


def legit_bank_changes(rng: np.random.Generator, world: World) -> None:
    """Real bank-detail changes for about 6% of active vendors, so a change alone is no proof."""
    for profile in list(world.profiles):
        if profile.role != "dormant" and rng.random() < 0.06:
            world.change_bank(profile, int(rng.integers(max(0, profile.vendor.created_day + 1),
                                                        YEAR_DAYS)))
