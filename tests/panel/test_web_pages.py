"""The start page and the API docs: every linked page answers, and /docs works with no internet."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.browser


def test_the_start_page_links_every_page_of_each_role_and_each_link_answers(client: TestClient) -> None:
    page = client.get("/?lang=en").text
    links = set(re.findall(r"href='([^']+)'", page))
    for needed in ("/office/demo/kiosk", "/office/demo/book", "/office/demo/hall", "/load/demo", "/panel/",
                   "/panel/manager", "/reports/demo", "/docs"):
        assert needed in links, needed
    for role in ("Visitors", "Operators", "Hall manager", "IT and integrators"):
        assert role in page
    for link in sorted(links):
        r = client.get(link, follow_redirects=True)
        assert r.status_code == 200, (link, r.status_code)


@pytest.mark.parametrize(("ask", "headers", "lang", "words"), [
    ("?lang=ru", {}, "ru", ["Посетителям", "Операторам", "Отчёты"]),
    ("", {"Accept-Language": "kk-KZ,kk;q=0.9,ru;q=0.8"}, "kk", ["Келушілерге", "Есептер"]),
    ("", {}, "uk", ["Відвідувачам", "Звіти"]),  # nothing asked: the office's first language
])
def test_the_start_page_speaks_the_visitors_language_and_offers_a_switch(
        client: TestClient, ask: str, headers: dict[str, str], lang: str, words: list[str]) -> None:
    page = client.get("/" + ask, headers=headers).text
    assert f"<html lang={lang}>" in page
    for w in words:
        assert w in page
    assert "Visitors" not in page and "Reports" not in page
    for code in ("uk", "ru", "ky", "kk", "en"):
        assert f"href='/?lang={code}'" in page


@pytest.mark.parametrize("path", ["/docs", "/api/v1/docs"])
def test_api_docs_render_the_operations_with_nothing_fetched_from_outside(browser: Any, served: str,
                                                                          path: str) -> None:
    outside: list[str] = []

    def guard(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", guard)
    page.goto(served + path)
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() >= 10  # the ticket, counter and office operations
    assert "/api/v1/offices/{office}/tickets" in page.inner_text("body")
    assert outside == []
    page.close()
