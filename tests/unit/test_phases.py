"""The façade's phase clock: a nested timed call counts in the outer phase only."""

from __future__ import annotations

import time

import pytest

from pytest_podnet.phases import PHASES, PhaseClock, timed


class Checker:
    def __init__(self) -> None:
        self.phases = PhaseClock()

    @timed("probes")
    def probe(self) -> str:
        time.sleep(0.02)
        return "answered"

    @timed("actions")
    def replace(self) -> str:
        time.sleep(0.02)
        return self.probe()


def test_a_nested_call_counts_in_the_outer_phase_only() -> None:
    checker = Checker()

    assert checker.replace() == "answered"

    seconds = checker.phases.seconds
    assert seconds["actions"] >= 0.04
    assert seconds["probes"] == 0.0


def test_phases_add_up_across_calls_and_round_to_the_millisecond() -> None:
    checker = Checker()
    checker.probe()
    checker.probe()

    rounded = checker.phases.rounded()

    assert list(rounded) == list(PHASES)
    assert rounded["probes"] >= 0.04
    assert rounded["probes"] == round(rounded["probes"], 3)


def test_a_failing_call_still_counts_its_time() -> None:
    clock = PhaseClock()

    def failing_read() -> None:
        with clock.timing("observe"):
            time.sleep(0.01)
            raise RuntimeError("the read failed")

    with pytest.raises(RuntimeError):
        failing_read()

    assert clock.seconds["observe"] >= 0.01
    with clock.timing("teardown"):  # the clock is not left nested by the failure
        pass
    assert clock.seconds["teardown"] > 0.0
