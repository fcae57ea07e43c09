"""The forecast a citizen reads off the hall display, the kiosk and the load page is the one the
ticket prints, and reading it does not replay the queue again unless something changed.

Counter 9 of the demo office is the only one serving "driver" (11-minute visits).
"""

from __future__ import annotations

from typing import Any

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.service import OfficeService
from cherga.server.service.views import FORECAST_MAX_AGE_S
from cherga.server.store import Store
from tests.server.helpers import Clock, demo_config


def _act(svc: OfficeService, action: A, cid: str, **kw: Any) -> Any:
    return svc.counter_action(command_id=cid, counter="c9", action=action, source="test", **kw)


def _driver(svc: OfficeService, cid: str) -> Any:
    return svc.issue_ticket(command_id=cid, source="kiosk", service="driver")


def _office_with_counter_9_serving(store: Store, clock: Clock) -> OfficeService:
    svc = OfficeService(demo_config(), store, clock=clock)
    auth.create_account(store, username="olena", role="operator", pin="1234")
    _act(svc, A.SIGN_IN, "in", pin="1234")
    _driver(svc, "first")
    _act(svc, A.NEXT, "n1")
    _act(svc, A.START, "s1")
    return svc


def _hall_forecast(svc: OfficeService, service: str) -> tuple[int | None, int | None]:
    load = {item.service: item for item in svc.hall_state().load}[service]
    return load.wait_min, load.wait_max_min


def test_the_hall_state_tells_what_the_next_ticket_prints(sqlite_store: Store, clock: Clock) -> None:
    """GIVEN counter 9 serving a driver-licence visit and three more waiting
    WHEN the display and the kiosk read the hall state, and then a citizen takes a ticket
    THEN the range they were shown is the range printed on that ticket."""
    svc = _office_with_counter_9_serving(sqlite_store, clock)
    for i in range(3):
        _driver(svc, f"w{i}")
    clock.advance(90)
    shown = _hall_forecast(svc, "driver")
    assert shown[0] is not None and shown[1] is not None and shown[1] > shown[0] >= 30  # 3 ahead of 11-min visits
    assert svc.forecasts()["driver"] == shown  # the load page reads the same figures
    ticket = _driver(svc, "citizen")
    assert (ticket.wait_min, ticket.wait_max_min) == shown
    # the next citizen is told one more visit
    after = _hall_forecast(svc, "driver")
    assert after[0] is not None and after[0] > shown[0]


def test_a_service_taken_by_appointment_only_has_no_walk_in_forecast(sqlite_store: Store, clock: Clock) -> None:
    svc = _office_with_counter_9_serving(sqlite_store, clock)
    assert _hall_forecast(svc, "notary") == (None, None)
    assert _hall_forecast(svc, "passport")[0] is not None  # before sign-in: as if its desks were open


def test_reads_replay_only_the_desk_groups_whose_queue_changed(sqlite_store: Store, clock: Clock) -> None:
    """GIVEN forecasts read once
    WHEN pages read them again with nothing changed, then after one ticket, then a minute on
    THEN nothing, then that ticket's desk group alone, then everything is recomputed."""
    svc = _office_with_counter_9_serving(sqlite_store, clock)
    first = svc.forecasts()
    groups = svc.forecasts_computed
    assert groups == 3 and first["driver"][0] is not None  # desks 1-3, desks 6-7, the rest linked by shared desks
    for _ in range(5):
        assert svc.forecasts() == first
        svc.load()
    assert svc.forecasts_computed == groups  # reads without a change replay nothing
    _driver(svc, "w1")
    after = svc.forecasts()
    assert after["driver"] != first["driver"]
    # desks 1-3 (passport) and 6-7 (property, land, business) share nothing with desk 9
    for other in ("passport", "foreign-passport", "land", "business"):
        assert after[other] == first[other]
    assert svc.forecasts_computed == groups + 1  # driver's desk group alone
    svc.hall_state()
    assert svc.forecasts_computed == groups + 1
    clock.advance(FORECAST_MAX_AGE_S)  # time alone moves a forecast: the visit under way goes on
    svc.forecasts()
    assert svc.forecasts_computed == 2 * groups + 1


def test_a_new_site_config_is_forecast_afresh(sqlite_store: Store, clock: Clock) -> None:
    """GIVEN forecasts cached for the demo office
    WHEN the administrator makes driver-licence visits 30 minutes long (the admin pages' live apply)
    THEN the next read forecasts with the new config, not from the cache."""
    svc = _office_with_counter_9_serving(sqlite_store, clock)
    for i in range(3):
        _driver(svc, f"w{i}")
    before = svc.forecasts()["driver"]
    data = svc.config.model_dump(mode="json")
    next(s for s in data["services"] if s["id"] == "driver")["mean_service_min"] = 30
    svc.reconfigure(type(svc.config).model_validate(data))
    after = svc.forecasts()["driver"]
    assert before[0] is not None and after[0] is not None and after[0] > before[0]


def test_a_burst_of_tickets_replays_a_group_once_per_settle_window_for_the_published_hall_state(
        sqlite_store: Store, clock: Clock) -> None:
    """GIVEN a listener (the bridge) that gets a hall state after every ticket
    WHEN ten tickets come within a second, then one more after the settle window
    THEN the burst replays driver's group once, and the one after it shows all eleven."""
    from cherga.server.service.views import HALL_FORECAST_SETTLE_S

    svc = _office_with_counter_9_serving(sqlite_store, clock)
    published: list[Any] = []
    svc.add_listener(lambda change: published.append(change.hall_state) if change.hall_state else None)
    svc.forecasts()
    start = svc.forecasts_computed
    for i in range(10):
        _driver(svc, f"b{i}")
        clock.advance(0.1)
    assert svc.forecasts_computed - start <= 1
    clock.advance(HALL_FORECAST_SETTLE_S)
    _driver(svc, "after")
    last = {item.service: item for item in published[-1].load}["driver"]
    assert (last.wait_min, last.wait_max_min) == _hall_forecast(svc, "driver")  # what a reader is told now
    assert last.wait_min is not None and last.wait_min >= 11 * 11  # eleven 11-minute visits ahead of the next one
