"""Seeded synthetic vendor payments with injected fraud, so the model can be trained and tested
without real customer data; the same arguments always give a byte-identical dataset.

Legitimate behaviour: each vendor has a typical amount (lognormal around a size-dependent
median) and invoices on a roughly regular, monthly-like cadence. Some vendors bill a fixed
round retainer, some are seasonal (a legitimate gap of over 180 days), some change bank
details for real, and some are new during the year, so no single red flag is proof of fraud.

Fraud patterns, injected until ``fraud_rate`` of the payments are fraud:

========================  ================================================================
``payee_redirect``        Bank details of an established vendor change a few days before an
                          ordinary-looking invoice (0.8-2.5x usual) paid to the new account.
``duplicate``             An earlier invoice's exact amount is billed again 1-14 days later.
``split_under_limit``     2-4 invoices from one vendor within three days, each just under
                          the approval limit (structuring to dodge a second approver).
``inflated``              An established vendor bills 3-8x its usual amount.
``shell_vendor``          A vendor created days earlier, often in a higher-risk country,
                          bills 1-3 high, round amounts (multiples of 1,000).
``dormant_reactivation``  A vendor silent for over 180 days bills 1.5-5x its usual amount,
                          half the time right after a bank-detail change.
========================  ================================================================
"""

from __future__ import annotations

import numpy as np

from finbot.fraud.dataset import LEGIT, Dataset, Payment
from finbot.fraud.features import PaymentContext, just_under_limit
from finbot.fraud.simulation import (
    YEAR_DAYS,
    Invoice,
    Profile,
    World,
    legit_bank_changes,
    legit_invoices,
    make_profiles,
)

PATTERNS: tuple[str, ...] = (
    "payee_redirect",
    "duplicate",
    "split_under_limit",
    "inflated",
    "shell_vendor",
    "dormant_reactivation",
)
APPROVAL_LIMIT_MINOR = 1_000_000
"""The approval limit the structuring pattern stays under: 10,000.00 major units."""

_SHELL_COUNTRIES = ("NG", "AE", "MX", "IN", "BR", "US", "GB")
_DORMANT_FROM_DAY = 190
"""Dormant vendors last billed before day 0, so any later day is a gap of over 180 days."""


def generate(*, vendors: int, invoices: int, fraud_rate: float, seed: int,
             approval_limit_minor: int = APPROVAL_LIMIT_MINOR) -> Dataset:
    """``invoices`` payments over one year from ``vendors`` vendors (plus shell vendors).

    Exactly ``round(invoices * fraud_rate)`` payments are fraud. Payments are in day order.
    """
    if vendors < 1 or invoices < 1 or not 0.0 <= fraud_rate < 1.0:
        raise ValueError("need vendors >= 1, invoices >= 1 and 0 <= fraud_rate < 1")
    rng = np.random.default_rng(seed)
    n_fraud = round(invoices * fraud_rate)
    world = World(make_profiles(rng, vendors))
    legit_invoices(rng, world, invoices - n_fraud)
    legit_bank_changes(rng, world)
    _inject_fraud(rng, world, n_fraud, approval_limit_minor)
    payments = _materialise(world, approval_limit_minor)
    provenance = {"generator": __name__, "vendors": vendors, "invoices": invoices,
                  "fraud_rate": fraud_rate, "seed": seed,
                  "approval_limit_minor": approval_limit_minor}
    return Dataset.of([p.vendor for p in world.profiles], payments, provenance=provenance)


def _inject_fraud(rng: np.random.Generator, world: World, n_fraud: int, limit: int) -> None:
    injected = 0
    order = rng.permutation(len(PATTERNS))
    event = 0
    while injected < n_fraud:
        if event and event % len(PATTERNS) == 0:
            order = rng.permutation(len(PATTERNS))
        pattern = PATTERNS[int(order[event % len(PATTERNS)])]
        injected += _INJECTORS[pattern](rng, world, n_fraud - injected, limit)
        event += 1


def _established(rng: np.random.Generator, world: World) -> Profile:
    pool = [p for p in world.profiles if p.role == "regular" and p.vendor.created_day < -30]
    return pool[int(rng.integers(len(pool)))] if pool else world.profiles[0]


def _usual(rng: np.random.Generator, profile: Profile, low: float, high: float) -> int:
    return max(100, round(profile.median_minor * rng.uniform(low, high)))


