"""The wait printed on a ticket: the server runs the predictor the simulator measures, fed as it happens.

Counter 9 of the demo office is the only one serving "driver" (11-minute visits), so what it
does shows directly in the estimate a driver-licence ticket gets.
"""

from __future__ import annotations

from typing import Any

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.core.prediction import ServiceRatePredictor
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store
from tests.server.helpers import Clock, demo_config, demo_dict


def _act(svc: OfficeService, action: A, cid: str, **kw: Any) -> Any:
    return svc.counter_action(command_id=cid, counter="c9", action=action, source="test", **kw)


def _driver_ticket(svc: OfficeService, cid: str) -> Any:
    return svc.issue_ticket(command_id=cid, source="kiosk", service="driver")


def _with_lunch_break() -> SiteConfig:
    """The demo office closing for lunch 10:30–11:30 (Kyiv; the test clock starts at 10:00)."""
    data = demo_dict()
    data["hours"]["breaks"] = [{"start": "10:30", "end": "11:30"}]
    return SiteConfig.model_validate(data)


def _serving_at_counter_9(svc: OfficeService, store: Store) -> None:
    auth.create_account(store, username="olena", role="operator", pin="1234")
    _act(svc, A.SIGN_IN, "in", pin="1234")
    _driver_ticket(svc, "first")
    _act(svc, A.NEXT, "n1")
    _act(svc, A.START, "s1")


def test_a_ticket_issued_before_the_lunch_break_is_told_the_break_in_its_wait(sqlite_store: Store,
                                                                                clock: Clock) -> None:
    svc = OfficeService(_with_lunch_break(), sqlite_store, clock=clock)
    clock.advance(20 * 60)  # 10:20: counter 9 starts an 11-minute visit, the office breaks at 10:30
    _serving_at_counter_9(svc, sqlite_store)
    ticket = _driver_ticket(svc, "second")
    # The counter finishes its visit (~10:31), closes for lunch until ~11:31, then calls this ticket.
    assert ticket.people_ahead == 0
    assert ticket.wait_min is not None and 60 <= ticket.wait_min <= 80


def test_the_old_service_rate_estimate_would_have_ignored_the_break(tmp_path: Any, clock: Clock) -> None:
    store = Store(f"sqlite:///{tmp_path / 'v1.db'}")
    try:
        settings = OfficeService(_with_lunch_break(), store, clock=clock).settings
        prior = {s.id: s.mean_service_min * 60 for s in demo_config().services}
        v1 = OfficeService(_with_lunch_break(), store, clock=clock, predictor=ServiceRatePredictor(prior, settings))
        clock.advance(20 * 60)
        _serving_at_counter_9(v1, store)
        ticket = _driver_ticket(v1, "second")
        assert ticket.wait_min is not None and ticket.wait_min < 15  # half an average visit
    finally:
        store.close()


def test_a_ticket_behind_a_paused_counter_waits_for_the_pause_and_not_once_it_resumes(
        service: OfficeService, sqlite_store: Store, clock: Clock) -> None:
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1234")
    _act(service, A.SIGN_IN, "in", pin="1234")
    _act(service, A.PAUSE, "p1", pause_reason="break")
    ticket = _driver_ticket(service, "d1")
    assert ticket.wait_min is not None and ticket.wait_min >= 10  # an unplanned pause lasts ~15 min at first
    clock.advance(60)
    _act(service, A.RESUME, "r1")
    assert service.ticket_status(ticket.token).wait_min == 0  # the counter is free: next call is this one


def test_after_a_restart_the_estimate_still_counts_the_paused_counter(sqlite_store: Store, clock: Clock) -> None:
    first = OfficeService(demo_config(), sqlite_store, clock=clock)
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1234")
    _act(first, A.SIGN_IN, "in", pin="1234")
    _act(first, A.PAUSE, "p1", pause_reason="break")
    ticket = _driver_ticket(first, "d1")
    clock.advance(120)
    before = first.ticket_status(ticket.token).wait_min
    restarted = OfficeService(demo_config(), sqlite_store, clock=clock)
    after = restarted.ticket_status(ticket.token).wait_min
    assert before is not None and before >= 10
    assert after == before


def test_a_ticket_behind_a_busy_single_counter_is_promised_a_range(sqlite_store: Store, clock: Clock) -> None:
    """Counter 9 alone serves "driver": a queue there is uncertain, so the ticket says "≈ N, at most M"
    with M well above N, and the status page behind its QR says the same in the ticket's language."""
    from fastapi.testclient import TestClient

    from cherga.server.app import create_app

    svc = OfficeService(demo_config(), sqlite_store, clock=clock)
    _serving_at_counter_9(svc, sqlite_store)
    for i in range(3):
        _driver_ticket(svc, f"ahead{i}")
    ticket = _driver_ticket(svc, "mine")
    assert ticket.wait_min is not None and ticket.wait_max_min is not None
    assert ticket.wait_max_min >= ticket.wait_min + 10  # four 11-minute visits on one desk vary a lot
    assert ticket.wait_max_min <= 2 * ticket.wait_min + 10  # and the bound is still worth reading
    app = create_app(demo_config(), "sqlite://", store=sqlite_store, clock=clock, sweep_interval=None)
    with TestClient(app) as client:
        page = client.get(f"/t/{ticket.token}").text
    assert f"≈ {ticket.wait_min} хв, не більше {ticket.wait_max_min}" in page


def test_the_hall_light_is_red_while_people_wait_at_no_open_counter_and_follows_the_forecast_once_one_opens(
        sqlite_store: Store, clock: Clock) -> None:
    svc = OfficeService(demo_config(), sqlite_store, clock=clock)
    for i in range(6):
        svc.issue_ticket(command_id=f"light-{i}", source="kiosk", service="passport")
    by = {s.service: s for s in svc.hall_state().load}
    # Six waiting, nobody at any passport counter: the hall must not say "low" (it said green before).
    assert by["passport"].waiting == 6 and by["passport"].counters_open == 0
    assert by["passport"].light == "red"
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1111")
    svc.counter_action(command_id="light-in", counter="c1", action=A.SIGN_IN, source="test", operator="olena",
                       authenticated=True)
    by = {s.service: s for s in svc.hall_state().load}
    assert by["passport"].counters_open == 1 and by["passport"].wait_min is not None
    # One desk open: the light is what a ticket taken now is told, the same forecast the ticket prints.
    from cherga.server.service.results import light_for

    assert by["passport"].light == light_for(by["passport"].wait_min)


def test_a_booked_visitor_is_told_the_bookings_ahead_not_the_walk_in_queue(sqlite_store: Store, clock: Clock) -> None:
    svc = OfficeService(demo_config(), sqlite_store, clock=clock)
    for i in range(28):
        svc.issue_ticket(command_id=f"walk-{i}", source="kiosk", service="passport")
    day = clock.now.astimezone(svc.config.office.tz).date()
    slot = svc.free_slots("passport", day)[0].start
    code = svc.book_appointment(service="passport", slot=slot, source="web")
    clock.advance((slot - clock.now).total_seconds() - 60)
    booked = svc.issue_ticket(command_id="in", source="kiosk", appointment_code=code)
    # 28 walk-ins wait, but a due booking goes first: the ticket must not read "28 ahead" beside a short wait.
    assert booked.people_ahead == 0 and booked.wait_min is not None and booked.wait_min < 15
    walk_in = svc.issue_ticket(command_id="walk-late", source="kiosk", service="passport")
    assert walk_in.people_ahead is not None and walk_in.people_ahead >= 28
