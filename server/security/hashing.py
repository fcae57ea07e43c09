"""argon2 work (passwords, PINs) on a pool of threads sized to the CPUs.

Each argon2 computation takes ``memory_cost`` (19 MiB) of C heap. Run on FastAPI's 40 worker
threads, 40 parallel logins took the server from 109 MB to 736 MB, and glibc kept every thread's
arena at that size afterwards. Here only ``WORKERS`` threads ever hash, so at most ``WORKERS`` ×
19 MiB is ever in use (and kept); at most ``WORKERS * QUEUE_PER_WORKER`` callers wait for them,
each for up to ``WAIT_S``; anyone beyond that is told to try again (:class:`HashingBusy`, 503)
instead of piling up.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from cherga.server.errors import ServiceError

__all__ = ["HashingBusy", "WORKERS", "run", "stats"]

T = TypeVar("T")

WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)))
QUEUE_PER_WORKER = 8
WAIT_S = 5.0

_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="cherga-argon2")
_slots = threading.BoundedSemaphore(WORKERS * QUEUE_PER_WORKER)
_count_lock = threading.Lock()
#: argon2 computations run, and callers told to try again (metrics and tests read them).
stats = {"runs": 0, "busy": 0}


class HashingBusy(ServiceError):
    """Too many sign-ins at once: the caller tries again in a moment (503)."""

    status = 503

    def __init__(self) -> None:
        super().__init__("signin_busy", "too many sign-ins at once; try again in a few seconds",
                         params={"retry_after_s": 2})


def run(fn: Callable[..., T], *args: object) -> T:
    """``fn(*args)`` on the hashing pool; :class:`HashingBusy` when too many callers wait already."""
    if threading.current_thread().name.startswith("cherga-argon2"):
        return fn(*args)  # already on the pool (never wait for a slot the caller itself holds)
    if not _slots.acquire(timeout=WAIT_S):
        with _count_lock:
            stats["busy"] += 1
        raise HashingBusy()
    with _count_lock:
        stats["runs"] += 1
    try:
        return _pool.submit(fn, *args).result()
    finally:
        _slots.release()
