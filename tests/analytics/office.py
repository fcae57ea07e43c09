"""A demo office driven through the real OfficeService (SQLite store), for the page and browser tests.

Monday 23 November 2026, Kyiv time. Olena signs in at counter 1 (passports), Petro at counter 4
(residence) at 08:00, and by 08:40:

* passports: A-001 waited 5 min, served 10 (rated "excellent"); A-002 waited 16, served 14 from
  the call; A-003 still waits since 08:00 (40 min: red);
* residence: C-001 waited 10, served 8; nobody waits (green);
* social payments: K-001 waits since 08:15 (25 min: orange; no counter open for it);
* travel passports: B-001 waits since 08:25 (15 min: yellow).
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cherga.broker_bridge.contract import CounterAction
from cherga.server.app import create_app
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import sqlite_url

KYIV = ZoneInfo("Europe/Kyiv")
DAY = dt.date(2026, 11, 23)
REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = self.at("08:00")

    @staticmethod
    def at(hhmm: str) -> dt.datetime:
        h, m = (int(x) for x in hhmm.split(":"))
        return dt.datetime(DAY.year, DAY.month, DAY.day, h, m, tzinfo=KYIV).astimezone(dt.UTC)

    def set(self, hhmm: str) -> None:
        self.now = self.at(hhmm)

    def __call__(self) -> dt.datetime:
        return self.now


def demo_config() -> SiteConfig:
    return load_site_config(REPO / "examples" / "demo-office.yaml")


def make_app(tmp: Path, clock: Clock) -> Any:
    return create_app(demo_config(), sqlite_url(tmp / "office.db"), clock=clock, sweep_interval=None,
                      demo_accounts=True)


def play_morning(app: Any, clock: Clock) -> None:
    svc = app.state.service
    ids = (f"cmd-{i}" for i in itertools.count())

    def act(counter: str, action: CounterAction, **kw: Any) -> Any:
        return svc.counter_action(command_id=next(ids), counter=counter, action=action, source="test", **kw)

    def issue(service: str) -> None:
        svc.issue_ticket(command_id=next(ids), source="kiosk-1", service=service)

    clock.set("08:00")
    act("c1", CounterAction.SIGN_IN, operator="olena", pin="1111")
    act("c4", CounterAction.SIGN_IN, operator="petro", pin="2222")
    for service in ("passport", "passport", "passport", "residence"):
        issue(service)
    clock.set("08:05")
    act("c1", CounterAction.NEXT)
    clock.set("08:06")
    act("c1", CounterAction.START)
    clock.set("08:10")
    act("c4", CounterAction.NEXT)
    clock.set("08:15")
    issue("social")
    clock.set("08:16")
    act("c1", CounterAction.FINISH)
    act("c1", CounterAction.RATE, score=1)
    act("c1", CounterAction.NEXT)
    clock.set("08:18")
    act("c4", CounterAction.FINISH)
    clock.set("08:25")
    issue("foreign-passport")
    clock.set("08:30")
    act("c1", CounterAction.FINISH)
    clock.set("08:40")
