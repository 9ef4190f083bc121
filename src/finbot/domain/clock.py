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
