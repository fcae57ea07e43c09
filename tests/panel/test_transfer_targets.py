"""The counter page's transfer form offers the counters that serve the chosen *target* service (issue 17).

The list followed the ticket's current service: an operator sending a passport visitor on to "birth"
was offered the passport counters, and the transfer was refused. Playwright drives Debian's
Chromium against uvicorn on loopback (the demo office: counters 1-3 serve passports, 4 and 5 birth
registration, 8 and 10 social payments).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from tests.panel.test_live_keeps_input import kiosk_ticket, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any, served: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def offered(form: Any) -> list[str]:
    """The counter numbers a person can pick in the form's target counter list (besides "any")."""
    return [o.strip() for o in form.locator("select[name=to_counter] option:not([disabled]):not([hidden])")
            .all_inner_texts()][1:]


def test_the_transfer_list_follows_the_chosen_target_service_and_keeps_the_other_choices(
        page: Any, served: str, service: OfficeService) -> None:
    from playwright.sync_api import expect

    for counter, who in (("c2", "taras"), ("c4", "maria")):
        service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN,
                               source="t", operator=who, authenticated=True)
    kiosk_ticket(service, "passport")
    sign_in(page, served, "olena", "c1")
    page.click("button[data-action=next]")
    expect(page.locator("#current-label")).not_to_be_empty()
    called = service.counter_state("c1").ticket
    assert called is not None
    transfer = page.locator("form:has(button[data-action=transfer])")
    # The ticket's own service until another is chosen: counter 2 (open, serves passports), not 4.
    assert offered(transfer) == ["2"]
    transfer.locator("input[name=return_after]").check()
    transfer.locator("select[name=to_service]").select_option("birth")
    assert offered(transfer) == ["4"]  # counter 5 serves birth too, but nobody is signed in there
    transfer.locator("select[name=to_counter]").select_option("c4")
    # A live update (a kiosk ticket) keeps the service, the counter among its own, and "return here".
    kiosk_ticket(service, "passport")
    expect(page.locator("#waiting-count")).to_have_text("1")
    assert offered(transfer) == ["4"]
    assert transfer.locator("select[name=to_counter]").input_value() == "c4"
    assert transfer.locator("input[name=return_after]").is_checked()
    # Back to passports: counter 4 does not fit any more, so the choice goes back to "any".
    transfer.locator("select[name=to_service]").select_option("passport")
    assert offered(transfer) == ["2"]
    assert transfer.locator("select[name=to_counter]").input_value() == ""
    transfer.locator("select[name=to_service]").select_option("birth")
    transfer.locator("select[name=to_counter]").select_option("c4")
    transfer.locator("button").click()
    expect(page.locator(".flash")).to_contain_text("Transfer")
    rec = service.store.ticket(called.ticket_id)
    assert rec is not None
    assert (rec.ticket.service, rec.ticket.target_counter, rec.ticket.return_to) == ("birth", "c4", "c1")
