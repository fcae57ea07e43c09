"""The notification pages and endpoints through the real app: the contact form in Chromium at 360 px
(axe-core, the ticket's language, CSRF), the REST endpoints, /metrics and the manager's device list."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.notify.engine import Notifier
from cherga.server.store import Store
from tests.notify.conftest import notify_config
from tests.notify.fakes import FakeGateway
from tests.server.helpers import OPEN_TIME, Clock
from tests.support.axe import serious
from tests.support.wait import wait_until

PASSWORD = "correct-horse-1"


@pytest.fixture
def app(gateway: FakeGateway, smtp: tuple[int, list[dict[str, Any]]], store: Store, clock: Clock) -> FastAPI:
    for username, role in [("olena", "operator"), ("maria", "hall_manager")]:
        auth.create_account(store, username=username, role=role, password=PASSWORD, pin=None,
                            display_name=username.capitalize(), now=OPEN_TIME)
    return create_app(notify_config(gateway.url, smtp[0]), "sqlite://", clock=clock, store=store, sweep_interval=None)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # the lifespan runs: the notifier's threads deliver on their own
        yield c


def _login(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _ticket(app: FastAPI, lang: str = "uk") -> Any:
    return app.state.service.issue_ticket(command_id=f"t-{lang}-{app.state.service.now()}", source="kiosk",
                                          service="passport", language=lang)


def test_a_contact_through_the_api_is_kept_only_with_consent_and_a_valid_address(client: TestClient,
                                                                                 app: FastAPI) -> None:
    t = _ticket(app)
    url = f"/api/v1/tickets/{t.token}/contacts"
    no = client.post(url, json={"channel": "sms", "address": "+380501234567", "consent": False})
    assert no.status_code == 422 and no.json()["key"] == "consent_required"
    bad = client.post(url, json={"channel": "email", "address": "not-an-address", "consent": True})
    assert bad.status_code == 422 and bad.json()["key"] == "bad_email"
    assert client.post("/api/v1/tickets/nosuchtoken/contacts",
                       json={"channel": "sms", "address": "+380501234567", "consent": True}).status_code == 404
    ok = client.post(url, json={"channel": "sms", "address": "+380501234567", "consent": True})
    assert ok.status_code == 201 and ok.json()["consent_version"]
    notifier: Notifier = app.state.notifiers["demo"]
    assert len(notifier.outbox.contacts_for(ticket_id=t.ticket_id)) == 1


def test_staff_mark_documents_ready_and_the_citizen_hears_once_and_metrics_count_it(
        client: TestClient, app: FastAPI, gateway: FakeGateway) -> None:
    t = _ticket(app, lang="en")
    client.post(f"/api/v1/tickets/{t.token}/contacts", json={"channel": "telegram", "address": "777", "consent": True})
    url = f"/api/v1/offices/demo/tickets/{t.ticket_id}/documents-ready"
    assert client.post(url).status_code == 401
    staff = _login(client, "olena")
    first = client.post(url, headers=staff)
    assert first.status_code == 202 and first.json() == {"contacts": 1, "queued": 1}
    assert client.post(url, headers=staff).json() == {"contacts": 1, "queued": 0}
    wait_until(lambda: any("documents are ready" in r["body"] for r in gateway.delivered()),
               what="the documents-ready message at the fake Bot API")
    texts = [json.loads(r["body"])["text"] for r in gateway.delivered()]
    assert sum("documents are ready" in x for x in texts) == 1
    wait_until(lambda: 'cherga_notifications{channel="telegram",office="demo",state="sent"}' in client.get(
        "/metrics").text, what="sent messages in /metrics")
    metrics = client.get("/metrics").text
    assert 'cherga_notify_gateway_up{channel="sms",office="demo"} 1.0' in metrics


def test_a_failing_gateway_shows_on_the_managers_device_list_and_in_metrics(client: TestClient, app: FastAPI,
                                                                           gateway: FakeGateway) -> None:
    gateway.fail_with(503)
    t = _ticket(app)
    client.post(f"/api/v1/tickets/{t.token}/contacts", json={"channel": "sms", "address": "+380501234567",
                                                            "consent": True})
    app.state.service.counter_action(command_id="n1", counter="c1", action=A.NEXT, source="test")
    wait_until(lambda: gateway.requests, what="a try at the failing gateway")
    manager = _login(client, "maria")

    def sms_row() -> dict[str, Any]:
        rows = client.get("/api/v1/offices/demo/devices", headers=manager).json()["gateways"]
        return next(r for r in rows if r["channel"] == "sms")

    wait_until(lambda: not sms_row()["ok"], what="the SMS gateway reported failing")
    row = sms_row()
    assert "503" in row["last_error"] and row["failing_since"] and row["pending"] >= 1
    assert 'cherga_notify_gateway_up{channel="sms",office="demo"} 0.0' in client.get("/metrics").text
    # The hall manager's page says it in the manager's words, beside the devices.
    r = client.post("/panel/signin", data={"username": "maria", "password": PASSWORD, "counter": "", "lang": "uk"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/panel/manager?lang=uk").text
    sms = page.split('<li data-channel="sms"', 1)[1].split("</li>", 1)[0]
    assert 'class="gateway-failing"' in sms and "не працює" in sms and f"очікують відправлення: {row['pending']}" in sms
    telegram = page.split('<li data-channel="telegram"', 1)[1].split("</li>", 1)[0]
    assert "працює" in telegram and "не працює" not in telegram


def test_a_form_post_without_the_forms_token_or_from_another_site_is_refused_and_stores_nothing(
        client: TestClient, app: FastAPI) -> None:
    t = _ticket(app)
    form = {"channel": "sms", "address": "+380501234567", "consent": "yes", "lang": "uk"}
    forged = client.post(f"/t/{t.token}/notify", data={**form, "csrf": "1.deadbeef"})
    assert forged.status_code == 403 and "+380501234567" in forged.text  # what was typed is still there
    page = client.get(f"/t/{t.token}/notify")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    cross = client.post(f"/t/{t.token}/notify", data={**form, "csrf": csrf},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    notifier: Notifier = app.state.notifiers["demo"]
    assert notifier.outbox.contacts_for(ticket_id=t.ticket_id) == []
    ok = client.post(f"/t/{t.token}/notify", data={**form, "csrf": csrf})
    assert ok.status_code == 200 and "ми вас повідомимо" in ok.text
    assert len(notifier.outbox.contacts_for(ticket_id=t.ticket_id)) == 1


@pytest.mark.parametrize("lang", ["uk", "ru", "ky", "kk", "en"])
def test_the_contact_form_on_a_360px_phone_in_the_tickets_language(browser: Any, app: FastAPI, lang: str) -> None:
    from tests.support.browser import serving

    t = _ticket(app, lang=lang)
    with serving(app) as base:
        # bypass_csp: only so the test can inject axe-core; the page itself runs no script.
        page = browser.new_page(viewport={"width": 360, "height": 740}, bypass_csp=True)
        try:
            page.goto(f"{base}/t/{t.token}/notify")
            assert page.get_attribute("html", "lang") == lang
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert serious(page, f"notify form {lang}") == []
            consent = page.get_by_role("checkbox")
            assert consent.is_visible() and len(page.locator("label[for=consent]").inner_text()) > 40
            # Without the consent box: refused in the citizen's words, and what they typed is still there.
            page.fill("#address", "+380 50 123 45 67")
            page.click("button[type=submit]")
            assert page.locator("#form-error").is_visible()
            assert page.input_value("#address") == "+380 50 123 45 67"
            assert serious(page, f"notify form error {lang}") == []
            notifier: Notifier = app.state.notifiers["demo"]
            assert notifier.outbox.contacts_for(ticket_id=t.ticket_id) == []
            page.check("#consent")
            page.click("button[type=submit]")
            assert page.locator(".ok").is_visible()
            assert notifier.outbox.contacts_for(ticket_id=t.ticket_id)[0].language == lang
            for button in page.locator("button, nav a, a.b").all():
                box = button.bounding_box()
                assert box is None or box["height"] >= 44
        finally:
            page.close()


def test_the_booking_form_takes_an_optional_contact_only_with_consent_and_confirms_by_email(
        client: TestClient, app: FastAPI, smtp: tuple[int, list[dict[str, Any]]]) -> None:
    svc = app.state.service
    day = svc.now().astimezone(svc.config.office.tz).date()
    slot = None
    for k in range(1, 8):
        free = [s for s in svc.free_slots("passport", day + dt.timedelta(days=k)) if s.free]
        if free:
            slot = free[0].start
            break
    assert slot is not None
    page = client.get(f"/office/demo/book?lang=en&service=passport&day={slot.astimezone(svc.config.office.tz).date()}")
    assert "contact_consent" in page.text and "I agree that" in page.text
    form = {"service": "passport", "slot": slot.isoformat(), "lang": "en", "contact_channel": "email",
            "contact_address": "visitor@example.org"}
    refused = client.post("/office/demo/book", data={**form, "command_id": "book-1"})
    assert refused.status_code == 422 and "Without your consent" in refused.text
    assert "visitor@example.org" in refused.text  # what was typed is still in the form
    assert svc.appointments_on(slot.astimezone(svc.config.office.tz).date()) == []  # and nothing was booked
    booked = client.post("/office/demo/book", data={**form, "command_id": "book-2", "contact_consent": "yes"})
    assert booked.status_code == 201
    again = client.post("/office/demo/book", data={**form, "command_id": "book-2", "contact_consent": "yes"})
    assert again.status_code == 201  # a double tap: the same booking, the same contact
    wait_until(lambda: smtp[1], what="the confirmation e-mail")
    notifier: Notifier = app.state.notifiers["demo"]
    notifier.pump()
    confirmations = [m for m in smtp[1] if "Appointment confirmed" in m["message"].get_content()]
    assert len(confirmations) == 1 and confirmations[0]["to"] == ["visitor@example.org"]


def test_the_booking_forms_contact_block_fits_a_360px_phone_and_passes_axe(browser: Any, app: FastAPI) -> None:
    from tests.support.browser import serving

    svc = app.state.service
    today = svc.now().astimezone(svc.config.office.tz).date()
    day = next(today + dt.timedelta(days=k) for k in range(1, 8)
               if any(s.free for s in svc.free_slots("passport", today + dt.timedelta(days=k))))
    with serving(app) as base:
        page = browser.new_page(viewport={"width": 360, "height": 740}, bypass_csp=True)
        try:
            page.goto(f"{base}/office/demo/book?lang=ky&service=passport&day={day}")
            assert page.locator("#contact_consent").is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            assert serious(page, "booking with contact") == []
        finally:
            page.close()


def test_an_office_without_gateways_says_so_and_keeps_no_contact(store: Store, clock: Clock) -> None:
    from tests.server.helpers import demo_config

    app = create_app(demo_config(), "sqlite://", clock=clock, store=store, sweep_interval=None)
    with TestClient(app) as client:
        t = _ticket(app, lang="ru")
        page = client.get(f"/t/{t.token}/notify")
        assert page.status_code == 200 and "Этот центр не отправляет уведомлений." in page.text
        assert "<form" not in page.text
        r = client.post(f"/api/v1/tickets/{t.token}/contacts",
                        json={"channel": "sms", "address": "+79161234567", "consent": True})
        assert r.status_code == 422 and r.json()["key"] == "channel_off"
        assert app.state.notifiers["demo"].outbox.contacts_for(ticket_id=t.ticket_id) == []
