"""Every page passes axe-core (no serious or critical violation) in each language at a TV and a phone
width. One browser for the module; each page is loaded once per language and checked at both sizes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.service import OfficeService
from tests.panel.conftest import PASSWORD, Clock
from tests.support.axe import serious
from tests.support.browser import serving

pytestmark = pytest.mark.browser

SIZES = [(1920, 1080), (390, 844)]
PUBLIC = ["/", "/office/demo/kiosk", "/office/demo/hall", "/office/demo/book", "/load/demo", "/reports/signin",
          "/panel/signin"]


@pytest.fixture
def served(app: FastAPI, service: OfficeService) -> Iterator[str]:
    for i in range(3):
        service.issue_ticket(command_id=f"a{i}", source="test", service="passport", purpose="submit", language="uk")
    service.counter_action(command_id="n1", counter="c1", action=CounterAction.NEXT, source="test", operator=None)
    with serving(app) as url:
        yield url


def _check_sizes(page: Any, where: str) -> list[str]:
    found = []
    for w, h in SIZES:
        page.set_viewport_size({"width": w, "height": h})
        found += serious(page, f"{where} {w}x{h}")
    return found


def test_every_page_passes_axe_in_every_language_at_tv_and_phone_width(browser: Any, served: str) -> None:
    found: list[str] = []
    page = browser.new_page()
    for lang in LANGUAGES:
        for path in PUBLIC:
            page.goto(f"{served}{path}?lang={lang}")
            assert page.evaluate("document.documentElement.lang"), f"{path}: no lang"
            found += _check_sizes(page, f"{path} {lang}")
    page.close()
    for user, url in (("olena", "/panel/counter/c1"), ("maria", "/panel/manager")):
        context = browser.new_context()
        page = context.new_page()
        for lang in LANGUAGES:
            page.goto(f"{served}/panel/signin?lang={lang}")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", PASSWORD)
            if page.locator("select[name=counter]").count():
                page.select_option("select[name=counter]", "c1")
            page.click("button.primary")
            page.goto(f"{served}{url}?lang={lang}")
            assert page.evaluate("document.documentElement.lang"), f"{url}: no lang"
            found += _check_sizes(page, f"{url} {lang}")
            context.clear_cookies()
        context.close()
    assert found == [], "\n".join(found)



def test_the_reports_page_after_sign_in_passes_axe_in_every_language_at_desk_and_phone_width(
        browser: Any, served: str, service: OfficeService, clock: Clock) -> None:
    """The reports page a hall manager sees once signed in (charts, filters, every table), not only its
    sign-in form: no serious or critical axe violation in any language at 1920x1080 and 390x844."""
    service.counter_action(command_id="in", counter="c2", action=CounterAction.SIGN_IN, source="t",
                           operator="olena", authenticated=True)
    clock.advance(minutes=10)
    for action in ("next", "start"):
        service.counter_action(command_id=action, counter="c2", action=CounterAction(action), source="t")
    clock.advance(minutes=7)
    service.counter_action(command_id="finish", counter="c2", action=CounterAction.FINISH, source="t")
    clock.advance(hours=1)  # a served visit in a past hour: the charts and tables have something to show
    found: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{served}/reports/signin?next=/reports/demo")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    for lang in LANGUAGES:
        page.goto(f"{served}/reports/demo?lang={lang}&period=day&group=service")
        assert page.locator("table[data-table=summary]").count() == 1, f"{lang}: not the reports page"
        assert page.locator("figure.chart").count() >= 2, f"{lang}: no charts"
        assert page.evaluate("document.documentElement.lang") == lang
        found += _check_sizes(page, f"/reports/demo {lang}")
    context.close()
    assert found == [], "\n".join(found)
