"""The live ticket page on a phone and a desktop in Chromium (Playwright, real uvicorn on loopback).

One ticket is followed from issue to call to finish to rating in each language at 390×844 without
the page reloading (a marker set in the page survives), with the chime and the vibration on the
call; each state passes axe-core, shows no catalog key, no English on a non-English page and no
sideways scroll. The unknown-token page, server-sent events, and the polling fallback (no
EventSource, or the stream bound reached) are checked too.

Waits poll ``page.evaluate`` from Python: the pages' Content-Security-Policy forbids the string
evaluation ``wait_for_function`` uses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.db import schema
from cherga.server.ticketpage.i18n import catalog
from cherga.server.ticketpage.routes import StreamGate, gate_for
from tests.support.axe import serious
from tests.support.wait import wait_until
from tests.ticketpage.conftest import Office

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1920, "height": 1080}
KEY = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")
# The phone's vibration, recorded: headless Chromium has no motor.
VIBRATE = "window.__buzz = []; navigator.vibrate = function (p) { window.__buzz.push(p); return true; };"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    context.add_init_script(VIBRATE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def text_of(page: Any, selector: str = "#live") -> str:
    return str(page.evaluate(f"document.querySelector({selector!r}).innerText"))


def wait_text(page: Any, wanted: str, selector: str = "#live") -> None:
    wait_until(lambda: wanted in text_of(page, selector), what=lambda: f"{wanted!r} in {text_of(page, selector)!r}")


def check_page(page: Any, lang: str, where: str, width: int) -> None:
    """What every state must be: readable words in the page's language, accessible, no sideways scroll."""
    assert page.evaluate("document.documentElement.lang") == lang
    body = text_of(page, "main")
    assert not KEY.search(body), f"{where}: a catalog key on the page: {body}"
    if lang != "en":
        assert not re.search(r"[A-Za-z]{2,}", body), f"{where}: English on the {lang} page: {body}"
    assert page.evaluate("document.scrollingElement.scrollWidth") <= width, where
    problems = serious(page, where)
    assert problems == [], problems


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_citizen_follows_one_ticket_to_the_counter_and_rates_it_without_reloading(
        phone: Any, served: str, office: Office, lang: str) -> None:
    t = catalog(lang)
    office.open_counter_1()
    office.issue("passport", "uk")  # somebody ahead
    mine = office.issue("passport", lang)
    phone.goto(f"{served}/t/{mine.token}")
    phone.evaluate("window.__marker = 'same page'")
    assert t["people_ahead"].format(n=1) in text_of(phone)
    check_page(phone, lang, f"{lang} waiting", PHONE["width"])
    phone.click("#sound")  # the tap that lets the browser ring later
    assert phone.evaluate("document.getElementById('sound').getAttribute('aria-pressed')") == "true"

    office.act("c1", CounterAction.NEXT)  # the one ahead
    wait_text(phone, t["you_are_next"])
    office.act("c1", CounterAction.FINISH)
    office.act("c1", CounterAction.NEXT)  # mine
    wait_text(phone, t["go_to_counter"].format(n="1"))
    assert t["called_title"] in text_of(phone) and t["window"].format(n="1") in text_of(phone)
    wait_until(lambda: phone.evaluate("window.chergaTicket.chimes") == 1, what="the chime played on the call")
    assert phone.evaluate("window.__buzz.length") == 1 and phone.evaluate("window.chergaTicket.alerts") == 1
    check_page(phone, lang, f"{lang} called", PHONE["width"])

    office.act("c1", CounterAction.RECALL)
    wait_text(phone, t["recalled_title"])
    wait_until(lambda: phone.evaluate("window.__buzz.length") == 2, what="a recall buzzes again")
    office.act("c1", CounterAction.START)
    wait_text(phone, t["serving_title"].format(n="1"))
    office.act("c1", CounterAction.FINISH)
    wait_text(phone, t["rate_prompt"])
    check_page(phone, lang, f"{lang} served", PHONE["width"])
    phone.get_by_role("button", name=t["rate_1"]).click()
    wait_text(phone, t["rated_thanks"])
    assert phone.evaluate("window.__marker") == "same page"  # never reloaded, never navigated
    assert phone.evaluate("window.chergaTicket.mode") == "sse"
    with office.service.store.reading() as conn:  # the pads' ratings table: one rating, the best face
        scores = conn.execute(select(schema.ratings.c.score).where(schema.ratings.c.ticket_id == mine.ticket_id)).all()
    assert [s[0] for s in scores] == [1]
    assert phone.evaluate("window.__buzz.length") == 2  # the end of the visit does not buzz
    assert phone.evaluate("document.querySelector('.waiting-tools').hidden")  # nothing will ring any more


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_reads_well_on_a_desktop_and_a_small_phone(browser: Any, served: str, office: Office,
                                                           lang: str) -> None:
    mine = office.issue("passport", lang)
    for size in (DESKTOP, {"width": 360, "height": 740}):
        page = browser.new_page(viewport=size)
        page.goto(f"{served}/t/{mine.token}")
        assert catalog(lang)["please_wait"] in text_of(page)
        check_page(page, lang, f"{lang} {size['width']}", size["width"])
        # the number stays on one line
        assert page.evaluate("document.querySelector('.label').getClientRects().length") == 1
        page.close()


