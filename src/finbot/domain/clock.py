"""The wall clock every record's time comes from: integer microseconds since the epoch."""

from __future__ import annotations

import time
from datetime import UTC, datetime

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
"""A day in the microseconds every record's time is kept in."""


def now_us() -> int:
    return time.time_ns() // 1000


def utc_datetime(us: int) -> datetime:
    """A record's time (microseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(us / SECOND_US, UTC)


def daytime_zone() -> str:
    """A time zone where it is now around noon: synthetic vendors (a simulation's, an
    arena sandbox's) keep business hours whenever they are made, so the gate's
    unusual-hours rule stays quiet for them."""
    offset = 12 - datetime.now(UTC).hour
    offset = offset - 24 if offset > 14 else offset + 24 if offset < -12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"
