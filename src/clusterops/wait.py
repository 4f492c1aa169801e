"""The one wait primitive: poll an observation until a predicate holds for a stable window.

Gates, lab readiness and upgrade steps all wait through `wait_until`. The clock and sleep are
injectable so the logic is unit-tested without waiting; tenacity does the retrying.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import tenacity

from clusterops.errors import GateTimeout

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    """What a predicate says of one observation: ok, or the first condition that failed."""

    ok: bool
    reason: str = ""


@dataclass
class _Window:
    since: float | None = None
    held: float | None = None
    last_failure: str = "not observed yet"
    polls: int = 0


@dataclass(frozen=True)
class WaitResult(Generic[T]):
    observation: T
    polls: int
    elapsed: float


def wait_until(
    observe: Callable[[], T],
    judge: Callable[[T], Verdict],
    *,
    timeout: float,
    stable_for: float = 0.0,
    interval: float = 0.5,
    what: str = "condition",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_poll: Callable[[T, Verdict], None] | None = None,
) -> WaitResult[T]:
    """Poll `observe` until `judge` has said ok continuously for `stable_for` seconds.

    A failing verdict resets the stable window. Raises GateTimeout naming the last failed
    condition when `timeout` passes first. Exceptions from `observe` propagate unless they are
    ours to retry (the adapters already retry transient network errors).
    """
    start = clock()
    deadline = start + timeout
    window = _Window()

    def attempt() -> tuple[T, bool]:
        obs = observe()
        verdict = judge(obs)
        window.polls += 1
        if on_poll is not None:
            on_poll(obs, verdict)
        now = clock()
        if not verdict.ok:
            window.since = None
            window.held = None
            window.last_failure = verdict.reason or "condition not met"
            return obs, False
        if window.since is None:
            window.since = now
            window.held = 0.0
        held = now - window.since
        if held >= stable_for:
            return obs, True
        window.held = held
        return obs, False

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda r: not r[1]),
        stop=lambda _rs: clock() + interval > deadline,
        wait=tenacity.wait_fixed(interval),
        sleep=sleep,
    )
    try:
        obs, _ = retrying(attempt)
    except tenacity.RetryError as err:
        detail = f"last failed: {window.last_failure}"
        if window.held is not None:
            detail = f"held for only {window.held:.1f}s of the required {stable_for:g}s; {detail}"
        elapsed = clock() - start
        if elapsed > timeout + max(1.0, interval):  # say so rather than pretend the deadline held
            detail += f"; returned only after {elapsed:.1f}s: an observation overran the deadline"
        raise GateTimeout(f"{what}: timed out after {timeout:g}s; {detail}") from err
    return WaitResult(observation=obs, polls=window.polls, elapsed=clock() - start)


def sample(
    observe: Callable[[], T],
    *,
    duration: float,
    interval: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[T]:
    """Observe every `interval` seconds for `duration` seconds (at least once); return every
    observation, for judgements over time such as a flapping leader."""
    deadline = clock() + duration
    observations = [observe()]
    while clock() + interval <= deadline:
        sleep(interval)
        observations.append(observe())
    return observations
