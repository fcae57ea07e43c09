"""Heartbeat and telemetry: what a node says about itself every ``heartbeat_s`` seconds.

Reads only what Linux offers without extra packages: CPU temperature from ``/sys/class/thermal``
(absent in containers and on most laptops: then ``None``), free disk of the data directory,
the process's resident memory from ``/proc/self/status``, and the load average. The role adds its
own health dict (printer state, board answering, ...).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cherga.broker_bridge.contract import Role, Telemetry

THERMAL = Path("/sys/class/thermal")
HealthDict = Mapping[str, Any]  # flat values expected; anything else is sent as text


def cpu_temp_c(root: Path = THERMAL) -> float | None:
    """The CPU temperature in °C (the ``cpu-thermal`` zone on a Pi, else the first zone), or None."""
    zones = sorted(root.glob("thermal_zone*"))
    preferred = [z for z in zones if _read(z / "type") in ("cpu-thermal", "x86_pkg_temp", "cpu_thermal")]
    for zone in preferred + zones:
        raw = _read(zone / "temp")
        if raw is not None:
            try:
                return round(int(raw) / 1000.0, 1)
            except ValueError:
                continue
    return None


def disk_free_mb(path: Path) -> float | None:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the data dir may not exist yet: report its file system
    try:
        return round(shutil.disk_usage(probe).free / 2**20, 1)
    except OSError:
        return None


def rss_mb() -> float | None:
    text = _read(Path("/proc/self/status"))
    for line in (text or "").splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024.0, 1)
    return None


def load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


class Heartbeat:
    """Builds :class:`Telemetry` payloads for one node.

    :param clock: monotonic seconds (uptime is measured from construction).
    """

    def __init__(self, node: str, role: Role, data_dir: Path, *, clock: Callable[[], float] = time.monotonic,
                 thermal_root: Path = THERMAL) -> None:
        self.node, self.role, self.data_dir = node, role, data_dir
        self._clock = clock
        self._started = clock()
        self._thermal = thermal_root

    def telemetry(self, health: HealthDict | None = None, outbox: int = 0) -> Telemetry:
        clean: dict[str, str | int | float | bool | None] = {}
        for key, value in (health or {}).items():
            # Telemetry is flat: anything else is shown as text rather than refused.
            clean[str(key)[:40]] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
        return Telemetry(node=self.node, role=self.role, ts=dt.datetime.now(dt.UTC),
                         uptime_s=max(0.0, self._clock() - self._started), cpu_temp_c=cpu_temp_c(self._thermal),
                         disk_free_mb=disk_free_mb(self.data_dir), rss_mb=rss_mb(), load_1m=load_1m(),
                         outbox=outbox, health=clean)
