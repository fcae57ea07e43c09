"""A browser that meets an error gets a page in the person's language with the way back; the API
keeps answering JSON."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.panel.conftest import PASSWORD
from tests.panel.test_panel import text

SignIn = Callable[..., TestClient]
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def assert_page(r: object, status: int, lang: str, words: str) -> str:
    assert r.status_code == status  # type: ignore[attr-defined]
    assert r.headers["content-type"].startswith("text/html")  # type: ignore[attr-defined]
    body = str(r.text)  # type: ignore[attr-defined]
    assert f'<html lang="{lang}">' in body
    assert words in text(body)
    assert '<a href="/" rel="home">' in body
    return body


def test_an_operator_opening_the_manager_page_reads_why_in_their_language_with_the_way_back(
        signed_in: SignIn) -> None:
    client = signed_in("olena", lang="uk")
    r = client.get("/panel/manager", headers={**BROWSER, "Referer": "http://testserver/panel/counter/c1"})
    body = assert_page(r, 403, "uk", "Вашому обліковому запису це не дозволено.")
    assert 'href="/panel/counter/c1"' in body and "Назад" in body
    assert '"key"' not in body


def test_a_bad_report_date_is_a_page_in_the_managers_language(client: TestClient) -> None:
    r = client.post("/reports/signin", data={"username": "maria", "password": PASSWORD, "next": "/reports/demo"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.get("/reports/demo?from=2026-13-45", headers={**BROWSER, "Accept-Language": "ru-RU,ru;q=0.9"})
    assert_page(r, 422, "ru", "Это не дата (ГГГГ-ММ-ДД)")


def test_an_unknown_office_is_a_page_in_the_browsers_language(client: TestClient) -> None:
    r = client.get("/load/nowhere", headers={**BROWSER, "Accept-Language": "kk"})
    assert_page(r, 404, "kk", "Табылмады.")
    r = client.get("/office/nowhere/hall", headers={**BROWSER, "Accept-Language": "en-GB,en"})
    body = assert_page(r, 404, "en", "This office is not served here.")
    assert "nowhere" not in body


def test_without_a_language_the_page_speaks_the_offices_first_language(client: TestClient) -> None:
    r = client.get("/load/nowhere", headers=BROWSER)
    assert_page(r, 404, client.app.state.config.office.languages[0], "")  # type: ignore[attr-defined]


def test_the_api_still_answers_json_even_to_a_browser(client: TestClient) -> None:
    r = client.get("/api/v1/offices/nowhere/load", headers=BROWSER)
    assert r.status_code == 404
    assert r.json()["key"] == "unknown_office"
    r = client.get("/load/nowhere/feed.json")  # a script's fetch: JSON as before
    assert r.status_code == 404 and r.json()["key"] == "not_found"
