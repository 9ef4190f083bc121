"""Retrying a unit of work that lost a race: the one loop every use case shares."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from finbot.services.ports import TransientConflict

T = TypeVar("T")
MAX_ATTEMPTS = 8


def retrying(action: Callable[[], T], *, attempts: int = MAX_ATTEMPTS,
             give_up_on: type[TransientConflict] | None = None) -> T:
    """Run ``action`` again while it raises TransientConflict, at most ``attempts`` times.

    ``give_up_on`` names a TransientConflict subclass that must propagate at once.
    """
    for attempt in range(attempts):
        try:
            return action()
        except TransientConflict as conflict:
            if (give_up_on is not None and isinstance(conflict, give_up_on)) or (
                    attempt == attempts - 1):
                raise
    raise AssertionError("unreachable")
