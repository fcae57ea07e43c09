"""Erlang B and C: closed-form answers for an M/M/c queue, and the staffing they imply.

Used by the simulator's report (how many counters a service needs in an hour to meet a wait
target) and by the analytics pages (staffing advice for managers). Pure arithmetic, no I/O.

Notation: ``c`` open counters, arrivals at rate ``λ`` per second, mean service time ``s``
seconds, offered load ``a = λ·s`` (in Erlangs, i.e. busy counters on average).

* :func:`erlang_b` — blocking probability of M/M/c/c (computed with the stable recursion).
* :func:`erlang_c` — probability that an arriving visitor has to wait in M/M/c.
* :func:`mean_wait_s` — mean wait in the queue, ``Wq = C / (c/s − λ)``.
* :func:`wait_within_share` — ``P(W ≤ t) = 1 − C·exp(−(c − a)·t / s)``.
* :func:`counters_needed` — the fewest counters for which ``P(W ≤ t)`` reaches a target share.
"""

from __future__ import annotations

import math


def erlang_b(c: int, a: float) -> float:
    """Erlang B: the share of arrivals that find all ``c`` servers busy in M/M/c/c with load ``a``."""
    if c < 0:
        raise ValueError("the number of servers cannot be negative")
    if a < 0:
        raise ValueError("the offered load cannot be negative")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: the probability of having to wait in M/M/c with offered load ``a`` Erlangs.

    An overloaded queue (``a ≥ c``) makes everybody wait: the result is 1.
    """
    if c <= 0:
        return 1.0
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def mean_wait_s(c: int, arrival_rate_per_s: float, mean_service_s: float) -> float:
    """Mean time in the queue (before being called) in M/M/c; ``inf`` when overloaded."""
    a = arrival_rate_per_s * mean_service_s
    if a <= 0:
        return 0.0
    if c <= 0 or a >= c:
        return math.inf
    return erlang_c(c, a) * mean_service_s / (c - a)


def wait_within_share(c: int, arrival_rate_per_s: float, mean_service_s: float, t_s: float) -> float:
    """Share of visitors called within ``t_s`` seconds in M/M/c (0 when overloaded)."""
    a = arrival_rate_per_s * mean_service_s
    if a <= 0:
        return 1.0
    if c <= 0 or a >= c:
        return 0.0
    return 1.0 - erlang_c(c, a) * math.exp(-(c - a) * t_s / mean_service_s)


def counters_needed(arrival_rate_per_s: float, mean_service_s: float, *, target_wait_s: float,
                    target_share: float, max_counters: int = 1000) -> int:
    """The fewest open counters with ``P(W ≤ target_wait_s) ≥ target_share``.

    Zero when nobody arrives. Raises :class:`ValueError` if even ``max_counters`` do not suffice.
    """
    if not 0 < target_share < 1:
        raise ValueError("target_share must be between 0 and 1 (exclusive)")
    a = arrival_rate_per_s * mean_service_s
    if a <= 0:
        return 0
    c = max(1, math.floor(a) + 1)  # the queue must at least be stable
    while c <= max_counters:
        if wait_within_share(c, arrival_rate_per_s, mean_service_s, target_wait_s) >= target_share:
            return c
        c += 1
    raise ValueError(f"more than {max_counters} counters needed for a load of {a:.1f} Erlangs")
