"""Bursts of money requests as a fraud signal.

The hard rate limits refuse a client that sends too much. Below them, a vendor user who
submits invoices or changes bank details faster than a person does (a script, a stolen
token, someone racing the checks) is worth telling the fraud agent about: each money
request a vendor user makes is counted in a moving window, and the first one over the
threshold in a window records a burst against each of the user's vendors and announces it
(``vendor.money_burst``, not pushed to browsers: the vendor is not told). The fraud
agent's velocity rule escalates that vendor's invoices for 24 hours after a burst.

The counts live in the same ``limits`` storage as the rate limits (memory, or Redis when
configured, so every web process counts together).
"""

from __future__ import annotations

from collections.abc import Callable

from limits import RateLimitItemPerSecond, parse, storage, strategies

from finbot.domain.clock import now_us
from finbot.domain.users import Principal
from finbot.services.events import Outbox
from finbot.services.ledger import UowFactory


class MoneyVelocity:
    """Counts vendor users' money requests and records a burst over ``threshold``."""

    def __init__(self, uow: UowFactory, outbox: Outbox, *, threshold: str,
                 storage_uri: str = "memory://",
                 clock: Callable[[], int] = now_us) -> None:
        self._uow = uow
        self._outbox = outbox
        self._clock = clock
        self._threshold = parse(threshold)
        self._window_s = self._threshold.get_expiry()
        self._once = RateLimitItemPerSecond(1, self._window_s)
        counts = storage.storage_from_string(storage_uri)
        self._counter = strategies.MovingWindowRateLimiter(counts)
        self._reported = strategies.FixedWindowRateLimiter(counts)

    def burst(self, who: Principal) -> bool:
        """Count one money request by ``who``: True when it is the first over the
        threshold in its window (a burst to ``record``). Touches only the counters."""
        if not who.vendors or self._counter.hit(self._threshold, "money-burst", who.user_id):
            return False
        return self._reported.hit(self._once, "money-burst-reported", who.user_id)

    def record(self, who: Principal) -> None:
        """Record a burst by ``who`` against each of their vendors and announce it."""
        requests = self._threshold.amount + 1
        with self._uow() as uow:
            for vendor_id in sorted(who.vendors):
                uow.vendors.add_burst(vendor_id, user_id=who.user_id, requests=requests,
                                      window_s=self._window_s, at_us=self._clock())
                self._outbox.emit_in(uow, "vendor.money_burst", vendor_id, {
                    "vendor_id": vendor_id, "requests": requests,
                    "window_s": self._window_s}, tenant=who.tenant)
            uow.commit()
