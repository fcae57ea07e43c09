"""Wait for something to happen: poll a condition until it holds or a generous deadline passes.

Correctness tests wait for the event, never for a guessed speed: the deadline only bounds how long a
failing test hangs, so it is generous (a loaded two-core machine runs several suites at once) and a
passing test returns as soon as the condition holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["WAIT_S", "wait_until"]

T = TypeVar("T")

#: how long a test waits for something it expects, by default (seconds)
WAIT_S = 30.0


def wait_until(predicate: Callable[[], T | None], timeout: float = WAIT_S, *,
               what: str | Callable[[], str] = "condition", ignoring: tuple[type[Exception], ...] = ()) -> T:
    """Poll ``predicate`` until it returns something truthy and return that.

    Polls every 10 ms at first, backing off to 200 ms, so a quick condition is seen at once and a
    long wait does not load the machine. Exceptions of the types in ``ignoring`` count as "not yet"
    (e.g. a node's control socket that is not up). Past ``timeout`` seconds the test fails with an
    :class:`AssertionError` naming ``what`` (a callable is asked only then: e.g. a log's tail as it is at the
    deadline) and the predicate's last answer.
    """
    deadline = time.monotonic() + timeout
    interval = 0.01
    last: object = None
    while True:
        try:
            value = predicate()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said} not reached within {timeout:g} s (last: {last!r})")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.2)
