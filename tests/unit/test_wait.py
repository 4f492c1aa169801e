from __future__ import annotations

import pytest

from clusterops.errors import GateTimeout
from clusterops.wait import Verdict, wait_until


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_passes_once_the_predicate_held_for_the_stable_window() -> None:
    clock = FakeClock()
    values = iter([False, True, True, True, True, True, True, True])
    result = wait_until(
        lambda: next(values),
        lambda ok: Verdict(ok, "not yet"),
        timeout=10,
        stable_for=2.0,
        interval=1.0,
        clock=clock,
        sleep=clock.sleep,
    )
    assert result.observation is True
    assert result.polls == 4  # fail at t=0, ok at t=1, 2, 3 (held 2s)
    assert result.elapsed == 3.0


def test_a_failure_resets_the_window_and_the_timeout_names_the_last_failure() -> None:
    clock = FakeClock()
    flips = iter([True, "leader changed", True, "leader changed"] * 10)

    def judge(v: object) -> Verdict:
        return Verdict(v is True, "" if v is True else str(v))

    with pytest.raises(GateTimeout) as err:
        wait_until(
            lambda: next(flips),
            judge,
            timeout=6,
            stable_for=2.0,
            interval=1.0,
            what="gate",
            clock=clock,
            sleep=clock.sleep,
        )
    assert "gate: timed out after 6s" in str(err.value)
    assert "leader changed" in str(err.value)


def test_zero_window_returns_at_the_first_good_observation() -> None:
    clock = FakeClock()
    result = wait_until(lambda: 1, lambda v: Verdict(v == 1), timeout=1, clock=clock, sleep=clock.sleep)
    assert result.polls == 1


def test_a_timeout_overrun_by_a_slow_observation_is_said() -> None:
    clock = FakeClock()

    def slow() -> bool:
        clock.now += 30  # one observation that hung far past the deadline
        return False

    with pytest.raises(GateTimeout) as err:
        wait_until(slow, lambda ok: Verdict(ok, "hung"), timeout=5, interval=1, clock=clock, sleep=clock.sleep)
    assert "returned only after 30.0s: an observation overran the deadline" in str(err.value)
