"""A citizen books at the home office and is served at the mobile office (issue 21).

Two real offices on their own SQLite databases (the central office and the bus of
examples/region): the bus carries a copy of home's bookings (``cherga mobile load-bookings``), checks
the citizen in under the home code, and the region's conflict report, over both offices' logs, says
who (ticket label, booking code), where and what happened at each.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server import auth
from cherga.server.region.conflicts import find_conflicts
from cherga.server.region.mobile import load_home_bookings
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import Clock

REPO = Path(__file__).resolve().parents[2]
REGION = REPO / "examples" / "region"
OPEN = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)  # a Wednesday, 10:00 in Kyiv: both offices open
SLOT = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)  # 14:00 in Kyiv, four hours after the bus opens


class Office:
    def __init__(self, cfg: SiteConfig, db: Path, clock: Clock) -> None:
        self.cfg = cfg
        self.url = sqlite_url(db)
        self.store = Store(self.url)
        self.svc = OfficeService(cfg, self.store, clock=clock)

    def events(self) -> list[dict[str, Any]]:
        return self.store.events(self.cfg.office.id)


@pytest.fixture
def clock() -> Clock:
    return Clock(OPEN)


@pytest.fixture
def home(tmp_path: Path, clock: Clock) -> Office:
    return Office(load_site_config(REGION / "kr-central.yaml"), tmp_path / "central.db", clock)


@pytest.fixture
def bus(tmp_path: Path, clock: Clock) -> Office:
    return Office(load_site_config(REGION / "kr-mobile.yaml"), tmp_path / "bus.db", clock)


def _load(home: Office, bus: Office, clock: Clock) -> None:
    start = dt.datetime(2026, 11, 24, 22, 0, tzinfo=dt.UTC)  # midnight in Kyiv
    load_home_bookings(home.store, bus.store, home=home.cfg, kit=bus.cfg, start=start,
                       end=start + dt.timedelta(days=1), now=clock())


def _serve(office: Office, counter: str) -> None:
    if office.store.staff("olena") is None:
        auth.create_account(office.store, username="olena", role="operator", pin="4821", display_name="Olena")
    for i, action in enumerate((CounterAction.SIGN_IN, CounterAction.NEXT, CounterAction.START, CounterAction.FINISH)):
        office.svc.counter_action(command_id=f"{counter}-{i}", counter=counter, action=action, source="test",
                                  operator="olena" if action is CounterAction.SIGN_IN else None,
                                  authenticated=action is CounterAction.SIGN_IN)


def test_a_home_booking_served_on_the_bus_is_reported_with_both_offices_sides(
        home: Office, bus: Office, clock: Clock) -> None:
    code = home.svc.book_appointment(service="passport", slot=SLOT, source="web")
    other = home.svc.book_appointment(service="residence", slot=SLOT, source="web")
    _load(home, bus, clock)

    # On the bus at 10:00 the citizen shows the code of a 14:00 booking at home: taken, as a walk-in
    # from the bus's own numbers (850-919), never one the central office gives.
    ticket = bus.svc.issue_ticket(command_id="kiosk-1", source="kiosk", appointment_code=code.lower())
    assert ticket.label == "A-850"
    _serve(bus, "m1")
    with pytest.raises(Exception, match="already"):
        bus.svc.issue_ticket(command_id="kiosk-2", source="kiosk", appointment_code=code)

    # Evening: at home the slot ran out unused; the bus never marks a home booking missed itself.
    clock.advance(8 * 3600)
    home.svc.sweep()
    bus.svc.sweep()
    assert {e["data"]["code"] for e in home.events() if e["kind"] == "booking_missed"} == {code, other}
    assert not [e for e in bus.events() if e["kind"] == "booking_missed"]

    (conflict,) = find_conflicts(home.events() + bus.events())
    assert conflict.code == code and conflict.booked_at == "kr-central" and conflict.why == "served_elsewhere"
    served, missed = conflict.acts
    assert (served.office, served.what, served.ticket, served.outcome) == ("kr-mobile", "checked_in", "A-850", "served")
    assert (missed.office, missed.what) == ("kr-central", "missed")
    line = conflict.line()
    assert code in line and "A-850" in line and "kr-central: marked missed" in line
    # The other booking was only missed at home: no conflict, and no personal data anywhere.
    assert other not in {c.code for c in find_conflicts(home.events() + bus.events())}


def test_a_booking_checked_in_at_home_and_on_the_bus_is_reported_twice_used(
        home: Office, bus: Office, clock: Clock) -> None:
    code = home.svc.book_appointment(service="passport", slot=OPEN + dt.timedelta(minutes=30), source="web")
    _load(home, bus, clock)
    on_bus = bus.svc.check_in(command_id="b1", source="kiosk", code=code)
    clock.advance(25 * 60)
    at_home = home.svc.check_in(command_id="h1", source="kiosk", code=code)
    (conflict,) = find_conflicts(bus.events() + home.events())
    assert [(a.office, a.ticket, a.outcome) for a in conflict.acts] == [
        ("kr-mobile", on_bus.label, "waiting"), ("kr-central", at_home.label, "waiting")]
    assert conflict.booked_at == "kr-central"
    assert on_bus.number >= 850 and at_home.number < 850  # two tickets, never the same number


def test_loading_twice_copies_nothing_new_and_leaves_services_the_bus_lacks_at_home(
        home: Office, bus: Office, clock: Clock, tmp_path: Path) -> None:
    home.svc.book_appointment(service="passport", slot=SLOT, source="web")
    start = dt.datetime(2026, 11, 24, 22, 0, tzinfo=dt.UTC)
    first = load_home_bookings(home.store, bus.store, home=home.cfg, kit=bus.cfg, start=start,
                               end=start + dt.timedelta(days=1), now=clock())
    again = load_home_bookings(home.store, bus.store, home=home.cfg, kit=bus.cfg, start=start,
                               end=start + dt.timedelta(days=1), now=clock())
    assert (first.copied, first.already, again.copied, again.already) == (1, 0, 0, 1)
    # The bus without the passport service: the booking stays at home, and the run says so.
    lean = bus.cfg.model_copy(update={"services": [s for s in bus.cfg.services if s.id != "passport"]})
    other = Store(sqlite_url(tmp_path / "lean.db"))
    got = load_home_bookings(home.store, other, home=home.cfg, kit=lean, start=start,
                             end=start + dt.timedelta(days=1), now=clock())
    assert (got.copied, got.skipped) == (0, {"passport": 1})


def test_the_region_command_lists_the_conflict_from_the_regions_database(
        home: Office, bus: Office, clock: Clock) -> None:
    code = home.svc.book_appointment(service="passport", slot=SLOT, source="web")
    _load(home, bus, clock)
    bus.svc.check_in(command_id="b1", source="kiosk", code=code)
    # The region's database holds both logs (the uplink's intake copies the bus's events in as they are).
    with home.store.transaction() as tx:
        for e in bus.events():
            tx.append_event(e["kind"], office=e["office"], at=e["at"], ticket_id=e["ticket_id"],
                            service=e["service"], counter=e["counter"], operator=e["operator"], data=e["data"])
    env = {**os.environ, "CHERGA_LOG_LEVEL": "WARNING"}
    cli = [sys.executable, "-m", "cherga", "mobile", "conflicts", "--db", home.url]
    out = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1, out.stderr
    assert code in out.stdout and "A-850" in out.stdout and "kr-mobile" in out.stdout
    assert "1 booking conflict" in out.stderr
    as_json = subprocess.run(cli + ["--json"], capture_output=True, text=True, env=env, timeout=120)
    row = json.loads(as_json.stdout.splitlines()[0])
    assert row["code"] == code and row["acts"][0]["ticket"] == "A-850"
    later = subprocess.run(cli + ["--since", "2026-11-26"], capture_output=True, text=True, env=env, timeout=120)
    assert later.returncode == 0 and later.stdout == ""
    bad = subprocess.run(cli + ["--since", "yesterday"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip() == "cherga conflicts: --since 'yesterday' is not a day (YYYY-MM-DD)"
