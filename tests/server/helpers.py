"""Helpers of the server tests: configurations, a controllable clock, store URLs."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import yaml

from cherga.server.siteconfig import SiteConfig, load_site_config

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "examples" / "demo-office.yaml"
# A Wednesday, 10:00 in Kyiv: the demo office is open.
OPEN_TIME = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
ALL_DAY = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


class Clock:
    """A clock tests move by hand; each reading may advance it by ``tick`` (thread-safe)."""

    def __init__(self, start: dt.datetime = OPEN_TIME, tick: dt.timedelta = dt.timedelta(0)) -> None:
        self.now = start
        self.tick = tick
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self.now += self.tick
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += dt.timedelta(seconds=seconds)


def demo_config() -> SiteConfig:
    return load_site_config(DEMO)


def demo_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data.update(overrides)
    return data


def always_open_yaml(path: Path, **overrides: Any) -> Path:
    """The demo office open around the clock, without daily caps (servers run on the real clock)."""
    overrides.setdefault("closing", {"warn_walk_ins": False})  # round the clock: 23:59 is no closing
    data = demo_dict(hours={"days": ALL_DAY, "breaks": []}, **overrides)
    for s in data["services"]:
        s.pop("daily_cap", None)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def wide_config(services: int = 20, counters: int = 20) -> SiteConfig:
    """``counters`` counters that all serve all ``services`` (maximum contention for "next")."""
    letters = "ABCDEFGHJKLMNOPRSTUVWXYZ"
    svc = [{"id": f"s{i}", "prefix": letters[i % len(letters)] + ("" if i < len(letters) else "A"),
            "names": {"uk": f"Послуга {i}"}} for i in range(services)]
    ctr = [{"id": f"c{i}", "number": str(i + 1), "services": [s["id"] for s in svc]} for i in range(counters)]
    return SiteConfig.model_validate({
        "office": {"id": "wide", "names": {"uk": "Широкий ЦНАП"}},
        "services": svc, "counters": ctr, "hours": {"days": ALL_DAY}, "closing": {"warn_walk_ins": False},
        "priority_categories": [{"id": "veteran", "names": {"uk": "Ветеран"}, "weight": 2}],
    })
