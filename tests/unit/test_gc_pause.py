"""The ledger holds off Python's cycle collector while a big batch is planned and committed,
and always hands it back as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from finbot.services.ledger import cyclic_gc_paused


@pytest.fixture(autouse=True)
def collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_on_again_after() -> None:
    with cyclic_gc_paused(True):
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_is_switched_back_on_when_the_batch_fails() -> None:
    with pytest.raises(RuntimeError), cyclic_gc_paused(True):
        raise RuntimeError("the database went away")
    assert gc.isenabled()


def test_a_small_batch_leaves_it_alone() -> None:
    with cyclic_gc_paused(False):
        assert gc.isenabled()


def test_a_caller_that_turned_it_off_keeps_it_off() -> None:
    gc.disable()
    with cyclic_gc_paused(True):
        assert not gc.isenabled()
    assert not gc.isenabled()
