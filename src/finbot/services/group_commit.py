"""Group commit: concurrent ledger submissions share one transaction and one fsync.

The first caller to arrive becomes the leader and commits whatever has queued up
meanwhile; when it is done it hands leadership to the oldest waiter, if any. A lone
caller pays no hand-off at all. Each submission keeps its own semantics (a linked group
stays all-or-nothing on its own), because the planner decides group by group.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from finbot.domain.posting import Group

T = TypeVar("T")
Execute = Callable[[Sequence[Group]], list[T]]


@dataclass
class _Entry(Generic[T]):
    group: Group
    done: threading.Event | None = None  # only followers wait; a lone leader needs none
    lead: bool = False
    result: T | None = None
    error: BaseException | None = None


class GroupCommitter(Generic[T]):
    """Runs ``execute`` over merged groups; at most ``max_transfers`` per merge."""

    def __init__(self, execute: Execute[T], *, max_transfers: int = 2000) -> None:
        self._execute = execute
        self._max = max_transfers
        self._lock = threading.Lock()
        self._queue: deque[_Entry[T]] = deque()
        self._leading = False

    def run(self, group: Group) -> T:
        entry: _Entry[T] = _Entry(group)
        with self._lock:
            self._queue.append(entry)
            entry.lead = not self._leading
            if not entry.lead:
                entry.done = threading.Event()
            self._leading = True
        while not entry.lead:
            assert entry.done is not None
            entry.done.wait()
            if entry.result is not None or entry.error is not None:
                return self._outcome(entry)
            entry.done.clear()
        self._lead(entry)
        return self._outcome(entry)

    @staticmethod
    def _outcome(entry: _Entry[T]) -> T:
        if entry.error is not None:
            raise entry.error
        assert entry.result is not None
        return entry.result

    def _lead(self, own: _Entry[T]) -> None:
        batch = self._take()
        try:
            results = self._execute([e.group for e in batch])
        except BaseException as error:  # every waiter must learn the outcome
            for e in batch:
                e.error = error
        else:
            for e, result in zip(batch, results, strict=True):
                e.result = result
        for e in batch:
            if e is not own and e.done is not None:
                e.done.set()
        self._hand_over()

    def _take(self) -> list[_Entry[T]]:
        with self._lock:
            batch = [self._queue.popleft()]
            size = len(batch[0].group.requests)
            while self._queue and size + len(self._queue[0].group.requests) <= self._max:
                entry = self._queue.popleft()
                size += len(entry.group.requests)
                batch.append(entry)
            return batch

    def _hand_over(self) -> None:
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            successor = self._queue[0]
            successor.lead = True
        assert successor.done is not None  # it queued behind a leader, so it waits
        successor.done.set()
