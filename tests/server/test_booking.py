"""Online booking as a visitor meets it: the free slots offered, a slot filling up, refusals, cancelling."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherga.server.app import create_app
from cherga.server.core.booking import day_grid
from cherga.server.errors import Conflict, Invalid, NotFound
from cherga.server.service import OfficeService
from cherga.server.siteconfig import Hours, SiteConfig
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import Clock, demo_dict

KYIV = ZoneInfo("Europe/Kyiv")
WED = dt.date(2026, 11, 25)  # the clock starts at 10:00 Kyiv on this Wednesday


def _service(store: Store, clock: Clock, **appointments: object) -> OfficeService:
    data = demo_dict(appointments={"slot_min": 30, **appointments})
    data["hours"]["breaks"] = [{"start": "13:00", "end": "13:45"}]
    for s in data["services"]:
        if s["id"] == "driver":
            s["booking_per_slot"] = 0
        if s["id"] == "notary":
            s["booking_per_slot"] = 2
    return OfficeService(SiteConfig.model_validate(data), store, clock=clock)


def _at(day: dt.date, hh: int, mm: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=KYIV)


def test_the_grid_keeps_every_slot_inside_opening_hours_and_out_of_breaks() -> None:
    hours = Hours.model_validate({"days": {"wed": [{"start": "08:00", "end": "17:00"}]},
                                  "breaks": [{"start": "13:00", "end": "13:45"}]})
    starts = [f"{t:%H:%M}" for t in day_grid(hours, WED, KYIV, 30)]
    assert starts[0] == "08:00" and starts[-1] == "16:30"
    # 12:30–13:00 ends as the break starts; 13:00 and 13:30 would run into it; 14:00 is after it.
    assert "12:30" in starts and "13:00" not in starts and "13:30" not in starts and "14:00" in starts
    assert day_grid(hours, WED + dt.timedelta(days=4), KYIV, 30) == []  # Sunday: closed


def test_free_slots_start_after_now_and_a_booked_slot_leaves_the_list(sqlite_store: Store, clock: Clock) -> None:
    svc = _service(sqlite_store, clock)
    slots = svc.free_slots("passport", WED)
    assert slots[0].start == _at(WED, 10, 30) and slots[-1].start == _at(WED, 19, 30)
    assert _at(WED, 13, 0) not in [s.start for s in slots]  # the lunch break
    code = svc.book_appointment(service="passport", slot=_at(WED, 11), source="web")
    assert len(code) == 9 and code[4] == "-"
    assert _at(WED, 11) not in [s.start for s in svc.free_slots("passport", WED)]
    with pytest.raises(Conflict) as exc:
        svc.book_appointment(service="passport", slot=_at(WED, 11), source="web")
    assert exc.value.key == "slot_full"
    # Another service has its own places at the same time.
    svc.book_appointment(service="residence", slot=_at(WED, 11), source="web")


def test_a_service_may_take_several_visitors_per_slot_or_none(sqlite_store: Store, clock: Clock) -> None:
    svc = _service(sqlite_store, clock)
    svc.book_appointment(service="notary", slot=_at(WED, 15), source="web")
    assert next(s for s in svc.free_slots("notary", WED) if s.start == _at(WED, 15)).free == 1
    svc.book_appointment(service="notary", slot=_at(WED, 15), source="web")
    with pytest.raises(Conflict):
        svc.book_appointment(service="notary", slot=_at(WED, 15), source="web")
    assert svc.free_slots("driver", WED) == []
    with pytest.raises(Conflict) as exc:
        svc.book_appointment(service="driver", slot=_at(WED, 15), source="web")
    assert exc.value.key == "booking_closed"


@pytest.mark.parametrize(("slot", "key"), [
    (_at(WED, 11, 10), "not_a_slot"),  # off the 30-minute grid
    (_at(WED, 21), "not_a_slot"),  # after closing
    (_at(WED, 13, 30), "not_a_slot"),  # runs into the lunch break
    (_at(WED, 9, 30), "slot_in_past"),
    (_at(WED + dt.timedelta(days=30), 10), "slot_too_far"),
    (dt.datetime(2026, 11, 25, 11, 0), "naive_time"),
])
def test_a_time_that_is_not_a_free_slot_is_refused_with_the_reason(
        sqlite_store: Store, clock: Clock, slot: dt.datetime, key: str) -> None:
    svc = _service(sqlite_store, clock)
    with pytest.raises(Invalid) as exc:
        svc.book_appointment(service="passport", slot=slot, source="web")
    assert exc.value.key == key


def test_cancelling_gives_the_place_back_and_the_code_no_longer_checks_in(sqlite_store: Store, clock: Clock) -> None:
    svc = _service(sqlite_store, clock)
    code = svc.book_appointment(service="passport", slot=_at(WED, 10, 30), source="web")
    svc.cancel_appointment(code=code.lower(), source="web")
    assert _at(WED, 10, 30) in [s.start for s in svc.free_slots("passport", WED)]
    with pytest.raises(Conflict) as exc:
        svc.cancel_appointment(code=code, source="web")
    assert exc.value.key == "appointment_not_booked"
    clock.advance(25 * 60)
    with pytest.raises(Conflict):
        svc.check_in(command_id="k1", source="kiosk", code=code)
    with pytest.raises(NotFound):
        svc.cancel_appointment(code="ZZZZ-ZZZZ", source="web")


def test_a_resent_booking_request_books_once(sqlite_store: Store, clock: Clock) -> None:
    svc = _service(sqlite_store, clock, per_slot=1)
    first = svc.book_appointment(service="passport", slot=_at(WED, 16), source="web", command_id="web-1")
    again = svc.book_appointment(service="passport", slot=_at(WED, 16), source="web", command_id="web-1")
    assert again == first
    assert sqlite_store.appointments_taken("demo", "passport", _at(WED, 16), _at(WED, 17)) == {_at(WED, 16): 1}


def test_a_booking_nobody_came_for_is_marked_missed_and_logged_once(sqlite_store: Store, clock: Clock) -> None:
    svc = _service(sqlite_store, clock)
    code = svc.book_appointment(service="passport", slot=_at(WED, 10, 30), source="web")
    clock.advance(35 * 60)  # 10:35: within the 10-minute grace
    svc.sweep()
    assert [a["status"] for a in svc.appointments_on(WED)] == ["booked"]
    clock.advance(10 * 60)  # 10:45: the grace ran out
    svc.sweep()
    clock.advance(60)
    svc.sweep()  # the next sweep does not log it again
    assert [a["status"] for a in svc.appointments_on(WED)] == ["missed"]
    missed = [e for e in sqlite_store.events("demo") if e["kind"] == "booking_missed"]
    assert len(missed) == 1 and missed[0]["service"] == "passport"
    # The visitor turns up after all: an ordinary walk-in ticket, and the booking counts as used.
    t = svc.check_in(command_id="late", source="kiosk", code=code)
    assert t.origin == "walk_in"
    assert [a["status"] for a in svc.appointments_on(WED)] == ["checked_in"]


# --- a booked visitor is never refused a number (issue 20) --------------------------------------------


def _tight_office(*, per_slot: int, slot_min: int, open_h: int, walk_in_numbers: int) -> SiteConfig:
    """One service on Wednesday 10:00 to 10:00 + ``open_h``, its booked range exactly the size of a
    full day's bookings (the smallest the config check accepts) and a small walk-in range."""
    need = per_slot * (open_h * 60 // slot_min)
    return SiteConfig.model_validate({
        "office": {"id": "tiny", "names": {"uk": "Тест"}, "timezone": "Europe/Kyiv"},
        "services": [{"id": "passport", "prefix": "A", "names": {"uk": "Паспорт"}, "booking_per_slot": per_slot}],
        "counters": [{"id": "c1", "number": "1", "services": ["passport"]}],
        "hours": {"days": {"wed": [{"start": "10:00", "end": f"{10 + open_h:02d}:00"}]}},
        "appointments": {"slot_min": slot_min, "early_s": 600, "late_grace_s": 600},
        "numbering": {"walk_in": {"first": 1, "last": walk_in_numbers},
                      "booked": {"first": 500, "last": 500 + need - 1}, "offline": {"first": 900, "last": 999}},
    })


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(per_slot=st.integers(1, 3), slot_min=st.sampled_from([20, 30, 60]), open_h=st.integers(1, 2),
       walk_in_numbers=st.integers(1, 3), data=st.data())
def test_a_booked_visitor_is_never_refused_a_number(tmp_path_factory: pytest.TempPathFactory, per_slot: int,
                                                    slot_min: int, open_h: int, walk_in_numbers: int,
                                                    data: st.DataObject) -> None:
    """Every slot of the day booked full, walk-ins take every walk-in number, then each booked visitor
    arrives early, on time or late (a late one checks in as a walk-in): every one gets a ticket."""
    config = _tight_office(per_slot=per_slot, slot_min=slot_min, open_h=open_h, walk_in_numbers=walk_in_numbers)
    n = config.bookings_per_day("passport")
    late_min = data.draw(st.lists(st.integers(-10, 40), min_size=n, max_size=n), label="arrival after the slot, min")
    store = Store(sqlite_url(tmp_path_factory.mktemp("booked") / "cherga.db"))
    try:
        clock = Clock(start=_at(WED, 9))
        svc = OfficeService(config, store, clock=clock)
        codes = [(slot.start, svc.book_appointment(service="passport", slot=slot.start, source="web"))
                 for slot in svc.free_slots("passport", WED) for _ in range(slot.free)]
        assert len(codes) == n
        clock.now = _at(WED, 10)
        with pytest.raises(Conflict):
            for i in range(walk_in_numbers + 1):
                svc.issue_ticket(command_id=f"w{i}", source="kiosk", service="passport")
        arrivals = sorted((slot + dt.timedelta(minutes=m), code) for (slot, code), m in zip(codes, late_min, strict=True))
        for at, code in arrivals:
            clock.now = max(clock.now, at)
            info = svc.check_in(command_id=f"c-{code}", source="kiosk", code=code)
            assert info.number  # a ticket, never "numbers_exhausted"
    finally:
        store.close()


def test_the_slot_count_the_config_check_uses_is_the_booking_grid() -> None:
    hours = Hours.model_validate({"days": {"wed": [{"start": "08:00", "end": "17:00"}],
                                           "sat": [{"start": "09:10", "end": "12:00"}]},
                                  "breaks": [{"start": "13:00", "end": "13:45"}]})
    for slot_min in (15, 20, 30, 45, 60):
        for day in (WED, WED + dt.timedelta(days=3), WED + dt.timedelta(days=4)):
            assert hours.slots_on(("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()], slot_min) \
                == len(day_grid(hours, day, KYIV, slot_min))


def test_a_walk_in_who_would_not_be_seen_before_closing_is_told_before_printing(
        sqlite_store: Store) -> None:
    """Issue 20: the kiosk learns before printing that the forecast runs past closing, with the
    closing time and the earliest free booking to offer; the citizen may still insist."""
    data = _tight_office(per_slot=1, slot_min=30, open_h=1, walk_in_numbers=50).model_dump(mode="json")
    data["hours"]["days"]["thu"] = [{"start": "10:00", "end": "11:00"}]
    data["closing"] = {"warn_walk_ins": True}
    clock = Clock(start=_at(WED, 10, 35))
    svc = OfficeService(SiteConfig.model_validate(data), sqlite_store, clock=clock)
    issued = []
    with pytest.raises(Conflict) as exc:
        for i in range(10):
            issued.append(svc.issue_ticket(command_id=f"w{i}", source="kiosk", service="passport",
                                           asks_before_closing=True))
    assert exc.value.key == "not_before_closing"
    assert issued and all(t.wait_min is not None and t.wait_min < 25 for t in issued)
    assert exc.value.params["closing"] == "11:00"
    assert exc.value.params["slot"] == _at(WED + dt.timedelta(days=1), 10).isoformat()  # Wednesday's slots are past
    # Nothing was issued for the refused request; the citizen who insists gets a ticket.
    ticket = svc.issue_ticket(command_id="insists", source="kiosk", service="passport", after_closing_ok=True,
                              asks_before_closing=True)
    assert ticket.number == len(issued) + 1
    # A client that cannot put the question (an older kiosk, a third-party client) still gets a ticket.
    plain = svc.issue_ticket(command_id="third-party", source="kiosk", service="passport")
    assert plain.number == len(issued) + 2 and plain.wait_min is not None and plain.wait_min >= 25


def test_the_rest_issue_answers_409_not_before_closing_with_its_facts_and_issues_when_the_visitor_insists(
        tmp_path: Path) -> None:
    """Issue 20 over REST: a web or third-party kiosk gets the closing time and the earliest booking
    in a 409, and ``after_closing_ok`` issues the ticket anyway."""
    data = _tight_office(per_slot=1, slot_min=30, open_h=1, walk_in_numbers=50).model_dump(mode="json")
    data["hours"]["days"]["thu"] = [{"start": "10:00", "end": "11:00"}]
    data["closing"] = {"warn_walk_ins": True}
    app = create_app(SiteConfig.model_validate(data), sqlite_url(tmp_path / "c.db"), clock=Clock(start=_at(WED, 10, 35)),
                     sweep_interval=None)
    with TestClient(app) as client:
        # A client that cannot ask the visitor is never refused: it gets the ticket with its forecast.
        plain = client.post("/api/v1/offices/tiny/tickets", json={"service": "passport"})
        assert plain.status_code == 201
        answers = [client.post("/api/v1/offices/tiny/tickets", json={"service": "passport", "asks_before_closing": True})
                   for _ in range(10)]
        refused = next(r for r in answers if r.status_code != 201)
        assert refused.status_code == 409
        body = refused.json()
        assert body["key"] == "not_before_closing"
        assert body["params"]["closing"] == "11:00"
        assert body["params"]["slot"] == _at(WED + dt.timedelta(days=1), 10).isoformat()
        assert body["params"]["wait_min"] >= 25
        insisted = client.post("/api/v1/offices/tiny/tickets", json={"service": "passport", "after_closing_ok": True})
        assert insisted.status_code == 201
        assert insisted.json()["number"] == sum(r.status_code == 201 for r in answers) + 2
