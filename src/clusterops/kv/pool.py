"""Bounded concurrency for bulk operations: N worker threads over one keep-alive session.

`run_bounded` keeps at most `workers` calls in flight, reports progress through a callback, and
returns one `Outcome` per item in input order. With `stop_on_error`, the first failure stops new
work from starting (calls already in flight finish); the items never started are marked skipped.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Progress = Callable[[int, int], None]

DEFAULT_WORKERS = 16


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    item: T
    result: R | None = None
    error: BaseException | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and not self.skipped


def run_bounded(
    items: Sequence[T],
    fn: Callable[[T], R],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    stop_on_error: bool = False,
) -> list[Outcome[T, R]]:
    total = len(items)
    results: list[Outcome[T, R] | None] = [None] * total
    done = 0
    lock = threading.Lock()
    stop = threading.Event()

    def one(index: int) -> None:
        nonlocal done
        item = items[index]
        if stop.is_set():
            results[index] = Outcome(item, skipped=True)
        else:
            try:
                results[index] = Outcome(item, fn(item))
            except Exception as err:  # noqa: BLE001 - every failure becomes an Outcome
                results[index] = Outcome(item, error=err)
                if stop_on_error:
                    stop.set()
        with lock:
            done += 1
            if progress is not None:
                progress(done, total)

    if total:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, total))) as pool:
            pending: set[Future[None]] = set()
            for index in range(total):
                if len(pending) >= workers * 2:
                    _, pending = wait(pending, return_when=FIRST_COMPLETED)
                pending.add(pool.submit(one, index))
            wait(pending)
    return [r if r is not None else Outcome(items[i], skipped=True) for i, r in enumerate(results)]


def run_streaming(
    items: Iterable[T],
    fn: Callable[[T], R],
    *,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
    total: int | None = None,
) -> Iterator[Outcome[T, R]]:
    """Like `run_bounded`, but yields each outcome in input order as soon as it and those before it are done.

    At most `workers * 4` results are held at any time, so a caller that writes each one out runs in
    memory bounded by the window, not by the number of items (an export of 50,000 secrets).
    """
    window = max(1, workers) * 4
    done = 0
    it = iter(items)

    def call(item: T) -> Outcome[T, R]:
        try:
            return Outcome(item, fn(item))
        except Exception as err:  # noqa: BLE001 - every failure becomes an Outcome
            return Outcome(item, error=err)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        pending: deque[Future[Outcome[T, R]]] = deque()
        for item in it:
            pending.append(pool.submit(call, item))
            if len(pending) >= window:
                break
        while pending:
            outcome = pending.popleft().result()
            for item in it:
                pending.append(pool.submit(call, item))
                break
            done += 1
            if progress is not None:
                progress(done, total if total is not None else done + len(pending))
            yield outcome
