"""Issue 20: once the closing rule "stop" has stopped calls for a service, the live ticket page of a
ticket still waiting for it says plainly that nobody more is called today and offers booking, in the
ticket's language; a ticket already called is not touched. The demo office closes at 20:00 Kyiv
(18:00 UTC on this Monday); with ``stop_after_min: 30`` calls stop at 18:30 UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server.app import create_app
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import sqlite_url
from cherga.server.ticketpage.i18n import catalog
from tests.support.axe import serious
from tests.ticketpage.conftest import REPO, Clock, Office

BEFORE_CLOSING = dt.datetime(2026, 3, 2, 17, 50, tzinfo=dt.UTC)
CALLS_STOPPED = dt.datetime(2026, 3, 2, 18, 31, tzinfo=dt.UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(BEFORE_CLOSING)


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[FastAPI]:
    data = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    data["closing"] = {"waiting_at_close": "stop", "stop_after_min": 30}
    application = create_app(SiteConfig.model_validate(data), sqlite_url(tmp_path / "office.sqlite"), clock=clock,
                             sweep_interval=None, demo_accounts=True)
    yield application
    application.state.store.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_waiting_ticket_is_told_no_more_calls_today_and_offered_booking_in_its_language(
        client: TestClient, office: Office, clock: Clock, lang: str) -> None:
    t = catalog(lang)
    office.open_counter_1()
    mine = office.issue("passport", lang)
    before = client.get(f"/t/{mine.token}")
    assert t["please_wait"] in before.text and t["calls_stopped_title"] not in before.text
    assert "/book" not in before.text

    clock.now = CALLS_STOPPED
    page = client.get(f"/t/{mine.token}")
    assert page.status_code == 200 and f'<html lang="{lang}">' in page.text
    assert t["calls_stopped_title"] in page.text and t["calls_stopped_what_now"] in page.text
    assert t["please_wait"] not in page.text  # no false hope of a call
    book = f"/office/demo/book?lang={lang}&amp;service=passport"
    assert f'href="{book}"' in page.text and t["book_link"] in page.text
    live = client.get(f"/t/{mine.token}/live").json()
    assert live["state"] == "calls_stopped" and not live["final"] and t["book_link"] in live["html"]
    # The link leads to the booking page in the same language.
    booking = client.get(book.replace("&amp;", "&"))
    assert booking.status_code == 200 and f"<html lang='{lang}'>" in booking.text


def test_a_ticket_called_before_the_stop_still_reads_as_called(client: TestClient, office: Office,
                                                                clock: Clock) -> None:
    t = catalog("uk")
    office.open_counter_1()
    called = office.issue("passport", "uk")
    waiting = office.issue("passport", "uk")
    office.act("c1", CounterAction.NEXT)
    clock.now = CALLS_STOPPED
    assert t["calls_stopped_title"] not in client.get(f"/t/{called.token}").text
    assert t["go_to_counter"].format(n=office.service.config.counter("c1").number) in client.get(
        f"/t/{called.token}").text
    assert t["calls_stopped_title"] in client.get(f"/t/{waiting.token}").text


@pytest.mark.browser
def test_the_calls_stopped_page_on_a_360px_phone_passes_axe_and_its_link_books(
        browser: Any, served: str, office: Office, clock: Clock) -> None:
    t = catalog("ky")
    mine = office.issue("passport", "ky")
    clock.now = CALLS_STOPPED
    page = browser.new_page(viewport={"width": 360, "height": 740}, bypass_csp=True)  # bypass: to inject axe
    try:
        page.goto(f"{served}/t/{mine.token}")
        assert t["calls_stopped_title"] in page.inner_text("#live")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert serious(page, "calls stopped ky") == []
        link = page.get_by_role("link", name=t["book_link"])
        box = link.bounding_box()
        assert box is not None and box["height"] >= 44
        link.click()
        page.wait_for_url("**/office/demo/book**")
        assert page.get_attribute("html", "lang") == "ky"
    finally:
        page.close()
