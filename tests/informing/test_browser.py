"""The informing pages in real Chromium: a 360 px phone, axe-core, touch targets and paper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from cherga.broker_bridge.contract import LANGUAGES
from tests.support.axe import serious
from tests.support.browser import serving

pytestmark = pytest.mark.browser

PAGES = ["/office/demo/services", "/office/demo/services?q=пасорт", "/office/demo/services?q=космодром",
         "/office/demo/services/passport", "/office/demo/services/notary", "/office/demo/situations/newborn",
         "/office/demo/situations/moving"]


@pytest.fixture(scope="module")
def served(app: FastAPI) -> Iterator[str]:
    with serving(app) as url:
        yield url


def _url(served: str, path: str, lang: str) -> str:
    return f"{served}{path}{'&' if '?' in path else '?'}lang={lang}"


def test_no_informing_page_scrolls_sideways_on_a_360_px_phone_and_axe_finds_nothing_serious(
        browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    wide: list[str] = []
    problems: list[str] = []
    for lang in LANGUAGES:
        for path in PAGES:
            page.goto(_url(served, path, lang))
            assert page.get_attribute("html", "lang") == lang
            width = page.evaluate("document.scrollingElement.scrollWidth")
            if width > 360:
                wide.append(f"{path} {lang}: {width} px")
            problems += serious(page, f"{path} {lang}")
    page.close()
    assert wide == [], wide
    assert problems == [], problems


def test_every_link_and_button_is_a_44_px_target_and_text_is_at_least_14_px(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    small: list[str] = []
    for path in PAGES:
        page.goto(_url(served, path, "ky"))
        small += page.evaluate("""() => [...document.querySelectorAll('nav a, .list a, button, a.button, input:not([type=hidden])')]
            .filter(el => { const r = el.getBoundingClientRect(); return r.width < 44 || r.height < 44; })
            .map(el => el.outerHTML.slice(0, 80))""")
        small += page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(el => el.childNodes.length && [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
            .filter(el => parseFloat(getComputedStyle(el).fontSize) < 14)
            .map(el => 'text ' + el.outerHTML.slice(0, 80))""")
    page.close()
    assert small == [], small


def test_a_service_page_prints_without_navigation_and_with_the_law_links_written_out(
        browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 800, "height": 1000})
    page.goto(_url(served, "/office/demo/services/passport", "uk"))
    assert page.is_visible("nav.langs") and page.is_visible(".actions button")
    page.emulate_media(media="print")
    assert not page.is_visible("nav.langs")
    assert not page.is_visible(".actions")
    after = page.evaluate("getComputedStyle(document.querySelector('.legal a'), '::after').content")
    assert "https://zakon.rada.gov.ua/laws/show/5492-17" in after
    assert "Свідоцтво про народження або попередній паспорт" in page.inner_text("main")
    pdf = page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    page.close()


def test_the_start_page_leads_to_the_services_and_the_search_box_finds_one(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{served}/?lang=ru")
    page.get_by_role("link", name="Услуги и документы").first.click()
    page.get_by_label("Поиск услуги").fill("свидетелство о рождени")
    page.get_by_role("button", name="Найти").click()
    page.locator("#hits a").first.click()
    assert page.inner_text("h1") == "Регистрация рождения"
    assert "Медицинское свидетельство о рождении (из роддома)" in page.inner_text("main")
    page.close()


def test_the_web_kiosk_shows_what_to_bring_before_the_ticket(browser: Any, served: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 740})
    page.goto(f"{served}/office/demo/kiosk")
    page.get_by_text("Кыргызча").click()
    page.get_by_text("D · Төрөлгөндү каттоо").click()
    page.get_by_role("button", name="Эмне алып келүү керек?").click()
    assert page.inner_text("h2") == "Эмне алып келүү керек: Төрөлгөндү каттоо"
    docs = page.locator("ul.docs li").all_inner_texts()
    assert docs[0] == "Төрөт үйүнөн берилген төрөлгөндүгү тууралуу медициналык күбөлүк" and len(docs) == 3
    assert "Кайда: 1-кабат, 4–5-терезелер" in page.inner_text("main")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    assert serious(page, "web kiosk info ky") == []
    page.get_by_role("button", name="Талон алуу").click()
    page.get_by_role("button").first.click()  # no priority category
    page.locator("#ticket .number").wait_for()
    assert page.inner_text("#ticket .number").startswith("D-")
    page.close()
