"""The evidence report's collector pause: nested blocks, and a collector that was already off."""

from __future__ import annotations

import gc

from backend.gcpause import gc_paused


def test_collector_is_off_inside_and_back_on_only_after_the_outermost_block() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_collector_comes_back_on_after_an_error_inside_the_block() -> None:
    try:
        with gc_paused():
            raise ValueError("boom")
    except ValueError:
        pass
    assert gc.isenabled()


def test_a_collector_switched_off_before_the_block_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
