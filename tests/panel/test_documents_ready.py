"""The counter page's "Documents ready" button (issue 19) in Chromium: it tells the visitor's contact once,
through the same code as the REST endpoint, confirms in the clerk's language and says when nobody can be told;
it is absent where the office sends no messages, and a form of another site cannot press it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url
from tests.notify.conftest import notify_config
from tests.notify.fakes import FakeGateway
from tests.panel.conftest import OPEN, PASSWORD, Clock
from tests.support.axe import serious
from tests.support.browser import serving

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHERGA_TEST_SMS_AUTH", "Bearer sms-secret")
    monkeypatch.setenv("CHERGA_TEST_TG_TOKEN", "123456:test-bot-token")


@pytest.fixture
def notify_app(tmp_path: Path) -> Iterator[FastAPI]:
    """The demo office sending SMS and Telegram messages (to a fake gateway on loopback), one operator."""
    store = Store(sqlite_url(tmp_path / "office.sqlite"))
    auth.create_account(store, username="olena", role="operator", password=PASSWORD, pin=None,
                        display_name="Olena", now=OPEN)
    with FakeGateway() as gateway:
        yield create_app(notify_config(gateway.url), "sqlite://", clock=Clock(), store=store, sweep_interval=None)
    store.close()


def _documents_ready_rows(app: FastAPI, ticket_id: str) -> list[dict[str, Any]]:
    notifier: Notifier = app.state.notifiers["demo"]
    return [r for r in notifier.outbox.rows() if r["kind"] == "documents_ready" and r["ticket_id"] == ticket_id]


def test_pressing_documents_ready_queues_one_message_for_that_ticket_and_says_so_in_staff_language(
        notify_app: FastAPI, browser: Any) -> None:
    from playwright.sync_api import expect

    service: OfficeService = notify_app.state.service
    notifier: Notifier = notify_app.state.notifiers["demo"]
    told = service.issue_ticket(command_id="d1", source="kiosk-1", service="passport", language="ky")
    assert told.token is not None  # a kiosk ticket always has its page's token
    notifier.add_ticket_contact(told.token, channel="telegram", address="777", consent=True, language="ky")
    silent = service.issue_ticket(command_id="d2", source="kiosk-1", service="passport", language="uk")
    with serving(notify_app) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(10_000)
        page.goto(f"{base}/panel/signin?lang=uk")
        page.fill("input[name=username]", "olena")
        page.fill("input[name=password]", PASSWORD)
        page.select_option("select[name=counter]", "c1")
        page.click("button.primary")
        assert page.locator("button[data-action=documents_ready]").count() == 0  # nobody at the counter yet
        page.click("button[data-action=next]")
        expect(page.locator("#current-label")).to_have_text(told.label)
        button = page.locator("button[data-action=documents_ready]")
        expect(button).to_have_text(f"Документи готові · {told.label}")
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44
        assert serious(page, "counter page with documents ready") == []

        button.click()
        expect(page.locator(".flash")).to_have_text(f"Талон {told.label}: відвідувачу повідомлено, що документи готові.")
        rows = _documents_ready_rows(notify_app, told.ticket_id)
        assert len(rows) == 1 and rows[0]["channel"] == "telegram"
        assert "документтериңиз даяр" in rows[0]["body"]  # in the visitor's language, not the clerk's
        # A second press tells nobody twice, and the clerk reads why nothing happened.
        page.click("button[data-action=documents_ready]")
        expect(page.locator(".flash")).to_have_text(f"Талон {told.label}: відвідувачу вже повідомлено, що документи готові.")
        assert len(_documents_ready_rows(notify_app, told.ticket_id)) == 1

        # Once finished, the button still marks the ticket just served (the documents are often ready later).
        page.click("button[data-action=finish]")
        expect(page.locator("button[data-action=documents_ready]")).to_have_text(f"Документи готові · {told.label}")

        # A visitor who left no contact: the clerk is told nobody can be told, and nothing is queued.
        page.click("button[data-action=next]")
        expect(page.locator("#current-label")).to_have_text(silent.label)
        page.click("button[data-action=documents_ready]")
        expect(page.locator(".flash")).to_have_text(
            f"Талон {silent.label}: відвідувач не залишив контакту, повідомити нікому.")
        assert _documents_ready_rows(notify_app, silent.ticket_id) == []
        assert serious(page, "counter page after documents ready") == []
        page.close()


def test_a_form_of_another_site_cannot_press_documents_ready(notify_app: FastAPI) -> None:
    service: OfficeService = notify_app.state.service
    notifier: Notifier = notify_app.state.notifiers["demo"]
    t = service.issue_ticket(command_id="x1", source="kiosk-1", service="passport", language="en")
    assert t.token is not None
    notifier.add_ticket_contact(t.token, channel="sms", address="+380501234567", consent=True, language="en")
    with TestClient(notify_app, base_url="http://127.0.0.1") as client:
        r = client.post("/panel/signin", data={"username": "olena", "password": PASSWORD, "counter": "c1",
                                                "lang": "en"}, follow_redirects=False)
        assert r.status_code == 303
        url = "/panel/counter/c1/documents-ready"
        foreign = client.post(url, data={"ticket_id": t.ticket_id}, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403
        assert _documents_ready_rows(notify_app, t.ticket_id) == []
        own = client.post(url, data={"ticket_id": t.ticket_id, "lang": "en"},
                          headers={"Origin": "http://127.0.0.1", "X-Panel-Fragment": "1"})
        assert own.status_code == 200 and "the visitor is told the documents are ready" in own.text
        assert len(_documents_ready_rows(notify_app, t.ticket_id)) == 1
        unknown = client.post(url, data={"ticket_id": "no-such-ticket", "lang": "en"},
                              headers={"X-Panel-Fragment": "1"})
        assert unknown.status_code == 200 and "This ticket does not exist." in unknown.text


def test_an_office_that_sends_no_messages_shows_no_documents_ready_button(
        signed_in: Any, service: OfficeService) -> None:
    client = signed_in()
    service.issue_ticket(command_id="n1", source="kiosk-1", service="passport")
    service.counter_action(command_id="n2", counter="c1", action="next", source="pad-c1")  # type: ignore[arg-type]
    page = client.get("/panel/counter/c1")
    assert page.status_code == 200 and "data-action=\"next\"" in page.text
    assert "documents_ready" not in page.text
