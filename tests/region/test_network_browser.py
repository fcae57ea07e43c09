"""The network load page in real Chromium: a 360 px phone in five languages, axe-core, touch targets,
and its table refreshing in place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server.analytics.i18n import catalog
from tests.region.network_setup import NAMES, network_app
from tests.server.helpers import Clock
from tests.support.axe import serious
from tests.support.browser import serving
from tests.support.wait import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return network_app(tmp_path_factory.mktemp("network"), Clock())


@pytest.fixture(scope="module")
def served(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


def test_network_and_load_pages_fit_a_360_px_phone_and_axe_finds_nothing_serious(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    wide: list[str] = []
    problems: list[str] = []
    small: list[str] = []
    for lang in LANGUAGES:
        for path in ("/network", "/load/north"):
            page.goto(f"{served}{path}?lang={lang}")
            assert page.get_attribute("html", "lang") == lang
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 360:
                wide.append(f"{path} {lang}: {width} px")
            problems += serious(page, f"{path} {lang}")
            small += page.evaluate("""() => Array.from(document.querySelectorAll('a')).filter(a => {
                const r = a.getBoundingClientRect(); return r.height < 44 || r.width < 44; }).map(a => a.textContent)""")
            small += page.evaluate("""() => Array.from(document.querySelectorAll('body *')).filter(e =>
                e.childElementCount === 0 && e.textContent.trim() &&
                parseFloat(getComputedStyle(e).fontSize) < 14).map(e => e.textContent)""")
        # the faster office is named on north's own load page, in the page's language
        assert page.get_by_text(catalog(lang)["faster_at"].split("{")[0].strip()).first.is_visible()
        assert NAMES["south"][lang] in page.content()
    page.close()
    assert wide == [], wide
    assert problems == [], problems
    assert small == [], small


def test_the_network_page_refreshes_its_numbers_in_place(browser: Any, served: str, app: FastAPI) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{served}/network?lang=ky")
    driver = "section[data-office='north'] tr[data-service='driver'] td.waiting"
    assert page.text_content(driver) == "8"
    page.evaluate("window.marker = 1")  # gone if the page reloaded
    app.state.services["north"].issue_ticket(command_id="late", source="kiosk", service="driver")
    app.state.network.latest = None
    wait_until(lambda: page.text_content(driver) == "9", timeout=40, what="the page showing nine waiting")
    assert page.evaluate("window.marker") == 1
    page.close()
