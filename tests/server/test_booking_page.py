"""The citizens' booking page: a visitor books a slot on a phone, brings the code, and the kiosk honours it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config

BOOK = "/office/demo/book"


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    app = create_app(demo_config(), sqlite_url(tmp_path / "cherga.db"), clock=clock, sweep_interval=None)
    with TestClient(app) as c:
        yield c


def _links(html: str, pattern: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r"href='([^']*)'", html) if re.search(pattern, h)]


def _slot_form(html: str) -> tuple[dict[str, str], list[str]]:
    hidden = dict(re.findall(r"<input type=hidden name=(\w+) value='([^']*)'>", html))
    return hidden, re.findall(r"<button name=slot value='([^']*)'>", html)


def test_a_visitor_books_in_kyrgyz_and_checks_in_at_the_kiosk_with_the_code(client: TestClient, clock: Clock) -> None:
    start = client.get(f"{BOOK}?lang=ky")
    assert start.status_code == 200 and "Алдын ала жазылуу" in start.text and "Кызматты тандаңыз" in start.text
    service_link = _links(start.text, r"service=passport")[0]
    days = client.get(service_link)
    assert "Күндү тандаңыз" in days.text
    day_link = _links(days.text, r"day=2026-11-25")[0]  # today still has free time after 10:00
    day = client.get(day_link)
    hidden, slots = _slot_form(day.text)
    assert slots and all(s > "2026-11-25T10" for s in slots)
    assert "10:15" in day.text and "09:45" not in day.text  # the clock says 10:00 in Kyiv
    booked = client.post(BOOK, data={**hidden, "slot": slots[0]})
    assert booked.status_code == 201 and "Сиз жазылдыңыз" in booked.text and "<svg" in booked.text
    code = re.search(r"data-code='([A-Z0-9-]+)'", booked.text).group(1)  # type: ignore[union-attr]
    # A double tap resends the same form: the same booking, not a second one.
    again = client.post(BOOK, data={**hidden, "slot": slots[0]})
    assert f"data-code='{code}'" in again.text
    clock.advance(10 * 60)  # 10:10, five minutes before the 10:15 slot
    t = client.post("/api/v1/offices/demo/tickets", json={"appointment_code": code})
    assert t.status_code == 201 and t.json()["origin"] == "booked"


def test_a_taken_slot_is_refused_in_the_visitors_language_and_the_day_is_shown_again(client: TestClient) -> None:
    day = client.get(f"{BOOK}?lang=uk&service=passport&day=2026-11-26")
    hidden, slots = _slot_form(day.text)
    assert client.post(BOOK, data={**hidden, "slot": slots[3]}).status_code == 201
    other = client.post(BOOK, data={**hidden, "command_id": "book-other", "slot": slots[3]})
    assert other.status_code == 200 and "Цей час уже зайняли" in other.text
    _, left = _slot_form(other.text)
    assert slots[3] not in left and slots[4] in left


def test_a_booking_is_cancelled_with_its_code_and_the_slot_is_free_again(client: TestClient) -> None:
    day = client.get(f"{BOOK}?lang=en&service=passport&day=2026-11-26")
    hidden, slots = _slot_form(day.text)
    code = re.search(r"data-code='([A-Z0-9-]+)'", client.post(BOOK, data={**hidden, "slot": slots[0]}).text)
    assert code is not None
    assert slots[0] not in _slot_form(client.get(f"{BOOK}?lang=en&service=passport&day=2026-11-26").text)[1]
    done = client.post(f"{BOOK}/cancel", data={"code": code.group(1).lower(), "lang": "en"})
    assert "Booking cancelled" in done.text
    assert slots[0] in _slot_form(client.get(f"{BOOK}?lang=en&service=passport&day=2026-11-26").text)[1]
    wrong = client.post(f"{BOOK}/cancel", data={"code": "ABCD-2345", "lang": "en"})
    assert "No booking has this code" in wrong.text


def test_a_closed_day_offers_no_time_and_an_unknown_office_is_404(client: TestClient) -> None:
    sunday = client.get(f"{BOOK}?lang=ru&service=passport&day=2026-11-29")
    assert "На этот день свободного времени нет" in sunday.text and "<button name=slot" not in sunday.text
    assert client.get("/office/nowhere/book").status_code == 404


def test_a_slot_in_year_9999_is_refused_in_the_visitors_language_with_the_days_to_choose(client: TestClient) -> None:
    day = client.get(f"{BOOK}?lang=uk&service=passport&day=2026-11-26")
    hidden, _ = _slot_form(day.text)
    r = client.post(BOOK, data={**hidden, "slot": "9999-12-31T23:45:00+00:00"})
    assert r.status_code == 422 and "На цей день запис ще не відкрито" in r.text
    assert _links(r.text, r"day=2026-11-26")  # the days with free time are offered again
