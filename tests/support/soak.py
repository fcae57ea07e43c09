"""How big the soak tests run: ``CHERGA_SOAK=quick`` (the default) or ``CHERGA_SOAK=full``.

A soak test checks a property under load (no ticket called twice, none lost). The quick size still
makes the races happen and runs in `make test` on a busy two-core machine; the full size is the
day-sized run (``make soak`` runs every slow test at it).
"""

from __future__ import annotations

import os
from typing import TypeVar

__all__ = ["FULL", "soak_size"]

T = TypeVar("T")

_MODE = os.environ.get("CHERGA_SOAK", "quick").strip().lower() or "quick"
if _MODE not in ("quick", "full"):
    raise ValueError(f"CHERGA_SOAK={_MODE!r}: use 'quick' (the default) or 'full'")

#: True when the soak tests run at full size
FULL = _MODE == "full"


def soak_size(quick: T, full: T) -> T:
    """``full`` under ``CHERGA_SOAK=full``, else ``quick``."""
    return full if FULL else quick
