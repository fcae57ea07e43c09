"""The service layer: what kiosks, pads and staff see when they act, and what the event log keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.errors import Conflict, Invalid, NotFound, Unauthorized
from cherga.server.service import Change, OfficeService
from cherga.server.store import Store
from tests.server.helpers import Clock, demo_config


def _next(svc: OfficeService, counter: str, cid: str, **kw: object):  # type: ignore[no-untyped-def]
    return svc.counter_action(command_id=cid, counter=counter, action=A.NEXT, source="test", **kw)  # type: ignore[arg-type]


def _act(svc: OfficeService, counter: str, action: A, cid: str, **kw: object):  # type: ignore[no-untyped-def]
    return svc.counter_action(command_id=cid, counter=counter, action=action, source="test", **kw)  # type: ignore[arg-type]


def _kinds(store: Store, office: str = "demo") -> list[str]:
    return [e["kind"] for e in store.events(office)]


def test_tickets_of_a_service_get_consecutive_numbers_with_its_prefix(service: OfficeService) -> None:
    labels = [service.issue_ticket(command_id=f"k{i}", source="kiosk", service="passport").label for i in range(3)]
    assert labels == ["A-001", "A-002", "A-003"]
    assert service.issue_ticket(command_id="r1", source="kiosk", service="residence").label == "C-001"


def test_a_repeated_issue_command_returns_the_first_ticket_and_issues_nothing(service: OfficeService,
                                                                             sqlite_store: Store) -> None:
    first = service.issue_ticket(command_id="same", source="kiosk", service="passport")
    again = service.issue_ticket(command_id="same", source="kiosk", service="passport")
    assert again.ticket_id == first.ticket_id and again.label == first.label
    # A fresh service (a restart) still knows the id: it lives in the store.
    restarted = OfficeService(demo_config(), sqlite_store, clock=service._clock)
    assert restarted.issue_ticket(command_id="same", source="kiosk", service="passport").ticket_id == first.ticket_id
    assert sqlite_store.count_tickets() == 1
    assert _kinds(sqlite_store).count("issued") == 1


def test_a_repeated_next_command_calls_one_ticket_only(service: OfficeService, sqlite_store: Store) -> None:
    for i in range(3):
        service.issue_ticket(command_id=f"k{i}", source="kiosk", service="passport")
    r1 = _next(service, "c1", "n1")
    r2 = _next(service, "c1", "n1")
    assert r1.ticket and r2.ticket and r1.ticket.ticket_id == r2.ticket.ticket_id
    assert _kinds(sqlite_store).count("called") == 1
    assert service.counter_state("c1").waiting == 2


def test_next_calls_the_longest_waiting_and_gives_a_reason(service: OfficeService, clock: Clock) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    clock.advance(60)
    service.issue_ticket(command_id="b", source="kiosk", service="foreign-passport")
    clock.advance(60)
    r = _next(service, "c1", "n1")
    assert r.status == "ok" and r.ticket is not None
    assert r.ticket.label == "A-001"
    assert r.ticket.reason and "waited 2 min" in r.ticket.reason
    assert r.hall_call is not None and r.hall_call.counter_number == "1" and r.hall_call.label == "A-001"
    assert r.counter.status == "calling"


def test_next_on_an_empty_queue_answers_empty_not_an_error(service: OfficeService) -> None:
    r = _next(service, "c1", "n1")
    assert r.status == "empty" and r.ticket is None and r.counter.status == "idle"


def test_priority_category_is_called_before_a_walk_in_who_waited_less_than_its_weight(service: OfficeService,
                                                                                      clock: Clock) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    clock.advance(100)
    service.issue_ticket(command_id="b", source="kiosk", service="passport", priority="disability")
    clock.advance(60)  # walk-in waited 160 s, disability (×3) 60 s → 180
    r = _next(service, "c1", "n1")
    assert r.ticket and r.ticket.priority == "disability"


def test_daily_cap_refuses_with_a_reason_key_and_resets_next_day(tmp_path, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    from cherga.server.siteconfig import SiteConfig
    from cherga.server.store import sqlite_url
    from tests.server.helpers import demo_dict

    data = demo_dict()
    data["services"][0]["daily_cap"] = 2
    store = Store(sqlite_url(tmp_path / "c.db"))
    svc = OfficeService(SiteConfig.model_validate(data), store, clock=clock)
    svc.issue_ticket(command_id="1", source="k", service="passport")
    svc.issue_ticket(command_id="2", source="k", service="passport")
    with pytest.raises(Conflict) as exc:
        svc.issue_ticket(command_id="3", source="k", service="passport")
    assert exc.value.key == "daily_cap_reached"
    clock.advance(24 * 3600)
    assert svc.issue_ticket(command_id="4", source="k", service="passport").label == "A-001"


def test_a_closed_service_and_an_appointment_only_service_refuse_walk_ins(service: OfficeService, clock: Clock) -> None:
    with pytest.raises(Conflict) as exc:
        service.issue_ticket(command_id="n", source="k", service="notary")
    assert exc.value.key == "appointment_only"
    clock.advance(12 * 3600)  # 22:00 in Kyiv
    with pytest.raises(Conflict) as exc:
        service.issue_ticket(command_id="late", source="k", service="passport")
    assert exc.value.key == "service_closed"


def test_unknown_service_category_and_bad_purpose_name_what_is_wrong(service: OfficeService) -> None:
    with pytest.raises(NotFound, match="'nope'") as nf:
        service.issue_ticket(command_id="x", source="k", service="nope")
    assert nf.value.key == "unknown_service"
    with pytest.raises(NotFound) as cat:
        service.issue_ticket(command_id="y", source="k", service="passport", priority="vip")
    assert cat.value.key == "unknown_category"
    with pytest.raises(Invalid) as bad:
        service.issue_ticket(command_id="z", source="k", service="certificates", purpose="submit")
    assert bad.value.key == "purpose_not_offered"


def test_a_bundle_ticket_visits_each_service_in_turn(service: OfficeService, sqlite_store: Store) -> None:
    t = service.issue_ticket(command_id="b", source="kiosk", bundle="newborn")
    assert t.service == "birth"
    _next(service, "c5", "n1")
    _act(service, "c5", A.START, "s1")
    r = _act(service, "c5", A.FINISH, "f1")
    assert r.counter.status == "idle"
    assert service.ticket(t.ticket_id).service == "residence"
    assert service.ticket(t.ticket_id).status == "waiting"


def test_recalls_then_no_show_after_the_configured_number(service: OfficeService, sqlite_store: Store) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    r1 = _act(service, "c1", A.RECALL, "r1")
    assert r1.hall_call is not None and r1.hall_call.recall
    _act(service, "c1", A.RECALL, "r2")
    r3 = _act(service, "c1", A.RECALL, "r3")  # demo: 2 recalls, the third press is a no-show
    assert r3.hall_call is None and r3.ticket and r3.ticket.status == "no_show"
    assert _kinds(sqlite_store)[-3:] == ["recalled", "recalled", "no_show"]
    assert service.counter_state("c1").status == "idle"


def test_sweep_marks_a_called_ticket_no_show_after_the_timeout(service: OfficeService, clock: Clock,
                                                              sqlite_store: Store) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    clock.advance(179)
    service.sweep()
    assert service.counter_state("c1").status == "calling"
    clock.advance(2)
    service.sweep()
    assert service.counter_state("c1").status == "idle"
    no_show = [e for e in sqlite_store.events("demo") if e["kind"] == "no_show"]
    assert len(no_show) == 1 and no_show[0]["data"]["rule"] == "timeout"


def test_transfer_with_return_comes_back_to_the_first_counter(service: OfficeService) -> None:
    t = service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.START, "s1")
    _act(service, "c1", A.TRANSFER, "t1", to_service="certificates", return_after=True)
    r = _next(service, "c9", "n2")  # certificates
    assert r.ticket and r.ticket.ticket_id == t.ticket_id
    _act(service, "c9", A.START, "s2")
    _act(service, "c9", A.FINISH, "f2")
    # c2 serves passport too, but the ticket is reserved for c1.
    assert _next(service, "c2", "n3").status == "empty"
    back = _next(service, "c1", "n4")
    assert back.ticket and back.ticket.ticket_id == t.ticket_id and back.ticket.service == "passport"


def test_front_office_hand_over_goes_to_a_drawn_back_office_desk_and_logs_the_draw(service: OfficeService,
                                                                                   sqlite_store: Store) -> None:
    t = service.issue_ticket(command_id="a", source="kiosk", service="property")
    _next(service, "c6", "n1")
    _act(service, "c6", A.START, "s1")
    _act(service, "c6", A.TRANSFER, "t1", to_service="property")
    assigned = [e for e in sqlite_store.events("demo") if e["kind"] == "backoffice_assigned"]
    assert len(assigned) == 1
    data = assigned[0]["data"]
    assert data["choice"] in ("bo1", "bo2") and data["candidates"] == ["bo1", "bo2"] and data["seed"]
    other = "bo2" if data["choice"] == "bo1" else "bo1"
    assert _next(service, other, "n2").status == "empty"
    r = _next(service, data["choice"], "n3")
    assert r.ticket and r.ticket.ticket_id == t.ticket_id


def test_postponed_visitor_is_not_called_before_the_delay(service: OfficeService, clock: Clock) -> None:
    t = service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.POSTPONE, "p1", delay_s=120)
    assert _next(service, "c1", "n2").status == "empty"
    clock.advance(121)
    r = _next(service, "c1", "n3")
    assert r.ticket and r.ticket.ticket_id == t.ticket_id


def test_illegal_transitions_are_conflicts_with_a_reason(service: OfficeService) -> None:
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.START, "s0")
    assert exc.value.key == "no_current_ticket"
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.START, "s1")
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.RECALL, "r1")
    assert exc.value.key == "illegal_transition"
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.PAUSE, "p1")
    assert exc.value.key == "ticket_in_progress"


def test_a_failed_action_changes_nothing(service: OfficeService, sqlite_store: Store) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    before = (service.counter_state("c1"), len(sqlite_store.events("demo")))
    with pytest.raises(Conflict):
        _act(service, "c1", A.TRANSFER, "t1", to_counter="c4")  # c4 does not serve passports
    assert (service.counter_state("c1"), len(sqlite_store.events("demo"))) == before


def test_pause_resume_and_sign_in_out_are_logged_with_reason_and_operator(service: OfficeService,
                                                                           sqlite_store: Store) -> None:
    auth.create_account(sqlite_store, username="olena", role="operator", pin="1234", display_name="Олена")
    with pytest.raises(Unauthorized):
        _act(service, "c1", A.SIGN_IN, "i0", pin="9999")
    r = _act(service, "c1", A.SIGN_IN, "i1", pin="1234")
    assert r.counter.operator == "olena" and r.counter.operator_name == "Олена" and r.counter.status == "idle"
    r = _act(service, "c1", A.PAUSE, "p1", pause_reason="lunch")
    assert r.counter.status == "paused" and r.counter.pause_reason == "lunch"
    _act(service, "c1", A.RESUME, "r1")
    r = _act(service, "c1", A.SIGN_OUT, "o1")
    assert r.counter.status == "closed"
    events = [e for e in sqlite_store.events("demo")]
    assert [e["kind"] for e in events] == ["operator_signed_in", "counter_paused", "counter_resumed",
                                           "operator_signed_out"]
    assert events[1]["data"]["reason"] == "lunch" and all(e["operator"] == "olena" for e in events)


def test_a_visit_can_be_rated_once(service: OfficeService) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.START, "s1")
    done = _act(service, "c1", A.FINISH, "f1", result="submitted")
    assert done.counter.rateable_ticket is not None
    _act(service, "c1", A.RATE, "r1", score=1)
    with pytest.raises(Conflict) as exc:
        _act(service, "c1", A.RATE, "r2", score=2, ticket_id=done.counter.rateable_ticket)
    assert exc.value.key == "already_rated"


def test_booked_visitor_on_time_gets_a_booked_number_and_is_called_at_the_slot(service: OfficeService,
                                                                               clock: Clock) -> None:
    walk_in = service.issue_ticket(command_id="w", source="kiosk", service="passport")
    slot = clock.now + dt.timedelta(minutes=15)  # 10:15 in Kyiv: on the 15-minute grid
    code = service.book_appointment(service="passport", slot=slot, source="web")
    clock.advance(600)
    booked = service.issue_ticket(command_id="c", source="kiosk", appointment_code=code)
    assert booked.origin == "booked" and booked.number == 700
    r = _next(service, "c1", "n1")  # slot - call window (5 min) has passed: the booked visitor first
    assert r.ticket and r.ticket.ticket_id == booked.ticket_id
    assert _next(service, "c1", "n2").ticket.ticket_id == walk_in.ticket_id  # type: ignore[union-attr]
    with pytest.raises(Conflict) as exc:
        service.check_in(command_id="again", source="kiosk", code=code)
    assert exc.value.key == "already_checked_in"


def test_a_late_booked_visitor_becomes_a_walk_in(service: OfficeService, clock: Clock) -> None:
    code = service.book_appointment(service="passport", slot=clock.now + dt.timedelta(minutes=15), source="web")
    clock.advance(30 * 60)
    t = service.check_in(command_id="c", source="kiosk", code=code)
    assert t.origin == "walk_in" and t.number == 1


def test_offline_tickets_keep_their_number_and_queue_from_their_issue_time(service: OfficeService,
                                                                            clock: Clock) -> None:
    service.issue_ticket(command_id="w", source="kiosk", service="passport")
    t = service.take_offline_ticket(command_id="o1", source="kiosk:k1", service="passport", purpose="consult",
                                    priority=None, language="uk", number=901,
                                    issued_at=clock.now - dt.timedelta(minutes=5))
    assert t.label == "A-901" and t.origin == "offline"
    assert service.stats["issued"] == 2 and service.stats["issued_offline"] == 1  # /metrics counts both
    assert _next(service, "c1", "n1").ticket.ticket_id == t.ticket_id  # type: ignore[union-attr]
    with pytest.raises(Conflict) as exc:
        service.take_offline_ticket(command_id="o2", source="kiosk:k1", service="passport", purpose="consult",
                                    priority=None, language="uk", number=901, issued_at=clock.now)
    assert exc.value.key == "number_taken"


def test_listeners_get_counter_state_hall_state_and_the_call_after_commit(service: OfficeService,
                                                                          sqlite_store: Store) -> None:
    seen: list[Change] = []
    service.add_listener(seen.append)
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    assert seen[-1].hall_state is not None and {c.counter for c in seen[-1].counter_states} >= {"c1", "c2", "c3"}
    _next(service, "c1", "n1")
    change = seen[-1]
    assert change.hall_call is not None and change.hall_call.label == "A-001"
    assert change.hall_state is not None and change.hall_state.calls[0].label == "A-001"
    assert sqlite_store.ticket(change.hall_call.ticket_id).ticket.status.value == "called"  # type: ignore[union-attr]


def test_a_restarted_service_rebuilds_queue_counters_and_recent_calls(service: OfficeService, sqlite_store: Store,
                                                                       clock: Clock) -> None:
    for i in range(5):
        service.issue_ticket(command_id=f"k{i}", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.START, "s1")
    restarted = OfficeService(demo_config(), sqlite_store, clock=clock)
    state = restarted.counter_state("c1")
    assert state.status == "serving" and state.ticket and state.ticket.label == "A-001"
    assert restarted.waiting_total() == 4
    assert restarted.hall_state().calls[0].label == "A-001"
    assert _next(restarted, "c2", "n2").ticket.label == "A-002"  # type: ignore[union-attr]


def test_people_ahead_and_wait_come_from_the_predictor(service: OfficeService) -> None:
    infos = [service.issue_ticket(command_id=f"k{i}", source="kiosk", service="passport") for i in range(4)]
    assert [i.people_ahead for i in infos] == [0, 1, 2, 3]
    assert infos[3].wait_min is not None and infos[3].wait_min > infos[0].wait_min  # type: ignore[operator]
    status = service.ticket_status(infos[3].token)  # type: ignore[arg-type]
    assert status.people_ahead == 3 and status.reason is None


def test_load_traffic_light_follows_the_forecast_a_ticket_taken_now_is_told(
        service: OfficeService, sqlite_store: Store) -> None:
    from cherga.server import auth
    from cherga.server.service.results import light_for

    auth.create_account(sqlite_store, username="olena", role="operator", pin="1111")
    service.counter_action(command_id="in", counter="c1", action=A.SIGN_IN, source="test", operator="olena",
                           authenticated=True)
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    first = {s.service: s for s in service.load()}["passport"]
    assert first.waiting == 1 and first.light == light_for(first.wait_min or 0)
    for i in range(40):  # a long queue at one open desk: the forecast, and so the light, climbs
        service.issue_ticket(command_id=f"q{i}", source="kiosk", service="passport")
    long = {s.service: s for s in service.load()}["passport"]
    assert long.wait_min is not None and long.wait_min > (first.wait_min or 0)
    assert long.light == light_for(long.wait_min) == "red"


def test_every_state_change_reaches_the_event_log(service: OfficeService, sqlite_store: Store) -> None:
    service.issue_ticket(command_id="a", source="kiosk", service="passport")
    service.issue_ticket(command_id="b", source="kiosk", service="passport")
    _next(service, "c1", "n1")
    _act(service, "c1", A.RECALL, "r1")
    _act(service, "c1", A.START, "s1")
    _act(service, "c1", A.FINISH, "f1")
    _act(service, "c1", A.RATE, "rt", score=3)
    _next(service, "c1", "n2")
    _act(service, "c1", A.NO_SHOW, "ns")
    kinds = _kinds(sqlite_store)
    assert kinds == ["issued", "issued", "called", "recalled", "started", "finished", "rated", "called", "no_show"]
    for e in sqlite_store.events("demo"):
        assert e["office"] == "demo" and e["at"].tzinfo is not None and e["ticket_id"]


def test_a_refused_operation_leaves_the_database_free_for_other_writers(service: OfficeService,
                                                                         sqlite_store: Store) -> None:
    with pytest.raises(Conflict):
        _act(service, "c1", A.START, "s0")  # refused inside its transaction
    # Another writer (another process, a report job) gets the write lock at once.
    other = Store(sqlite_store.url)
    try:
        with other.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            conn.commit()
        auth.create_account(other, username="late", role="operator", pin="4444")
    finally:
        other.close()
