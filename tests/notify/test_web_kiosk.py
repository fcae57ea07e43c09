"""The web kiosk's "tell me when my turn is near" (issue 19), in Chromium against the real app on
uvicorn: after the ticket, the same steps as the touchscreen kiosk (channel, address, the consent
tick carrying the server's consent text, confirm), kept through the REST door of the phone's form.
The demo office here has an SMS gateway and a Telegram bot (fake, on loopback) and SMTP (aiosmtpd)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from cherga.kiosk.i18n import text
from cherga.server.app import create_app
from cherga.server.mirror.i18n import catalog
from cherga.server.notify import texts
from cherga.server.store import Store
from tests.notify.conftest import notify_config
from tests.notify.fakes import FakeGateway
from tests.server.helpers import Clock
from tests.support.axe import serious


@pytest.fixture
def app(gateway: FakeGateway, smtp: tuple[int, list[dict[str, Any]]], store: Store, clock: Clock) -> FastAPI:
    return create_app(notify_config(gateway.url, smtp[0]), "sqlite://", clock=clock, store=store, sweep_interval=None)


def _all_contacts(app: FastAPI) -> list[Any]:
    from sqlalchemy import select

    from cherga.server.db import schema

    with app.state.service.store.reading() as conn:
        return list(conn.execute(select(schema.notify_contacts.c.ticket_id, schema.notify_contacts.c.channel,
                                        schema.notify_contacts.c.address, schema.notify_contacts.c.language)))


def _take_ticket(page: Any, base: str, lang: str) -> str:
    """A passport ticket from the web kiosk in ``lang`` (submit documents, no priority); its label."""
    page.goto(f"{base}/office/demo/kiosk?lang={lang}")
    page.locator("button", has_text="A · ").first.click()
    page.get_by_role("button", name=text(lang, "purpose.submit"), exact=True).click()
    page.get_by_role("button", name=catalog(lang)["none"], exact=True).click()
    page.wait_for_selector("#ticket")
    label: str = page.get_attribute("#ticket", "data-label") or ""
    return label


@pytest.mark.parametrize("lang", ["uk", "ru", "ky", "kk", "en"])
def test_the_web_kiosk_takes_a_contact_only_with_the_consent_tick_at_360px(browser: Any, app: FastAPI,
                                                                          lang: str) -> None:
    from tests.support.browser import serving

    with serving(app) as base:
        page = browser.new_page(viewport={"width": 360, "height": 740}, bypass_csp=True)
        try:
            page.on("dialog", lambda d: d.dismiss())
            label = _take_ticket(page, base, lang)
            assert label
            page.get_by_role("button", name=text(lang, "notify_offer")).click()
            assert page.inner_text("h2") == text(lang, "notify_title")
            consent = texts.consent_text(lang, office=app.state.service.config.office.names.get(lang), days=30)
            assert page.inner_text("label[for=consent]") == consent  # purpose and retention, the server's words
            assert page.input_value("#address") == "+"  # SMS first: the international form starts with +
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert serious(page, f"web kiosk contact {lang}") == []
            page.fill("#address", "+380 50 123 45 67")
            page.click("#contact button[type=submit]")
            assert page.inner_text("#contact-error") == text(lang, "contact.consent_required")
            assert page.input_value("#address") == "+380 50 123 45 67"  # nothing lost
            assert _all_contacts(app) == []  # and nothing sent
            assert serious(page, f"web kiosk contact error {lang}") == []
            page.check("#consent")
            page.click("#contact button[type=submit]")
            page.wait_for_selector("#saved")
            assert page.inner_text("#saved") == text(lang, "contact_saved")
            ((_, channel, address, language),) = _all_contacts(app)
            assert (channel, address, language) == ("sms", "+380501234567", lang)
            for button in page.locator("button").all():
                box = button.bounding_box()
                assert box is None or box["height"] >= 44
        finally:
            page.close()


def test_a_bad_address_is_refused_in_words_and_no_thanks_leaves_nothing(browser: Any, app: FastAPI) -> None:
    from tests.support.browser import serving

    with serving(app) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        try:
            _take_ticket(page, base, "ky")
            page.get_by_role("button", name=text("ky", "notify_offer")).click()
            page.get_by_role("radio", name=text("ky", "channel.email")).check()
            assert page.input_value("#address") == ""  # the phone's "+" is gone
            assert page.inner_text("label[for=address]") == text("ky", "enter.email")
            page.fill("#address", "olena@")
            page.check("#consent")
            page.click("#contact button[type=submit]")
            page.wait_for_selector("#contact-error")
            assert page.inner_text("#contact-error") == text("ky", "contact.bad_email")
            assert page.input_value("#address") == "olena@" and page.is_checked("#consent")
            page.get_by_role("button", name=text("ky", "no_thanks")).click()
            page.wait_for_selector("#ticket", state="detached")
            assert _all_contacts(app) == []
        finally:
            page.close()


def test_an_office_without_gateways_offers_nothing_on_the_web_kiosk(browser: Any, store: Store, clock: Clock) -> None:
    from tests.server.helpers import demo_config
    from tests.support.browser import serving

    plain = create_app(demo_config(), "sqlite://", clock=clock, store=store, sweep_interval=None)
    with serving(plain) as base:
        page = browser.new_page(viewport={"width": 360, "height": 740})
        try:
            _take_ticket(page, base, "uk")
            assert page.get_by_role("button", name=text("uk", "notify_offer")).count() == 0
        finally:
            page.close()
