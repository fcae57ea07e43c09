"""Signing in and out at a counter, and the hall manager's shift tools, through the panel's pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from tests.panel.conftest import PASSWORD, Clock
from tests.panel.test_panel import act, issue, text

SignIn = Callable[..., TestClient]


def post_signin(client: TestClient, username: str, counter: str | None, lang: str = "en") -> tuple[int, str]:
    data = {"username": username, "password": PASSWORD, "lang": lang}
    if counter is not None:
        data["counter"] = counter
    r = client.post("/panel/signin", data=data, follow_redirects=False)
    return r.status_code, text(r.text)


def test_the_sign_in_form_does_not_default_to_the_hall_manager(client: TestClient) -> None:
    page = client.get("/panel/signin?lang=en").text
    selected = [line for line in page.splitlines() if "<option" in line and "selected" in line]
    assert len(selected) == 1 and "choose your counter" in selected[0]


def test_an_operator_who_chooses_no_counter_is_told_so_in_their_language(client: TestClient,
                                                                         service: OfficeService) -> None:
    status, page = post_signin(client, "olena", "", lang="uk")
    assert status == 422 and "Оберіть вікно, у якому ви працюєте." in page
    status, page = post_signin(client, "olena", "none", lang="en")  # "hall manager (no counter)"
    assert status == 422 and "Choose the counter you work at." in page
    assert all(service.counter_state(c.id).operator is None for c in service.config.counters)
    # The hall manager may still work without a counter.
    r = client.post("/panel/signin", data={"username": "maria", "password": PASSWORD, "counter": "none"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("/panel/manager")


def test_a_counter_held_by_another_operator_is_refused_naming_who(app: object, signed_in: SignIn,
                                                                  service: OfficeService) -> None:
    signed_in("olena", "c1")
    with TestClient(app) as other:  # type: ignore[arg-type]
        status, page = post_signin(other, "taras", "c1", lang="en")
    assert status == 409 and "Olena works at counter 1" in page
    assert service.counter_state("c1").operator == "olena"


def test_signing_in_at_a_second_counter_leaves_the_first(signed_in: SignIn, service: OfficeService) -> None:
    signed_in("olena", "c1")
    signed_in("olena", "c2")
    assert service.counter_state("c1").operator is None and service.counter_state("c1").status == "closed"
    assert service.counter_state("c2").operator == "olena"


def test_signing_out_with_a_visitor_called_warns_and_keeps_the_counter_until_confirmed(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in("olena", "c1")
    label = issue(service)
    act(client, "c1", "next")
    r = client.post("/panel/signout", follow_redirects=False)
    page = text(r.text)
    assert r.status_code == 409 and f"Ticket {label} is still at counter 1" in page
    assert service.counter_state("c1").operator == "olena"
    assert client.get("/panel/counter/c1", follow_redirects=False).status_code == 200  # still signed in
    r = client.post("/panel/signout", data={"confirm": "return"}, follow_redirects=False)
    assert r.status_code == 303
    state = service.counter_state("c1")
    assert state.operator is None and state.status == "closed" and state.ticket is None
    # The visitor is back in the queue, for any counter that serves them.
    assert label in [w.label for w in service.waiting_list("c2")]


def test_the_hall_manager_cancels_a_waiting_ticket(signed_in: SignIn, service: OfficeService) -> None:
    label = issue(service)
    ticket_id = service.waiting_list("c1")[0].ticket_id
    client = signed_in("maria", "")
    page = text(client.get("/panel/manager?lang=en").text)
    assert "Cancel a waiting ticket" in page
    r = client.post("/panel/manager/cancel", data={"command_id": "x1", "ticket_id": ticket_id, "lang": "en"},
                    headers={"X-Panel-Fragment": "1"})
    assert r.status_code == 200 and f"Ticket cancelled: {label}" in text(r.text)
    assert service.waiting_list("c1") == []


def test_the_hall_manager_closes_and_opens_a_counter(signed_in: SignIn, service: OfficeService,
                                                     app: object) -> None:
    issue(service)
    with TestClient(app) as operator:  # type: ignore[arg-type]
        post_signin(operator, "olena", "c1")
        client = signed_in("maria", "")
        r = client.post("/panel/manager/counter", data={"command_id": "x1", "counter": "c1", "do": "close",
                                                        "lang": "en"}, headers={"X-Panel-Fragment": "1"})
        page = text(r.text)
        assert "Counter 1 closed" in page and "Closed by the hall manager" in page
        assert service.counter_state("c1").operator is None
        refused = text(operator.post("/panel/counter/c1/action",
                                     data={"command_id": "n1", "action": "next", "lang": "en"},
                                     headers={"X-Panel-Fragment": "1"}).text)
        assert "The hall manager closed counter 1" in refused
        assert service.counter_state("c1").ticket is None
        r = client.post("/panel/manager/counter", data={"command_id": "x2", "counter": "c1", "do": "open",
                                                        "lang": "en"}, headers={"X-Panel-Fragment": "1"})
        assert "Counter 1 open" in text(r.text)
        assert post_signin(operator, "olena", "c1")[0] == 303


def test_closing_and_opening_a_counter_each_leave_their_own_event_for_the_reports(
        signed_in: SignIn, service: OfficeService) -> None:
    client = signed_in("maria", "")
    for n, do in enumerate(["close", "close", "open", "open"]):  # the repeats change nothing: no event
        client.post("/panel/manager/counter", data={"command_id": f"x{n}", "counter": "c2", "do": do, "lang": "en"},
                    headers={"X-Panel-Fragment": "1"})
    client.post("/panel/manager/counter", data={"command_id": "x1", "counter": "c2", "do": "close", "lang": "en"},
                headers={"X-Panel-Fragment": "1"})  # a re-sent form: applied once
    log = [(e["kind"], e["counter"], e["operator"]) for e in service.store.events(service.office)
           if e["kind"] in ("counter_closed", "counter_opened")]
    assert log == [("counter_closed", "c2", "maria"), ("counter_opened", "c2", "maria")]


def test_the_manager_sees_who_is_where_in_what_state_since_when_and_why_paused(
        signed_in: SignIn, service: OfficeService, clock: object) -> None:
    service.counter_action(command_id="i", counter="c2", action=CounterAction.SIGN_IN, source="t",
                           operator="taras", authenticated=True)
    service.counter_action(command_id="p", counter="c2", action=CounterAction.PAUSE, source="t",
                           pause_reason="training")
    client = signed_in("maria", "")
    page = client.get("/panel/manager?lang=en").text
    row = next(line for line in page.split("<tr") if 'data-counter="c2"' in line)
    since = service.counter_state("c2").updated_at.astimezone(service.config.office.tz).strftime("%H:%M")
    assert "Taras" in row and "On a break" in row and "Training" in row and since in row


def test_the_manager_sees_when_each_operator_signed_in_apart_from_their_last_change(
        signed_in: SignIn, service: OfficeService, clock: Clock) -> None:
    """GIVEN Taras signs in at counter 2 at 10:00 Kyiv time, calls a visitor at 10:20 and pauses at 10:45,
    and Olena signs in at counter 1 at 10:30, WHEN the hall manager looks, THEN counter 2 says signed in
    at 10:00 and in this state since 10:45, and counter 1 signed in at 10:30 (not Taras's time)."""
    service.counter_action(command_id="i", counter="c2", action=CounterAction.SIGN_IN, source="t",
                           operator="taras", authenticated=True)
    clock.advance(minutes=20)
    issue(service)
    service.counter_action(command_id="n", counter="c2", action=CounterAction.NEXT, source="t")
    service.counter_action(command_id="f", counter="c2", action=CounterAction.FINISH, source="t")
    clock.advance(minutes=10)
    service.counter_action(command_id="i1", counter="c1", action=CounterAction.SIGN_IN, source="t",
                           operator="olena", authenticated=True)
    service.counter_action(command_id="i2", counter="c2", action=CounterAction.SIGN_IN, source="t",
                           operator="taras", authenticated=True)  # signing in again changes nothing
    clock.advance(minutes=15)
    service.counter_action(command_id="p", counter="c2", action=CounterAction.PAUSE, source="t",
                           pause_reason="lunch")
    client = signed_in("maria", "")
    page = client.get("/panel/manager?lang=uk").text

    def cell(counter: str, cls: str) -> str:
        row = next(line for line in page.split("<tr") if f'data-counter="{counter}"' in line)
        found = re.search(rf'<td class="[^"]*\b{cls}\b[^"]*">([^<]*)</td>', row)
        assert found, row
        return found.group(1).strip()

    assert (cell("c2", "who"), cell("c2", "signed-in"), cell("c2", "state-since")) == ("Taras", "10:00", "10:45")
    assert (cell("c1", "who"), cell("c1", "signed-in")) == ("Olena", "10:30")
    assert "Час входу" in page and "У цьому стані з" in page
    # Moved to another counter: the time there starts again; the counter left shows nobody.
    clock.advance(minutes=5)
    service.counter_action(command_id="m", counter="c3", action=CounterAction.SIGN_IN, source="t",
                           operator="olena", authenticated=True)
    page = client.get("/panel/manager?lang=uk").text
    assert (cell("c3", "who"), cell("c3", "signed-in")) == ("Olena", "10:50")
    assert (cell("c1", "who"), cell("c1", "signed-in")) == ("", "")


def test_the_hall_manager_moves_an_operator_to_another_counter(signed_in: SignIn, service: OfficeService) -> None:
    service.counter_action(command_id="i", counter="c1", action=CounterAction.SIGN_IN, source="t",
                           operator="olena", authenticated=True)
    client = signed_in("maria", "")
    r = client.post("/panel/manager/move", data={"command_id": "m1", "operator": "olena", "to_counter": "c2",
                                                 "lang": "en"}, headers={"X-Panel-Fragment": "1"})
    assert r.status_code == 200 and "Moved" in text(r.text)
    assert service.counter_state("c1").operator is None and service.counter_state("c2").operator == "olena"


def test_a_counter_nobody_has_used_shows_no_since_time_and_its_state_carries_the_office_clock(
        signed_in: SignIn, service: OfficeService, clock: Clock) -> None:
    """GIVEN the office's clock says 10:00 Kyiv time (not the machine's wall clock) and nobody has used
    counter 3, WHEN the hall manager looks, THEN counter 3's "in this state since" is empty (not the
    server's start by the wall clock), while counter 2, used at 10:15, says 10:15."""
    clock.advance(minutes=15)
    service.counter_action(command_id="i", counter="c2", action=CounterAction.SIGN_IN, source="t",
                           operator="taras", authenticated=True)
    client = signed_in("maria", "")
    for lang in ("uk", "ru", "ky", "kk", "en"):
        page = client.get(f"/panel/manager?lang={lang}").text
        rows = {c: next(line for line in page.split("<tr") if f'data-counter="{c}"' in line) for c in ("c2", "c3")}
        since = {c: re.search(r'<td class="num state-since">([^<]*)</td>', r) for c, r in rows.items()}
        assert since["c3"] and since["c3"].group(1).strip() == "", rows["c3"]
        assert since["c2"] and since["c2"].group(1).strip() == "10:15", rows["c2"]
    # The service's own copy is stamped with the office's clock, which a test or a replay controls.
    assert service.counter_state("c3").updated_at == clock.now - dt.timedelta(minutes=15)
