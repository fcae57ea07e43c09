"""closing.waiting_at_close: with ``stop``, no call after closing + stop_after_min; the hall is told
those left will not be called today; ``serve_all`` keeps calling. The demo office closes at 20:00
(Kyiv) on weekdays; the test clock starts on a Wednesday at 10:00."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.errors import Conflict
from cherga.server.panel.refusals import refusal_text
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import Store
from tests.server.helpers import OPEN_TIME, Clock, demo_dict

EVENING = OPEN_TIME.replace(hour=17, minute=50)  # 19:50 in Kyiv, ten minutes before closing


def _office(store: Store, clock: Clock, **closing: Any) -> OfficeService:
    closing.setdefault("warn_walk_ins", False)  # tickets are taken minutes before closing on purpose
    svc = OfficeService(SiteConfig.model_validate(demo_dict(closing=closing)), store, clock=clock)
    auth.create_account(store, username="olena", role="operator", pin="1234")
    auth.create_account(store, username="taras", role="operator", pin="5678")
    svc.counter_action(command_id="in", counter="c9", action=A.SIGN_IN, source="test", pin="1234")
    return svc


def _press(svc: OfficeService, counter: str, cid: str) -> Any:
    return svc.counter_action(command_id=cid, counter=counter, action=A.NEXT, source="test")


def _load(svc: OfficeService, service: str) -> Any:
    return {item.service: item for item in svc.hall_state().load}[service]


@pytest.fixture
def evening() -> Clock:
    return Clock(EVENING)


def test_with_stop_no_visitor_is_called_after_the_last_call_and_next_says_why(sqlite_store: Store,
                                                                              evening: Clock) -> None:
    """GIVEN closing at 20:00 with stop_after_min 30 and three driver-licence visitors waiting
    WHEN counter 9 presses next at 20:20, then again at 20:31 and 20:40
    THEN the first press calls; the press that finishes that visitor calls nobody; the next is refused
    with the last call's time, in the operator's language on the panel."""
    svc = _office(sqlite_store, evening, waiting_at_close="stop", stop_after_min=30)
    for i in range(3):
        svc.issue_ticket(command_id=f"k{i}", source="kiosk", service="driver")
    evening.advance(30 * 60)  # 20:20: after closing, before the last call
    assert _press(svc, "c9", "n1").ticket.label == "L-001"
    evening.advance(11 * 60)  # 20:31
    finished = _press(svc, "c9", "n2")
    assert finished.status == "empty" and finished.hall_call is None
    assert svc.counter_state("c9").status == "idle"
    evening.advance(9 * 60)
    with pytest.raises(Conflict) as refused:
        _press(svc, "c9", "n3")
    assert refused.value.key == "calls_stopped" and refused.value.params["last_call"] == "20:30"
    assert svc.waiting_total() == 2  # nobody was called, nobody lost
    assert refusal_text(svc.config, "uk", refused.value) == (
        "Виклики на сьогодні завершено: за правилом закриття останній виклик був о 20:30.")
    assert "20:30" in refusal_text(svc.config, "ky", refused.value)


def test_the_hall_is_told_those_left_will_not_be_called_and_gets_no_forecast(sqlite_store: Store,
                                                                             evening: Clock) -> None:
    svc = _office(sqlite_store, evening, waiting_at_close="stop", stop_after_min=0)
    svc.issue_ticket(command_id="k1", source="kiosk", service="driver")
    before = _load(svc, "driver")
    assert before.calls_stopped is None and before.wait_min is not None
    evening.advance(11 * 60)  # 20:01
    after = _load(svc, "driver")
    assert after.calls_stopped is True and after.wait_min is None and after.wait_max_min is None
    assert after.waiting == 1
    assert svc.forecasts()["driver"] == (None, None)


def test_serve_all_calls_everybody_still_waiting_after_closing(sqlite_store: Store, evening: Clock) -> None:
    svc = _office(sqlite_store, evening)  # the default rule
    assert svc.config.closing.waiting_at_close == "serve_all"
    svc.issue_ticket(command_id="k1", source="kiosk", service="driver")
    evening.advance(3 * 3600)  # 22:50
    assert _press(svc, "c9", "n1").ticket.label == "L-001"
    assert _load(svc, "driver").calls_stopped is None


def test_a_counter_of_two_services_keeps_calling_the_one_still_open(sqlite_store: Store, evening: Clock) -> None:
    """GIVEN certificates open until 22:00 while driver licences close at 20:00 (stop at once)
    WHEN counter 9, serving both, presses next at 20:10
    THEN it calls the certificates visitor, though the driver-licence one waited longer."""
    data = demo_dict(closing={"waiting_at_close": "stop", "warn_walk_ins": False})
    late = {d: [{"start": "08:00", "end": "22:00"}] for d in ("mon", "tue", "wed", "thu", "fri")}
    next(s for s in data["services"] if s["id"] == "certificates")["hours"] = {"days": late}
    svc = OfficeService(SiteConfig.model_validate(data), sqlite_store, clock=evening)
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1234")
    svc.counter_action(command_id="in", counter="c9", action=A.SIGN_IN, source="test", pin="1234")
    svc.issue_ticket(command_id="k1", source="kiosk", service="driver")
    evening.advance(60)
    svc.issue_ticket(command_id="k2", source="kiosk", service="certificates", purpose="consult")
    evening.advance(19 * 60)
    assert _press(svc, "c9", "n1").ticket.service == "certificates"
    assert svc.closing_rule()["services"]["certificates"] == {"closes": "22:00", "last_call": "22:00"}
    assert dt.time(20, 0) == dt.time.fromisoformat(svc.closing_rule()["services"]["driver"]["last_call"])
