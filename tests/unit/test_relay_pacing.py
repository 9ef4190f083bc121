"""How the relay paces its rounds: a full batch goes on at once, a partial one lets rows
gather, and an idle relay looks less and less often, up to a bound."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from finbot.domain.events import Outgoing
from finbot.services.relay import OutboxRelay


class _Publisher:
    def publish(self, entries: Sequence[Outgoing]) -> bool:
        raise AssertionError("rounds are scripted; nothing is published")


class _Scripted(OutboxRelay):
    """A relay whose rounds send the scripted row counts, then stop."""

    def __init__(self, sent: list[int], stop: _Stop) -> None:
        super().__init__(lambda: None, _Publisher(), batch=500)  # type: ignore[arg-type,return-value]
        self._sent = sent
        self._stop = stop

    def relay_once(self) -> int:
        if len(self._sent) == 1:
            self._stop.stopped = True
        return self._sent.pop(0)


class _Stop:
    def __init__(self) -> None:
        self.stopped = False
        self.waits: list[float] = []

    def is_set(self) -> bool:
        return self.stopped

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return self.stopped


def _waits(sent: list[int], **pacing: Any) -> list[float]:
    stop = _Stop()
    _Scripted(sent, stop).run(stop, **pacing)  # type: ignore[arg-type]
    return stop.waits


def test_a_full_batch_goes_on_at_once_and_a_partial_one_lets_rows_gather() -> None:
    assert _waits([500, 500, 7], gather_s=0.005) == [0.005]


def test_an_idle_relay_looks_half_as_often_each_time_up_to_a_bound_then_wakes_up() -> None:
    waits = _waits([0, 0, 0, 0, 0, 3, 0], idle_s=0.005, max_idle_s=0.03, gather_s=0.002)
    assert waits == [0.005, 0.01, 0.02, 0.03, 0.03, 0.002, 0.005]