def _redirect(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    profile = _established(rng, world)
    day = int(rng.integers(14, YEAR_DAYS))
    # The fraudster's invoice is the first paid to the new account, so no real one lands between.
    last_paid = max((i.day for i in world.invoices if i.vendor == profile.index and i.day < day),
                    default=day - 14)
    world.change_bank(profile, max(day - int(rng.integers(1, 12)), last_paid + 1))
    world.add(profile, day, _usual(rng, profile, 0.8, 2.5), "payee_redirect")
    return 1


def _duplicate(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    originals = [i for i in world.invoices
                 if i.pattern == LEGIT and 0 <= i.day < YEAR_DAYS - 14]
    if not originals:
        return _inflated(rng, world, room, limit)
    original = originals[int(rng.integers(len(originals)))]
    profile = world.profiles[original.vendor]
    world.add(profile, original.day + int(rng.integers(1, 15)), original.amount_minor,
              "duplicate")
    return 1


def _split(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    profile = _established(rng, world)
    parts = min(room, int(rng.integers(2, 5)))
    day = int(rng.integers(0, YEAR_DAYS - 3))
    for offset in sorted(int(o) for o in rng.integers(0, 3, size=parts)):
        amount = int(rng.integers(limit * 90 // 100, limit * 995 // 1000))
        world.add(profile, day + offset, amount, "split_under_limit")
    return parts


def _inflated(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    profile = _established(rng, world)
    world.add(profile, int(rng.integers(0, YEAR_DAYS)), _usual(rng, profile, 3.0, 8.0),
              "inflated")
    return 1


def _shell(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    day = int(rng.integers(30, YEAR_DAYS - 20))
    country = str(rng.choice(_SHELL_COUNTRIES))
    profile = world.new_vendor(rng, country=country, created_day=day - int(rng.integers(0, 30)))
    parts = min(room, int(rng.integers(1, 4)))
    for n in range(parts):
        amount = int(rng.integers(5, 50)) * 1_000 * 100
        world.add(profile, day + 7 * n + int(rng.integers(0, 3)), amount, "shell_vendor")
    return parts


def _dormant(rng: np.random.Generator, world: World, room: int, limit: int) -> int:
    dormant = [p for p in world.profiles if p.role == "dormant"]
    if not dormant:
        return _inflated(rng, world, room, limit)
    billed = {i.vendor for i in world.invoices if i.day >= 0}
    pool = [p for p in dormant if p.index not in billed] or dormant
    profile = pool[int(rng.integers(len(pool)))]
    day = int(rng.integers(_DORMANT_FROM_DAY, YEAR_DAYS))
    if rng.random() < 0.5:
        world.change_bank(profile, day - int(rng.integers(1, 10)))
    world.add(profile, day, _usual(rng, profile, 1.5, 5.0), "dormant_reactivation")
    return 1


_INJECTORS = {
    "payee_redirect": _redirect,
    "duplicate": _duplicate,
    "split_under_limit": _split,
    "inflated": _inflated,
    "shell_vendor": _shell,
    "dormant_reactivation": _dormant,
}


def _materialise(world: World, limit: int) -> list[Payment]:
    payments: list[Payment] = []
    for invoice in sorted(world.invoices, key=lambda i: (i.day, i.seq)):
        profile = world.profiles[invoice.vendor]
        context = _context(world, profile, invoice, limit)
        world.record_paid(profile, invoice)
        if invoice.day >= 0:
            payments.append(Payment(f"INV-{len(payments) + 1:06d}", profile.vendor.id,
                                    invoice.day, context, int(invoice.pattern != LEGIT),
                                    invoice.pattern))
    return payments


def _context(world: World, profile: Profile, invoice: Invoice, limit: int) -> PaymentContext:
    day, amount = invoice.day, invoice.amount_minor
    history = world.history(profile)
    last_change = world.last_bank_change(profile, day)
    return PaymentContext(
        amount_minor=amount,
        currency=profile.vendor.currency,
        vendor_country=profile.vendor.country,
        vendor_age_days=max(0, day - profile.vendor.created_day),
        days_since_bank_change=None if last_change is None else day - last_change,
        invoices_last_7d=sum(1 for d, _ in history if d > day - 7),
        vendor_median_amount_minor=world.median_paid(profile),
        days_since_last_invoice=day - history[-1][0] if history else None,
        payee_paid_before=world.payee_paid_before(profile, day),
        amount_just_under_limit=just_under_limit(amount, limit),
        same_amount_count_30d=sum(1 for d, a in history if d >= day - 30 and a == amount),
        vendor_size=profile.vendor.size,
    )
