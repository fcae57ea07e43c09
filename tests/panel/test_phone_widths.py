"""Citizen pages on a 360 px phone: nothing scrolls sideways, ticket numbers stay on one line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.service import OfficeService
from tests.support.browser import serving

pytestmark = pytest.mark.browser

CITIZEN = ["/", "/office/demo/kiosk", "/office/demo/book", "/office/demo/book/cancel", "/load/demo",
           "/office/demo/hall"]


@pytest.fixture
def served(app: FastAPI, service: OfficeService) -> Iterator[str]:
    for i in range(3):
        service.issue_ticket(command_id=f"p{i}", source="test", service="residence", language="uk")
    service.counter_action(command_id="n1", counter="c5", action=CounterAction.NEXT, source="test", operator=None)
    with serving(app) as url:
        yield url


def test_no_citizen_page_scrolls_sideways_on_a_360_px_phone(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    wide = []
    for lang in LANGUAGES:
        for path in CITIZEN:
            page.goto(f"{served}{path}?lang={lang}")
            page.wait_for_load_state("networkidle")
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 360:
                wide.append(f"{path} {lang}: {width} px")
        page.goto(f"{served}/office/demo/book?lang={lang}&service=passport")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        if width > 360:
            wide.append(f"booking days {lang}: {width} px")
    page.close()
    assert wide == [], wide


def _one_line(page: Any, selector: str) -> bool:
    return bool(page.evaluate("""sel => { const el = document.querySelector(sel);
        const range = document.createRange(); range.selectNodeContents(el);
        return range.getClientRects().length === 1 || new Set([...range.getClientRects()].map(r => r.top)).size === 1; }""",
                              selector))


def test_a_ticket_number_never_wraps_on_a_phone(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{served}/office/demo/kiosk")
    page.get_by_text("English").click()
    page.get_by_text("A · National passport").click()
    page.get_by_text("Submit documents").click()
    page.get_by_role("button", name="No").click()  # no priority category
    page.locator("#ticket .number").wait_for()
    assert "-" in page.inner_text("#ticket .number")
    assert _one_line(page, "#ticket .number"), page.inner_text("#ticket .number")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    page.goto(f"{served}/office/demo/hall")
    page.locator("#calls td.label").first.wait_for()
    assert _one_line(page, "#calls td.label")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    page.close()


def test_the_staff_pages_do_not_scroll_sideways_on_a_390_px_phone(browser: Any, served: str) -> None:
    """The counter page with a called visitor and a waiting list, and the hall manager's page: the page
    stays inside a 390 px screen in every language (a wide table scrolls inside its own box)."""
    from tests.panel.conftest import PASSWORD

    wide = []
    for user, counter, path in (("olena", "c5", "/panel/counter/c5"), ("maria", "none", "/panel/manager")):
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(f"{served}/panel/signin?lang=en")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", PASSWORD)
        page.select_option("select[name=counter]", counter)
        page.click("button.primary")
        for lang in LANGUAGES:
            page.goto(f"{served}{path}?lang={lang}")
            page.wait_for_selector("#panel-live h1")
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 390:
                wide.append(f"{path} {lang}: {width} px")
        if user == "olena":
            assert page.locator("#current-label").inner_text().strip(), "no visitor called: nothing to test"
        context.close()
    assert wide == [], wide
