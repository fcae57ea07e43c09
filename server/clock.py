"""The server's clock source. The core never reads a clock; the service gets one from here.

``CHERGA_CLOCK_OFFSET_FILE`` names a file holding a number of seconds to add to the system
clock (re-read when it changes). The HIL harness uses it to jump the office over midnight
without touching the machine's clock; the demo can use it to show a morning at night.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path


def system_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OffsetFileClock:
    """UTC now plus the offset in ``path`` (seconds, may be negative or fractional)."""

    def __init__(self, path: str | Path, base: Callable[[], dt.datetime] = system_utc) -> None:
        self.path = Path(path)
        self._base = base
        self._mtime: float | None = None
        self._offset = dt.timedelta(0)

    def offset(self) -> dt.timedelta:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return dt.timedelta(0)
        if mtime != self._mtime:
            text = self.path.read_text().strip()
            try:
                self._offset = dt.timedelta(seconds=float(text or 0))
            except ValueError as exc:
                raise ValueError(f"{self.path}: the clock offset must be a number of seconds, not {text!r}") from exc
            self._mtime = mtime
        return self._offset

    def __call__(self) -> dt.datetime:
        return self._base() + self.offset()


def clock_from_environment() -> Callable[[], dt.datetime]:
    path = os.environ.get("CHERGA_CLOCK_OFFSET_FILE")
    return OffsetFileClock(path) if path else system_utc
