"""The wall clock every record's time comes from: integer microseconds since the epoch."""

from __future__ import annotations

import time

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
"""A day in the microseconds every record's time is kept in."""


def now_us() -> int:
    return time.time_ns() // 1000
