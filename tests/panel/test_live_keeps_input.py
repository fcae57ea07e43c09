"""Live updates never change what a person is choosing or typing (issue 17).

A kiosk ticket arriving while the hall manager fills in the issue form, or while an operator
chooses where to transfer a visitor, must not reset the form: the page is morphed, not rebuilt.
Playwright drives Debian's Chromium against uvicorn on loopback, one browser for the module.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from tests.panel.conftest import PASSWORD

pytestmark = pytest.mark.browser
UPDATES = 10


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def sign_in(page: Any, served: str, username: str, counter: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{served}/panel/signin?lang=en")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.select_option("select[name=counter]", counter)
    page.click("button.primary")
    expect(page.locator("#live")).to_have_text("Live")


def kiosk_ticket(service: OfficeService, sid: str = "passport") -> None:
    service.issue_ticket(command_id=uuid.uuid4().hex, source="kiosk-1", service=sid)


def test_the_managers_issue_form_keeps_service_priority_and_language_through_ten_live_updates(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    sign_in(page, served, "maria", "")
    assert page.evaluate("typeof window.Idiomorph") == "object"  # the vendored morph, served by the app
    assert f"{served}/panel/static/vendor/idiomorph.min.js" in requested
    form = page.locator("form[action$='/manager/issue']")
    form.locator("select[name=service]").select_option("social")
    form.locator("select[name=purpose]").select_option("collect")
    form.locator("select[name=priority]").select_option("disability")
    form.locator("select[name=language]").select_option("kk")
    page.locator("h1").click()  # the person looks away; the fields keep their choice
    passport_waiting = page.locator("#load tr", has_text="Passport").locator("td.num").first
    for n in range(1, UPDATES + 1):  # ten kiosk tickets, each seen on the page before the next
        kiosk_ticket(service)
        expect(passport_waiting).to_have_text(str(n))
    form.locator("button").click()
    expect(page.locator(".flash")).to_contain_text("Ticket issued")
    issued = [w for w in service.waiting_list("c8") if w.service == "social"]
    assert len(issued) == 1
    assert (issued[0].purpose, issued[0].priority, issued[0].language) == ("collect", "disability", "kk")
    assert [u for u in requested if not u.startswith(served)] == []  # nothing from a CDN: offices are offline


def test_the_counters_transfer_target_return_and_result_code_survive_ten_live_updates(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    kiosk_ticket(service)
    service.counter_action(command_id="in-c2", counter="c2", action=CounterAction.SIGN_IN, source="pad-c2",
                           operator="taras", authenticated=True)  # an open counter to send the visitor to
    sign_in(page, served, "olena", "c1")
    page.click("button[data-action=next]")
    label = page.locator("#current-label")
    expect(label).not_to_be_empty()
    called = service.counter_state("c1").ticket
    assert called is not None
    transfer = page.locator("form:has(button[data-action=transfer])")
    transfer.locator("select[name=to_service]").select_option("foreign-passport")
    transfer.locator("select[name=to_counter]").select_option("c2")
    transfer.locator("input[name=return_after]").check()
    page.locator("input[name=result]").fill("R-42")
    page.locator("h1").click()
    for n in range(1, UPDATES + 1):
        kiosk_ticket(service)
        expect(page.locator("#waiting-count")).to_have_text(str(n))
    assert page.locator("input[name=result]").input_value() == "R-42"
    assert transfer.locator("select[name=to_service]").input_value() == "foreign-passport"
    assert transfer.locator("select[name=to_counter]").input_value() == "c2"
    assert transfer.locator("input[name=return_after]").is_checked()
    transfer.locator("button").click()
    expect(page.locator(".flash")).to_contain_text("Transfer")
    rec = service.store.ticket(called.ticket_id)
    assert rec is not None
    moved = rec.ticket
    assert (moved.service, moved.target_counter, moved.return_to) == ("foreign-passport", "c2", "c1")


def test_text_typed_into_a_field_survives_live_updates_that_arrive_while_typing(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    kiosk_ticket(service)
    sign_in(page, served, "olena", "c1")
    page.click("button[data-action=next]")
    expect(page.locator("#current-label")).not_to_be_empty()
    called = service.counter_state("c1").ticket
    assert called is not None
    field = page.locator("input[name=result]")
    field.click()
    page.keyboard.type("ABC")
    finish = page.locator("button[data-action=finish]")
    box = finish.bounding_box()
    for n in range(1, UPDATES + 1):  # the list follows the hall while the operator types
        kiosk_ticket(service)
        expect(page.locator("#waiting-count")).to_have_text(str(n))
    page.keyboard.type("-12")  # the caret stayed where it was, in the field
    assert field.input_value() == "ABC-12"
    assert finish.bounding_box() == box  # the button has not moved under the finger
    page.keyboard.press("Enter")
    expect(page.locator(".flash")).to_contain_text("Finish")
    rec = service.store.ticket(called.ticket_id)
    assert rec is not None and rec.ticket.result == "ABC-12"


def test_the_counter_chosen_in_one_tickets_send_form_stays_with_that_ticket_when_the_list_moves(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    for counter, operator in [("c1", "olena"), ("c2", "taras")]:
        service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN,
                               source=f"pad-{counter}", operator=operator, authenticated=True)
    first = service.issue_ticket(command_id="a", source="kiosk-1", service="passport")
    second = service.issue_ticket(command_id="b", source="kiosk-1", service="passport")
    third = service.issue_ticket(command_id="c", source="kiosk-1", service="passport")
    sign_in(page, served, "maria", "")
    form = page.locator(f"form[data-ticket='{second.label}']")
    form.locator("select[name=to_counter]").select_option("c2")
    page.locator("h1").click()
    # The ticket above it is called and served: every form below moves up one place.
    service.counter_action(command_id="n1", counter="c1", action=CounterAction.NEXT, source="pad-c1")
    service.counter_action(command_id="f1", counter="c1", action=CounterAction.FINISH, source="pad-c1")
    expect(page.locator(f"form[data-ticket='{first.label}']")).to_have_count(0)
    passport_waiting = page.locator("#load tr", has_text="Passport").locator("td.num").first
    for n in range(3, UPDATES + 3):
        kiosk_ticket(service)
        expect(passport_waiting).to_have_text(str(n))
    assert form.locator("select[name=to_counter]").input_value() == "c2"
    other = page.locator(f"form[data-ticket='{third.label}'] select[name=to_counter]")
    assert other.input_value() == "c1"  # a choice belongs to its own ticket's form
    form.locator("button").click()
    expect(page.locator(".flash")).to_contain_text(second.label)
    rec = service.store.ticket(second.ticket_id)
    assert rec is not None and rec.ticket.target_counter == "c2"


def test_the_answer_to_ones_own_action_stays_put_through_later_live_updates(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    page.clock.install()  # the page's own clock: minutes pass without waiting for them
    sign_in(page, served, "maria", "")
    form = page.locator("form[action$='/manager/issue']")
    form.locator("select[name=service]").select_option("social")
    form.locator("button").click()
    expect(page.locator(".flash")).to_contain_text("Ticket issued")
    button = form.locator("button")
    box = button.bounding_box()
    page.clock.fast_forward("05:00")  # the hall manager turns to a visitor for five minutes
    passport_waiting = page.locator("#load tr", has_text="Passport").locator("td.num").first
    for n in range(1, 4):
        kiosk_ticket(service)
        expect(passport_waiting).to_have_text(str(n))
    expect(page.locator(".flash")).to_contain_text("Ticket issued")  # no line vanished above the form
    assert button.bounding_box() == box
