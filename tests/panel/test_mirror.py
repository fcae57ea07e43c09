"""The browser mirrors of the kiosk and the hall display (what `make run` shows on a headless box)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image

from cherga.broker_bridge.contract import CounterAction
from cherga.server.service import OfficeService
from tests.panel.conftest import Clock
from tests.panel.test_browser import not_blank, page  # noqa: F401 - fixture (served comes from tests/panel/conftest.py)


def test_start_page_links_every_mirror(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    for link in ("/office/demo/kiosk", "/office/demo/hall", "/panel/"):
        assert link in r.text


def test_mirror_of_an_unknown_office_is_404_naming_it(client: TestClient) -> None:
    r = client.get("/office/nowhere/hall")
    assert r.status_code == 404 and "nowhere" in r.text


def test_web_kiosk_issues_a_ticket_in_kyrgyz(page: Any, served: str, service: OfficeService) -> None:  # noqa: F811
    page.goto(f"{served}/office/demo/kiosk")
    page.get_by_text("Кыргызча").click()
    page.get_by_text("Тилди тандаңыз").wait_for(state="detached")
    assert "Кызматты тандаңыз" in page.inner_text("main")
    page.get_by_text("A · Жарандын паспорту").click()
    page.get_by_text("Документтерди тапшыруу").click()
    page.get_by_role("button", name="Жок").click()  # no priority category
    ticket = page.locator("#ticket")
    ticket.wait_for()
    label = ticket.get_attribute("data-label")
    assert label == "A-001"
    assert "Сиздин алдыңызда: 0" in ticket.inner_text()
    # The ticket is real: the office's waiting list has it, issued in Kyrgyz for submitting documents.
    waiting = service.waiting_list("c1")
    assert [(t.label, t.language, t.purpose) for t in waiting] == [("A-001", "ky", "submit")]


def test_hall_mirror_shows_the_newest_call(page: Any, served: str, service: OfficeService) -> None:  # noqa: F811
    for i in range(2):
        service.issue_ticket(command_id=f"m{i}", source="test", service="residence", language="uk")
    service.counter_action(command_id="n1", counter="c4", action=CounterAction.NEXT, source="test", operator=None)
    service.counter_action(command_id="n2", counter="c5", action=CounterAction.NEXT, source="test", operator=None)
    page.goto(f"{served}/office/demo/hall")
    newest = page.locator("tr.newest")
    newest.wait_for()
    assert newest.get_attribute("data-label") == "C-002"
    assert "5" in newest.inner_text()  # counter c5 is window 5
    rows = page.locator("#calls tr").all_inner_texts()
    assert len(rows) == 2 and "C-001" in rows[1]
    shot = page.screenshot()
    assert not_blank(shot)
    # The newest row is highlighted as on the TV: yellow with dark text or blue with white text.
    img = Image.open(io.BytesIO(shot)).convert("RGB")
    box = newest.bounding_box()
    assert box is not None
    pixel = img.getpixel((int(box["x"] + 5), int(box["y"] + box["height"] / 2)))
    assert pixel in {(0xFF, 0xC4, 0x00), (0x24, 0x5C, 0xA0)}  # either phase of the blink


def test_web_kiosk_checks_a_booked_visitor_in_with_the_code(page: Any, served: str, service: OfficeService,  # noqa: F811
                                                            clock: Clock) -> None:
    slot = service.free_slots("passport", service.now().astimezone(service.config.office.tz).date())[0].start
    code = service.book_appointment(service="passport", slot=slot, source="test")
    clock.now = slot - dt.timedelta(minutes=5)  # check-in opens 10 minutes before the slot
    page.goto(f"{served}/office/demo/kiosk")
    page.get_by_text("English").click()
    page.get_by_text("I have a booking").click()
    page.fill("#code", "ZZZZ-ZZZZ")
    page.get_by_role("button", name="OK").click()
    page.get_by_text("No booking has this code").wait_for()
    page.fill("#code", code.lower())
    page.get_by_role("button", name="OK").click()
    ticket = page.locator("#ticket")
    ticket.wait_for()
    assert ticket.get_attribute("data-label") == "A-700"  # the office's booked range
