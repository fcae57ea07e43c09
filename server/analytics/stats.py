"""Small, exact statistics the reports use (so a test can compute the same numbers by hand).

* mean: arithmetic mean; median: the middle value, or the mean of the two middle values;
* p90: the nearest-rank 90th percentile (the value at rank ⌈0.9·n⌉ of the sorted values);
* over 15 minutes: the share of waits strictly longer than 15 minutes (900 s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

OVER_S = 15 * 60


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, ``q`` in (0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def share_over(values: Sequence[float], limit_s: float = OVER_S) -> float | None:
    """Percent of values strictly above ``limit_s``."""
    if not values:
        return None
    return 100.0 * sum(1 for v in values if v > limit_s) / len(values)


def minutes(seconds: float | None) -> float | None:
    """Seconds as minutes, rounded to 0.01 (what tables show and exports carry)."""
    return None if seconds is None else round(seconds / 60, 2)
