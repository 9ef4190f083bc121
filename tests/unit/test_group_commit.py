"""Group commit: concurrent submissions share transactions yet keep their own outcomes."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from finbot.domain.ledger import TransferRequest
from finbot.domain.posting import Group
from finbot.services.group_commit import GroupCommitter


def group(n: int) -> Group:
    return Group([TransferRequest(f"t{n}")])


def test_each_caller_gets_its_own_result_and_calls_are_merged() -> None:
    calls: list[int] = []

    def execute(groups: Sequence[Group]) -> list[str]:
        calls.append(len(groups))
        time.sleep(0.005)
        return [g.requests[0].id for g in groups]

    committer = GroupCommitter(execute)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda n: committer.run(group(n)), range(200)))
    assert results == [f"t{n}" for n in range(200)]
    assert sum(calls) == 200
    assert len(calls) < 200  # some merging happened
    assert max(calls) > 1


def test_a_lone_caller_runs_in_its_own_thread() -> None:
    threads: list[str] = []

    def execute(groups: Sequence[Group]) -> list[int]:
        threads.append(threading.current_thread().name)
        return [1 for _ in groups]

    GroupCommitter(execute).run(group(1))
    assert threads == [threading.current_thread().name]


def test_a_failure_reaches_every_caller_in_the_merge_and_the_next_batch_still_runs() -> None:
    gate = threading.Event()
    attempts: list[int] = []

    def execute(groups: Sequence[Group]) -> list[int]:
        attempts.append(len(groups))
        if len(attempts) == 1:
            gate.wait(2)
            raise RuntimeError("database went away")
        return [0 for _ in groups]

    committer = GroupCommitter(execute)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(committer.run, group(0))
        time.sleep(0.05)
        rest = [pool.submit(committer.run, group(n)) for n in range(1, 4)]
        time.sleep(0.05)
        gate.set()
        with pytest.raises(RuntimeError):
            first.result()
        assert [f.result() for f in rest] == [0, 0, 0]


def test_merges_respect_the_size_cap() -> None:
    sizes: list[int] = []

    def execute(groups: Sequence[Group]) -> list[int]:
        sizes.append(sum(len(g.requests) for g in groups))
        time.sleep(0.002)
        return [0 for _ in groups]

    committer = GroupCommitter(execute, max_transfers=3)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: committer.run(group(n)), range(64)))
    assert max(sizes) <= 3
