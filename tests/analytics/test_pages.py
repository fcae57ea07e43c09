"""The manager's reports over HTTP (who may see what, numbers from a real office morning) and the
public load feed (live numbers, traffic lights, no personal data)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from cherga.server.service.results import light_for
from tests.analytics.office import Clock, make_app, play_morning


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    clock = Clock()
    app = make_app(tmp_path, clock)
    with TestClient(app) as client:
        play_morning(app, clock)
        yield client, app


def sign_in(client: TestClient, user: str, password: str) -> None:
    r = client.post("/reports/signin", data={"username": user, "password": password, "next": "/reports/demo"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def token(client: TestClient, user: str, password: str) -> str:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def test_reports_ask_a_stranger_to_sign_in_and_refuse_an_operator(office: tuple[TestClient, Any]) -> None:
    client, _ = office
    r = client.get("/reports/demo", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports/signin")
    assert client.get("/reports/demo/export.xlsx").status_code == 401
    r = client.post("/reports/signin", data={"username": "olena", "password": "cherga-operator"})
    assert r.status_code == 403
    operator = token(client, "olena", "cherga-operator")
    assert client.get("/reports/demo/export.csv", headers={"Authorization": f"Bearer {operator}"}).status_code == 403


def test_the_morning_report_counts_what_happened_in_the_office(office: tuple[TestClient, Any]) -> None:
    """Passports: 3 issued, 2 served, waits 5 and 16 (mean 10.5, one of two over 15 min), visits 10 and 14."""
    client, _ = office
    manager = token(client, "manager", "cherga-manager")
    r = client.get("/reports/demo/export.xlsx?from=2026-11-23&to=2026-11-23&period=total&group=service&lang=en",
                   headers={"Authorization": f"Bearer {manager}"})
    assert r.status_code == 200
    book = load_workbook(io.BytesIO(r.content))
    sheet = book["summary"]
    header = [c.value for c in sheet[2]]
    rows = {row[0]: dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=3, values_only=True)}
    passport = rows["National passport"]
    assert (passport["Tickets issued"], passport["Served"], passport["Wait, mean (min)"]) == (3, 2, 10.5)
    assert (passport["Waited over 15 min (%)"], passport["Service, mean (min)"]) == (50.0, 12.0)
    assert (rows["Residence registration"]["Served"], rows["Residence registration"]["Wait, mean (min)"]) == (1, 10.0)
    assert rows["Social payments"]["Tickets issued"] == 1
    staff = {row[0]: row for row in book["staff"].iter_rows(min_row=3, values_only=True)}
    olena = dict(zip([c.value for c in book["staff"][2]], staff["Олена Коваль"], strict=True))
    # Signed in 08:00-08:40 (now): 40 min open, busy 11 + 14 = 25 min.
    assert (olena["Served"], olena["Signed in (h)"], olena["Serving (h)"]) == (2, 0.67, 0.42)
    ratings = list(book["ratings_staff"].iter_rows(min_row=3, values_only=True))
    assert ratings == [("Олена Коваль", 1, 1, 0, 0, 0, 1.0)]


def test_employee_names_stay_hidden_from_roles_not_allowed_to_see_them(
        office: tuple[TestClient, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = office
    monkeypatch.setenv("CHERGA_REPORT_EMPLOYEE_ROLES", "admin")
    sign_in(client, "manager", "cherga-manager")
    page = client.get("/reports/demo?lang=uk&group=service,operator").text
    assert "Паспорт громадянина" in page
    assert "Олена" not in page and "olena" not in page
    admin = token(client, "admin", "cherga-admin")
    page = client.get("/reports/demo?lang=uk", headers={"Authorization": f"Bearer {admin}"}).text
    assert "Олена Коваль" in page


def test_csv_export_carries_the_same_numbers_as_the_page(office: tuple[TestClient, Any]) -> None:
    client, _ = office
    sign_in(client, "admin", "cherga-admin")
    r = client.get("/reports/demo/export.csv?period=total&group=none&lang=uk&table=summary")
    assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Видано талонів,Обслуговано,Не з'явилися")
    assert lines[1].split(",")[:5] == ["6", "3", "0", "0", "0"]


def test_public_feed_shows_live_load_with_traffic_lights_and_no_personal_data(office: tuple[TestClient, Any]) -> None:
    client, _ = office
    r = client.get("/load/demo/feed.json")
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    data = r.json()
    by = {s["service"]: s for s in data["services"]}
    assert (by["passport"]["waiting"], by["passport"]["counters_open"]) == (1, 1)
    assert by["passport"]["avg_wait_min"] == 40.0  # kept in the feed: how long the one waiting has waited
    # The light goes by what a ticket taken now would be told, not by how long people have waited:
    # residence has nobody waiting at an open counter; passports have two ahead at the one open counter.
    assert by["residence"]["light"] == "green"
    assert by["passport"]["light"] == light_for(by["passport"]["forecast_min"]) != "green"
    assert data["waiting"] == 3 and data["counters_open"] == 2
    text = r.text
    for private in ("olena", "Олена", "petro", "A-003", "token", "ticket"):
        assert private not in text
    everything = client.get("/load/feed.json").json()
    assert [o["office"] for o in everything["offices"]] == ["demo"]


def test_a_regional_report_rolls_offices_up_by_territorial_office(office: tuple[TestClient, Any]) -> None:
    client, _ = office
    sign_in(client, "admin", "cherga-admin")
    r = client.get("/reports/all/export.csv?period=month&group=territory&table=summary&lang=en")
    assert r.status_code == 200
    lines = r.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Month,Territorial office,Tickets issued,Served")
    assert lines[1].split(",")[:4] == ["2026-11", "demo", "6", "3"]
    assert client.get("/reports/nowhere").status_code == 404
    assert client.get("/reports/demo?period=fortnight").status_code == 422


def test_a_report_from_year_9999_is_422_in_the_managers_language(office: tuple[TestClient, Any]) -> None:
    client, _ = office
    sign_in(client, "admin", "cherga-admin")
    for export in ("export.csv", "export.xlsx"):
        r = client.get(f"/reports/demo/{export}?from=9999-12-31&lang=en")
        assert r.status_code == 422 and "between 2000-01-01 and 2999-12-31: 9999-12-31" in r.json()["message"]
    r = client.get("/reports/demo/export.csv?from=9999-12-31&to=9999-12-31&lang=ru")
    assert r.status_code == 422 and "Это не дата" in r.json()["message"]


def test_the_load_page_refuses_a_refresh_that_is_not_seconds_in_the_visitors_language(
        office: tuple[TestClient, Any]) -> None:
    client, _ = office
    for refresh in ("abc", "0", "1e9", "-5"):
        r = client.get(f"/load/demo?refresh={refresh}&lang=en")
        assert r.status_code == 422 and "whole number of seconds from 5 to 3600" in r.json()["message"], refresh
    assert client.get("/load/demo?refresh=abc&lang=uk").json()["message"].startswith("Інтервал оновлення")
    assert 'data-refresh="30"' in client.get("/load/demo?refresh=30").text


def test_the_load_page_tells_what_a_ticket_taken_now_would_be_promised(office: tuple[TestClient, Any]) -> None:
    """One waiting for a passport at the one open counter: a new ticket would be told a range,
    "≈ N min, at most M", the same words the kiosk prints."""
    client, _ = office
    by = {s["service"]: s for s in client.get("/load/demo/feed.json").json()["services"]}
    point, most = by["passport"]["forecast_min"], by["passport"]["forecast_max_min"]
    assert point is not None and most is not None and most >= point + 5
    page = client.get("/load/demo?lang=uk").text
    assert f"≈ {point} хв, не більше {most}" in page
    # the feed stays free of tickets: asking for the forecast stored nothing
    assert client.get("/load/demo/feed.json").json()["waiting"] == 3


def test_people_waiting_with_no_counter_open_are_never_a_green_light(office: tuple[TestClient, Any]) -> None:
    """Issue 19: six waiting for social payments, no counter open for them: "very high", whatever the
    average says (the old light went by how long they had waited so far: six just issued read "low")."""
    client, app = office
    for i in range(5):
        app.state.service.issue_ticket(command_id=f"social-{i}", source="kiosk-1", service="social")
    by = {s["service"]: s for s in client.get("/load/demo/feed.json").json()["services"]}
    assert (by["social"]["waiting"], by["social"]["counters_open"], by["social"]["light"]) == (6, 0, "red")
    page = client.get("/load/demo?lang=en").text
    row = page[page.index('data-service="social"'):]
    row = row[:row.index("</tr>")]
    assert "Very high" in row and "Low" not in row
