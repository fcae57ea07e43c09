"""Citizen pages in every language at phone sizes: the web kiosk's ``?lang=``, the booking flow's
touch targets and accessibility, and the start page's office heading and list bullets (issue 17)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from cherga.broker_bridge.contract import LANGUAGES
from cherga.server.service import OfficeService
from tests.support.axe import serious

pytestmark = pytest.mark.browser

PHONES = [{"width": 360, "height": 740}, {"width": 390, "height": 844}]
# Every target a citizen's thumb can hit: links, buttons, fields.
SMALL_TARGETS = """() => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')]
    .filter(el => el.offsetParent !== null)
    .map(el => { const r = el.getBoundingClientRect();
                 return {what: el.tagName + ' ' + (el.innerText || el.name || el.type || '').trim().slice(0, 30),
                         w: Math.round(r.width), h: Math.round(r.height)}; })
    .filter(t => t.w < 44 || t.h < 44)"""


@pytest.fixture
def phone(browser: Any) -> Any:
    context = browser.new_context(viewport=PHONES[0])
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


# --- the web kiosk's ?lang= ------------------------------------------------------------------------

@pytest.mark.parametrize(("lang", "choose_service", "passport"), [
    ("ky", "Кызматты тандаңыз", "A · Жарандын паспорту"),
    ("kk", None, None), ("ru", None, None), ("en", "Choose a service", "A · National passport"),
])
def test_the_web_kiosk_opened_with_lang_starts_in_that_language_without_the_language_choice(
        phone: Any, served: str, service: OfficeService, lang: str, choose_service: str | None,
        passport: str | None) -> None:
    phone.goto(f"{served}/office/demo/kiosk?lang={lang}")
    phone.locator("#screen .grid button").first.wait_for()
    assert phone.evaluate("document.documentElement.lang") == lang
    heading = phone.inner_text("#screen h2")
    choose = choose_service or _kiosk_text(phone, lang, "choose_service")
    assert heading == choose, heading  # the services, not "Choose your language · Тилди тандаңыз · ..."
    if passport is None:
        return
    phone.get_by_text(passport).click()
    phone.locator("#screen .grid button").first.click()  # the first purpose
    phone.locator("#screen .grid button").first.click()  # no priority category
    phone.locator("#ticket").wait_for()
    assert [(t.language, t.service) for t in service.waiting_list("c1")] == [(lang, "passport")]
    # "Back" after the ticket returns to the services in the same language, not to the language choice.
    phone.locator("#screen button.back").click()
    assert phone.inner_text("#screen h2") == choose


def _kiosk_text(page: Any, lang: str, key: str) -> str:
    text: str = page.evaluate("([l, k]) => OFFICE.texts[l][k]", [lang, key])
    return text


@pytest.mark.parametrize("asked", ["xx", "de", "", "uk%22%3E%3Cb%3E"])
def test_the_web_kiosk_ignores_an_unknown_lang_and_offers_the_language_choice(phone: Any, served: str,
                                                                               asked: str) -> None:
    phone.goto(f"{served}/office/demo/kiosk?lang={asked}")
    phone.locator("#screen .grid button").first.wait_for()
    names = phone.locator("#screen .grid button").all_inner_texts()
    assert "English" in names and "Кыргызча" in names, names
    assert phone.evaluate("document.documentElement.lang") == "uk"


# --- the booking flow: 44 px targets, axe, no sideways scroll -----------------------------------------

def _check(page: Any, where: str, width: int) -> list[str]:
    problems = [f"{where}: {t['what']!r} is {t['w']}x{t['h']} px" for t in page.evaluate(SMALL_TARGETS)]
    scroll = page.evaluate("document.scrollingElement.scrollWidth")
    if scroll > width:
        problems.append(f"{where}: {scroll} px wide")
    return problems + serious(page, where)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_target_of_the_booking_flow_is_44_px_and_passes_axe_on_a_phone(browser: Any, served: str,
                                                                            lang: str) -> None:
    """A visitor on a 360 and a 390 px phone chooses a service, a day and a time, gets the code, and
    cancels it: every link, button and field on every step is at least 44×44 px (the language links
    were 27 px tall), nothing scrolls sideways and axe-core finds nothing serious."""
    problems: list[str] = []
    for size in PHONES:
        context = browser.new_context(viewport=size)
        page = context.new_page()
        page.set_default_timeout(10_000)
        w = size["width"]
        page.goto(f"{served}/office/demo/book?lang={lang}")
        problems += _check(page, f"{w} services", w)
        page.locator("a.b").first.click()
        page.wait_for_load_state()
        problems += _check(page, f"{w} days", w)
        page.locator("a.b").first.click()
        page.wait_for_load_state()
        problems += _check(page, f"{w} times", w)
        page.locator("button[name=slot]").first.click()
        page.locator(".code").wait_for()
        problems += _check(page, f"{w} booked", w)
        code = page.locator(".code").get_attribute("data-code")
        page.locator("p a[href*='/book/cancel']").click()
        page.wait_for_load_state()
        problems += _check(page, f"{w} cancel form", w)
        page.fill("input[name=code]", str(code))
        page.locator("form button").click()
        page.wait_for_load_state()
        assert page.locator("h2").inner_text() != "", lang
        problems += _check(page, f"{w} cancelled", w)
        context.close()
    assert problems == [], problems


# --- the start page -------------------------------------------------------------------------------

def test_the_start_page_names_the_office_without_its_internal_id(client: TestClient) -> None:
    for lang in LANGUAGES:
        page = client.get(f"/?lang={lang}").text
        headings = re.findall(r"<h2>(.*?)</h2>", page)
        assert headings and all("demo" not in h for h in headings), headings
        assert "(demo)" not in page


def _dark_rows(png: bytes) -> list[int]:
    img = Image.open(io.BytesIO(png)).convert("L")
    return [y for y in range(img.height) if any(img.getpixel((x, y)) < 128 for x in range(img.width))]  # type: ignore[operator]


ITEMS = """() => [...document.querySelectorAll('main li')].map(li => {
    const a = li.querySelector('a'), range = document.createRange(); range.selectNodeContents(a);
    const rects = [...range.getClientRects()], box = li.getBoundingClientRect();
    return {text: a.innerText, lines: new Set(rects.map(r => Math.round(r.top))).size,
            first_top: Math.min(...rects.map(r => r.top)), first_bottom: Math.min(...rects.map(r => r.bottom)),
            x: box.left, top: box.top, height: box.height, a_h: a.getBoundingClientRect().height}; })"""


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_start_page_link_that_wraps_has_its_bullet_beside_its_first_line(browser: Any, served: str,
                                                                          lang: str) -> None:
    """On a narrow phone a long link wraps to two lines; its list bullet stands beside the first line
    (it stood beside the last), and each link is still a 44 px target. The bullet is found in the
    pixels: the dark rows in the strip left of the item."""
    context = browser.new_context(viewport={"width": 320, "height": 740})
    page = context.new_page()
    page.goto(f"{served}/?lang={lang}")
    # The longest labels wrap only in some languages: lengthen one so that every language has a case.
    page.evaluate("() => { const a = document.querySelector('main li a');"
                  " a.textContent = (a.textContent + ' ').repeat(4).trim(); }")
    items = page.evaluate(ITEMS)
    assert all(i["a_h"] >= 44 for i in items), [i for i in items if i["a_h"] < 44]
    wrapped = [i for i in items if i["lines"] > 1]
    assert wrapped, items
    for i in wrapped:
        strip = page.screenshot(full_page=True, clip={"x": max(0, i["x"] - 22), "y": i["top"], "width": 20,
                                                      "height": i["height"]})
        bullet = _dark_rows(strip)
        assert bullet, i
        middle = i["top"] + sum(bullet) / len(bullet)
        assert i["first_top"] <= middle <= i["first_bottom"], (i["text"], i["first_top"], i["first_bottom"], middle)
    context.close()