def test_an_unknown_token_opens_a_page_in_the_browsers_language_with_the_way_back(browser: Any, served: str) -> None:
    context = browser.new_context(viewport=PHONE, locale="kk-KZ")
    page = context.new_page()
    response = page.goto(f"{served}/t/not-a-real-ticket-token")
    assert response is not None and response.status == 404
    t = catalog("kk")
    assert page.evaluate("document.documentElement.lang") == "kk"
    assert t["unknown_title"] in text_of(page, "main")
    assert serious(page, "unknown") == []
    page.get_by_role("link", name=t["to_start"]).click()
    page.wait_for_url(f"{served}/?lang=kk")
    context.close()


def test_without_event_source_the_page_polls_and_still_follows_the_ticket(
        browser: Any, served: str, office: Office) -> None:
    context = browser.new_context(viewport=PHONE)
    context.add_init_script("delete window.EventSource;")
    page = context.new_page()
    office.open_counter_1()
    mine = office.issue("passport", "ru")
    page.goto(f"{served}/t/{mine.token}?poll=2")
    page.evaluate("window.__marker = 'same page'")
    assert page.evaluate("window.chergaTicket.mode") == "poll"
    office.act("c1", CounterAction.NEXT)
    wait_text(page, catalog("ru")["go_to_counter"].format(n="1"))
    assert page.evaluate("window.__marker") == "same page"
    context.close()


def test_when_the_stream_bound_is_reached_the_page_falls_back_to_polling(
        app: FastAPI, browser: Any, served: str, office: Office) -> None:
    app.state.ticket_streams = StreamGate(limit=0)
    page = browser.new_page(viewport=PHONE)
    office.open_counter_1()
    mine = office.issue("passport", "en")
    page.goto(f"{served}/t/{mine.token}?poll=2")
    wait_until(lambda: page.evaluate("window.chergaTicket.mode") == "poll", what="polling after the 503")
    office.act("c1", CounterAction.NEXT)
    wait_text(page, "Please go to counter 1")
    assert gate_for(app).open == 0
    page.close()


def test_the_stream_of_a_closed_page_is_closed(app: FastAPI, browser: Any, served: str, office: Office) -> None:
    mine = office.issue("passport", "uk")
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{served}/t/{mine.token}")
    wait_until(lambda: gate_for(app).open == 1, what="the page's one stream")
    page.close()
    wait_until(lambda: gate_for(app).open == 0, what="the stream closed with its page")
