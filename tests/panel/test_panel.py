"""The operator panel over HTTP, against the real OfficeService on SQLite."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable

from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from tests.panel.conftest import PASSWORD

SignIn = Callable[..., TestClient]


def issue(service: OfficeService, service_id: str = "passport", purpose: str = "submit") -> str:
    return str(service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service=service_id,
                                    purpose=purpose).label)


def act(client: TestClient, counter: str, action: str, **fields: str) -> str:
    data = {"command_id": uuid.uuid4().hex, "action": action, "lang": "en", **fields}
    r = client.post(f"/panel/counter/{counter}/action", data=data, headers={"X-Panel-Fragment": "1"})
    assert r.status_code == 200, r.text
    return r.text


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_an_unknown_visitor_is_sent_to_the_sign_in_page(client: TestClient) -> None:
    r = client.get("/panel/counter/c1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/panel/signin")


def test_a_wrong_password_is_refused_in_the_chosen_language(client: TestClient) -> None:
    r = client.post("/panel/signin", data={"username": "olena", "password": "nope-nope", "counter": "c1",
                                           "lang": "uk"})
    assert r.status_code == 401 and "Неправильний користувач або пароль" in r.text


def test_signing_in_at_a_counter_signs_the_operator_in_there(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in("olena", "c1")
    assert service.counter_state("c1").operator == "olena"
    page = text(client.get("/panel/counter/c1").text)
    assert "Counter 1" in page and "Olena" in page


def test_next_calls_the_waiting_ticket_and_shows_service_purpose_wait_and_reason(
        signed_in: SignIn, service: OfficeService, clock: object) -> None:
    client = signed_in()
    label = issue(service)
    clock.advance(minutes=7)  # type: ignore[attr-defined]
    page = text(act(client, "c1", "next"))
    assert label in page
    assert "National passport" in page and "Submit documents" in page and "7 min" in page
    assert "waited" in page  # the scheduler's reason is shown to the operator
    state = service.counter_state("c1")
    assert state.status == "calling" and state.ticket is not None and state.ticket.label == label


def test_the_waiting_list_shows_tickets_this_counter_serves(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in()
    a = issue(service, "passport")
    d = issue(service, "birth")  # counter 1 does not serve births
    page = text(client.get("/panel/counter/c1/live").text)
    assert a in page and d not in page


def test_a_double_submitted_form_calls_only_one_ticket(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in()
    first, second = issue(service), issue(service)
    data = {"command_id": "same-form", "action": "next", "lang": "en"}
    for _ in range(2):
        client.post("/panel/counter/c1/action", data=data, headers={"X-Panel-Fragment": "1"})
    state = service.counter_state("c1")
    assert state.ticket is not None and state.ticket.label == first
    assert [w.label for w in service.waiting_list("c1")] == [second]


def test_the_whole_visit_recall_start_finish_with_a_result_code(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in()
    issue(service)
    act(client, "c1", "next")
    act(client, "c1", "recall")
    act(client, "c1", "start")
    assert service.counter_state("c1").status == "serving"
    page = text(act(client, "c1", "finish", result="issued"))
    assert "Finish" in page
    state = service.counter_state("c1")
    assert state.status == "idle" and state.rateable_ticket is not None


def test_no_show_postpone_and_transfer_with_return(signed_in: SignIn, service: OfficeService, clock: object) -> None:
    client = signed_in()
    a, b, c = issue(service), issue(service), issue(service)
    act(client, "c1", "next")
    act(client, "c1", "no_show")
    act(client, "c1", "next")
    act(client, "c1", "postpone", delay_min="10")
    act(client, "c1", "next")
    act(client, "c1", "transfer", to_service="residence", return_after="1")
    waiting = {w.label for w in service.waiting_list("c4")}
    assert c in waiting  # now queued for residence registration
    assert service.counter_state("c1").status == "idle"
    assert a not in {w.label for w in service.waiting_list("c1")}  # a no-show is gone
    clock.advance(minutes=11)  # type: ignore[attr-defined]
    assert b in {w.label for w in service.waiting_list("c1")}  # the postponed visitor is back in line


def test_pause_with_a_reason_and_resume(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in(lang="uk")
    page = text(act(client, "c1", "pause", pause_reason="lunch"))
    assert service.counter_state("c1").status == "paused"
    assert service.counter_state("c1").pause_reason == "lunch"
    act(client, "c1", "resume")
    assert service.counter_state("c1").status == "idle"
    assert "Break" in page or "Перерва" in page


def test_next_on_an_empty_queue_says_so(signed_in: SignIn) -> None:
    client = signed_in()
    assert "Nobody is waiting" in text(act(client, "c1", "next"))


def test_a_refused_action_shows_the_reason(signed_in: SignIn) -> None:
    client = signed_in()
    page = text(act(client, "c1", "recall"))
    assert "No ticket is called at this counter." in page


def test_the_panel_speaks_ukrainian_russian_kyrgyz_kazakh_and_english(signed_in: SignIn) -> None:
    client = signed_in()
    words = {"uk": "Наступний", "ru": "Следующий", "ky": "Кийинки", "kk": "Келесі", "en": "Next"}
    for lang, word in words.items():
        assert word in client.get(f"/panel/counter/c1?lang={lang}").text


def test_signing_out_of_the_panel_signs_the_operator_out_of_the_counter(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in()
    client.post("/panel/signout", follow_redirects=False)
    assert service.counter_state("c1").operator is None
    assert client.get("/panel/counter/c1", follow_redirects=False).status_code == 303


def test_an_operator_may_not_open_the_hall_manager_view(signed_in: SignIn) -> None:
    client = signed_in("olena")
    assert client.get("/panel/manager").status_code == 403


def test_the_hall_manager_issues_a_ticket_and_sees_the_load(signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in("maria", "")
    r = client.post("/panel/manager/issue", data={"command_id": "m1", "service": "birth", "purpose": "consult",
                                                  "priority": "pregnant", "language": "uk", "lang": "en"},
                    headers={"X-Panel-Fragment": "1"})
    page = text(r.text)
    assert "Ticket issued: D-" in page
    assert service.waiting_list("c4")[0].priority == "pregnant"
    births = next(line for line in service.load() if line.service == "birth")
    assert births.waiting == 1 and "Birth registration" in page


def test_the_hall_manager_sends_a_called_ticket_to_another_counter(
        signed_in: SignIn, service: OfficeService, client: TestClient) -> None:
    label = issue(service)
    service.counter_action(command_id="x1", counter="c1", action=CounterAction.SIGN_IN, source="t",
                           operator="olena", authenticated=True)
    service.counter_action(command_id="x2", counter="c1", action=CounterAction.NEXT, source="t")
    signed_in("maria", "")
    tid = service.counter_state("c1").ticket.ticket_id  # type: ignore[union-attr]
    r = client.post("/panel/manager/send", data={"command_id": "m2", "ticket_id": tid, "to_counter": "c2",
                                                 "lang": "en"}, headers={"X-Panel-Fragment": "1"})
    assert "Ticket sent" in text(r.text)
    assert [w.label for w in service.waiting_list("c2")] == [label]
    assert service.counter_state("c1").ticket is None


def test_the_hall_manager_sends_a_waiting_ticket_to_one_counter_and_it_keeps_its_place(
        signed_in: SignIn, service: OfficeService, client: TestClient, clock: object) -> None:
    first = issue(service)
    second = issue(service)
    for counter, op in (("c1", "olena"), ("c2", "maria")):
        service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN,
                               source="t", operator=op, authenticated=True)
    signed_in("maria", "")
    tid = next(w.ticket_id for w in service.waiting_list("c2") if w.label == first)
    r = client.post("/panel/manager/send", data={"command_id": "m3", "ticket_id": tid, "to_counter": "c2",
                                                 "lang": "en"}, headers={"X-Panel-Fragment": "1"})
    assert f"Ticket sent: {first}" in text(r.text)
    # c1 serves passports too, but the first ticket is now c2's: c1 gets the second one.
    assert [w.label for w in service.waiting_list("c1")] == [second]
    service.counter_action(command_id="n1", counter="c1", action=CounterAction.NEXT, source="t")
    assert service.counter_state("c1").ticket.label == second  # type: ignore[union-attr]
    service.counter_action(command_id="n2", counter="c2", action=CounterAction.NEXT, source="t")
    assert service.counter_state("c2").ticket.label == first  # type: ignore[union-attr]


def test_sending_a_ticket_to_a_counter_that_does_not_serve_it_is_refused(
        signed_in: SignIn, service: OfficeService, client: TestClient) -> None:
    label = issue(service)
    signed_in("maria", "")
    tid = service.waiting_list("c1")[0].ticket_id
    r = client.post("/panel/manager/send", data={"command_id": "m4", "ticket_id": tid, "to_counter": "c9",
                                                 "lang": "en"}, headers={"X-Panel-Fragment": "1"})
    assert "Ticket sent" not in text(r.text)
    assert [w.label for w in service.waiting_list("c1")] == [label]  # still anyone's


def test_the_hall_manager_sees_todays_bookings_and_who_came(
        signed_in: SignIn, service: OfficeService, client: TestClient, clock: object) -> None:
    today = service.now().astimezone(service.config.office.tz).date()
    first, second = service.free_slots("passport", today)[:2]
    came = service.book_appointment(service="passport", slot=first.start, source="web")
    late = service.book_appointment(service="passport", slot=second.start, source="web")
    clock.now = first.start - dt.timedelta(minutes=5)  # type: ignore[attr-defined]
    service.check_in(command_id="k1", source="kiosk", code=came)
    signed_in("maria", "")
    page = text(client.get("/panel/manager?lang=uk").text)
    assert f"{first.start:%H:%M} Паспорт громадянина {came} Прийшов" in page
    assert f"{second.start:%H:%M} Паспорт громадянина {late} Очікується" in page
    clock.now = second.start + dt.timedelta(minutes=11)  # type: ignore[attr-defined]  # past the 10-minute grace
    assert f"{late} Не прийшов" in text(client.get("/panel/manager?lang=uk").text)


def test_static_files_are_served_locally_and_nothing_else(client: TestClient) -> None:
    assert "EventSource" in client.get("/panel/static/panel.js").text
    assert client.get("/panel/static/../router.py").status_code == 404
    assert PASSWORD  # the fixture's password is what the accounts were made with


def test_postponing_by_infinite_or_not_a_number_of_minutes_is_refused_in_the_operators_language(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in(lang="uk")
    label = issue(service)
    act(client, "c1", "next")
    for delay in ("inf", "nan", "-1", "241", "soon"):
        data = {"command_id": uuid.uuid4().hex, "action": "postpone", "delay_min": delay, "lang": "uk"}
        r = client.post("/panel/counter/c1/action", data=data, headers={"X-Panel-Fragment": "1"})
        assert r.status_code == 422 and "Відкласти можна на число хвилин від 0 до 240" in r.text, delay
        page = client.post("/panel/counter/c1/action", data=data)  # without JavaScript: the whole page
        assert page.status_code == 422 and "Відкласти можна" in page.text, delay
    state = service.counter_state("c1")
    assert state.ticket is not None and state.ticket.label == label  # still called, not postponed
    act(client, "c1", "postpone", delay_min="2.5")  # a fraction of a minute is a delay like any other
    assert service.counter_state("c1").ticket is None


def test_the_sign_in_page_does_not_claim_to_be_live(client: TestClient) -> None:
    """Nothing updates itself on the sign-in form: no "Live" badge there (the signed-in pages keep theirs)."""
    for lang, word in (("en", "Live"), ("uk", "Наживо")):
        page = client.get(f"/panel/signin?lang={lang}").text
        assert 'id="live"' not in page and word not in text(page)
