"""Sign-in rules and the hall manager's shift tools, in the service layer (so pad, panel and REST obey them)."""

from __future__ import annotations

import pytest

from cherga.broker_bridge.contract import CLOSED_BY_MANAGER
from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.errors import Conflict, Invalid
from cherga.server.service import OfficeService
from cherga.server.store import Store


def _act(svc: OfficeService, counter: str, action: A, cid: str, **kw: object):  # type: ignore[no-untyped-def]
    return svc.counter_action(command_id=cid, counter=counter, action=action, source="test", **kw)  # type: ignore[arg-type]


@pytest.fixture
def staff(sqlite_store: Store) -> None:
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1234", display_name="Олена К.")
    auth.create_account(sqlite_store, username="petro", role="operator", pin="5678", display_name="Петро М.")


def test_a_counter_held_by_another_operator_is_refused_naming_who_holds_it(service: OfficeService,
                                                                           staff: None) -> None:
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.SIGN_IN, "i2", pin="5678")  # a pad PIN
    assert exc.value.key == "counter_taken" and exc.value.params["operator"] == "Олена К."
    with pytest.raises(Conflict):
        _act(service, "c1", A.SIGN_IN, "i3", operator="petro", authenticated=True)  # the panel, REST
    assert service.counter_state("c1").operator == "olena"
    # The same person signing in again is no conflict.
    assert _act(service, "c1", A.SIGN_IN, "i4", pin="1234").counter.operator == "olena"


def test_signing_in_at_a_second_counter_signs_the_person_out_of_the_first(service: OfficeService, staff: None,
                                                                          sqlite_store: Store) -> None:
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    r = _act(service, "c2", A.SIGN_IN, "i2", operator="olena", authenticated=True)
    assert r.counter.operator == "olena"
    first = service.counter_state("c1")
    assert first.operator is None and first.status == "closed"
    assert [c.id for c in service.config.counters if service.counter_state(c.id).operator == "olena"] == ["c2"]
    # Durable: a restarted server sees one person at one counter.
    again = OfficeService(service.config, sqlite_store, clock=service._clock)
    assert again.counter_state("c1").operator is None and again.counter_state("c2").operator == "olena"


def test_a_person_with_a_visitor_at_one_counter_cannot_sign_in_at_another(service: OfficeService,
                                                                          staff: None) -> None:
    service.issue_ticket(command_id="k", source="kiosk", service="passport")
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    _act(service, "c1", A.NEXT, "n1")
    with pytest.raises(Conflict) as exc:
        _act(service, "c2", A.SIGN_IN, "i2", pin="1234")
    assert exc.value.key == "busy_at_other_counter"
    assert service.counter_state("c1").operator == "olena" and service.counter_state("c1").ticket is not None
    assert service.counter_state("c2").operator is None


def test_a_counter_closed_by_the_manager_calls_nobody_and_takes_no_sign_in_until_opened(service: OfficeService,
                                                                                        staff: None) -> None:
    service.issue_ticket(command_id="k", source="kiosk", service="passport")
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    def open_for_passport() -> int:
        return next(x for x in service.hall_state().load if x.service == "passport").counters_open

    open_before = open_for_passport()
    closed = service.close_counter(command_id="x1", counter="c1", source="panel:manager", operator="manager")
    assert closed.status == "closed" and closed.operator is None and closed.pause_reason == CLOSED_BY_MANAGER
    assert open_for_passport() == open_before - 1  # the hall display's load shows one counter fewer
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.NEXT, "n1")
    assert exc.value.key == "counter_closed_by_manager"
    with pytest.raises(Conflict):
        _act(service, "c1", A.SIGN_IN, "i2", pin="1234")
    opened = service.open_counter(command_id="o1", counter="c1", source="panel:manager", operator="manager")
    assert opened.pause_reason is None
    _act(service, "c1", A.SIGN_IN, "i3", pin="1234")
    assert _act(service, "c1", A.NEXT, "n2").ticket is not None


def test_the_manager_cannot_close_a_counter_with_a_visitor_called(service: OfficeService, staff: None) -> None:
    service.issue_ticket(command_id="k", source="kiosk", service="passport")
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    _act(service, "c1", A.NEXT, "n1")
    with pytest.raises(Conflict) as exc:
        service.close_counter(command_id="x1", counter="c1", source="panel:manager")
    assert exc.value.key == "ticket_in_progress"
    assert service.counter_state("c1").status == "calling"


def test_pause_reasons_come_from_a_list(service: OfficeService, staff: None) -> None:
    _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    with pytest.raises(Invalid):
        _act(service, "c1", A.PAUSE, "p0", pause_reason="nap")
    assert _act(service, "c1", A.PAUSE, "p1", pause_reason="training").counter.pause_reason == "training"
    _act(service, "c1", A.RESUME, "r1")
    assert _act(service, "c1", A.PAUSE, "p2").counter.pause_reason == "break"
