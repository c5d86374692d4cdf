"""Run a few transfers at once, delivering their events on the caller's thread.

Front ends (rich progress bars, notebook widgets) are then never called from a worker thread.
The first failure stops the others at their next progress report, and is raised.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from ..events import Event, EventSink

__all__ = ["Cancelled", "run_parallel"]

T = TypeVar("T")


class Cancelled(Exception):
    """Raised in a worker when another transfer failed."""


def run_parallel(
    jobs: Sequence[Callable[[EventSink], T]], workers: int, on_event: EventSink
) -> list[T]:
    """Run ``jobs`` (each gets an ``emit`` for its events) on ``workers`` threads."""
    events: queue.Queue[Event] = queue.Queue()
    stop = threading.Event()

    def emit(event: Event) -> None:
        if stop.is_set():
            raise Cancelled()
        events.put(event)

    def drain() -> None:
        while True:
            try:
                on_event(events.get_nowait())
            except queue.Empty:
                return

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nbd-xfer") as pool:
        futures: list[Future[T]] = [pool.submit(job, emit) for job in jobs]
        pending: set[Future[T]] = set(futures)
        try:
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                drain()
                if any(f.exception() is not None for f in done):
                    stop.set()
        except BaseException:
            stop.set()
            raise
        finally:
            if stop.is_set():
                for f in futures:
                    f.cancel()
    drain()
    errors = [
        f.exception()
        for f in futures
        if not f.cancelled()
        and f.exception() is not None
        and not isinstance(f.exception(), Cancelled)
    ]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return [f.result() for f in futures]
