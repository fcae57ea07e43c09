"""The HTTP defences on a real uvicorn on loopback: security headers and a CSP the pages' own scripts
satisfy (checked in Chromium), forms of another origin refused, per-address rate limits on the public
routes, no secret in the server's log (issue 23)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cherga.broker_bridge.embedded import free_port
from cherga.office import start_server_process
from tests.security.conftest import PASSWORD
from tests.server.helpers import always_open_yaml
from tests.support.browser import serving

FOREIGN = "http://10.0.0.66:8080"  # a laptop on the hall network serving its own page


@pytest.fixture
def served(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CHERGA_RATE_LIMIT_EXEMPT", "none")  # loopback is limited like any address here
    with serving(app) as url:
        yield url


def _signed_in(http: httpx.Client, user: str, counter: str = "none") -> None:
    r = http.post("/panel/signin", data={"username": user, "password": PASSWORD, "counter": counter})
    assert r.status_code == 303, r.text


def test_every_kind_of_answer_carries_the_security_headers(served: str) -> None:
    with httpx.Client(base_url=served) as http:
        ticket = http.post("/api/v1/offices/demo/tickets", json={"service": "passport"}).json()
        for path in ("/", "/panel/signin", "/reports/signin", "/office/demo/book", "/load/demo",
                     "/api/v1/offices/demo/load", f"/t/{ticket['token']}", "/no/such/page", "/office/demo/kiosk"):
            r = http.get(path)
            h = r.headers
            assert "frame-ancestors 'none'" in h["content-security-policy"], path
            assert "default-src 'self'" in h["content-security-policy"], path
            assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
            assert h["referrer-policy"] in ("same-origin", "no-referrer"), path  # never the full URL elsewhere
        assert "'unsafe-inline'" not in http.get("/panel/signin").headers["content-security-policy"].split("style-src")[0]
        # The public kiosk and hall screens and the API docs: no inline script and no inline style at all.
        for path in ("/office/demo/kiosk", "/office/demo/hall", "/docs", "/api/v1/docs"):
            policy = http.get(path).headers["content-security-policy"]
            assert "'unsafe-inline'" not in policy and "script-src 'self';" in policy, path
            assert "style-src 'self';" in policy, path


def test_a_form_posted_from_another_origin_is_refused_and_changes_nothing(served: str, app: FastAPI) -> None:
    with httpx.Client(base_url=served) as http:
        r = http.post("/panel/signin", data={"username": "maria", "password": PASSWORD, "counter": "none"},
                      headers={"Origin": FOREIGN})
        assert r.status_code == 403 and "cherga_panel" not in r.cookies
        _signed_in(http, "maria")
        http.post("/api/v1/offices/demo/tickets", json={"service": "passport"})
        waiting = app.state.service.waiting_overview(10)[0]
        page = http.post("/panel/manager/cancel", data={"command_id": uuid.uuid4().hex, "ticket_id": waiting.ticket_id},
                         headers={"Origin": FOREIGN, "Accept": "text/html", "Accept-Language": "ru"})
        assert page.status_code == 403 and "надіслав інший сайт" in page.text  # the language she signed in with
        assert app.state.service.waiting_overview(10)[0].ticket_id == waiting.ticket_id  # still waiting
        same = http.post("/panel/manager/cancel", data={"command_id": uuid.uuid4().hex, "ticket_id": waiting.ticket_id},
                         headers={"Origin": served})
        assert same.status_code == 303 and not app.state.service.waiting_overview(10)


def _slots(http: httpx.Client) -> tuple[dict[str, str], list[str]]:
    day = http.get("/office/demo/book?lang=ky&service=passport&day=2026-11-25").text
    hidden = dict(re.findall(r"<input type=hidden name=(\w+) value='([^']*)'>", day))
    return hidden, re.findall(r"<button name=slot value='([^']*)'>", day)


def test_one_address_cannot_empty_a_days_booking_slots(served: str, app: FastAPI) -> None:
    with httpx.Client(base_url=served) as http:
        hidden, slots = _slots(http)
        assert len(slots) >= 12
        answers = [http.post("/office/demo/book", data={**hidden, "command_id": f"book-{uuid.uuid4().hex[:20]}",
                                                        "slot": slot},
                             headers={"Accept": "text/html", "Accept-Language": "ky"}) for slot in slots[:12]]
    booked = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code == 429]
    assert len(booked) == 5 and len(refused) == 7
    assert int(refused[0].headers["Retry-After"]) >= 1 and "Бул түзмөктөн суроо-талаптар өтө көп" in refused[0].text
    assert len(app.state.service.appointments_on(dt.date(2026, 11, 25))) == 5  # the other slots stay free


def test_status_and_load_reads_are_limited_per_address_not_for_everyone(served: str, app: FastAPI) -> None:
    with httpx.Client(base_url=served) as http:
        codes = [http.get("/api/v1/offices/demo/load").status_code for _ in range(140)]
    assert codes.count(429) >= 10 and codes[:100].count(200) == 100
    limiter = app.state.rate_limiter
    assert limiter.wait_s("GET", "/api/v1/offices/demo/load", "10.0.0.8") == 0  # another address still reads


def test_the_pages_run_under_their_policy_without_a_single_violation(served: str, app: FastAPI, browser: Any) -> None:
    with httpx.Client(base_url=served) as http:
        ticket = http.post("/api/v1/offices/demo/tickets", json={"service": "passport"}).json()
    violations: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: violations.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text else None)
    try:
        pages = ["/", "/office/demo/book?lang=uk", "/load/demo", f"/t/{ticket['token']}", "/office/demo/kiosk",
                 "/office/demo/hall", "/docs", "/panel/signin", "/reports/signin"]
        for path in pages:
            page.goto(served + path, wait_until="networkidle")
        # The web kiosk's buttons work under its strict policy (no inline handler is left to refuse).
        page.goto(served + "/office/demo/kiosk?lang=uk", wait_until="networkidle")
        before = page.inner_text("main")
        page.locator("#screen button[data-act]").first.click()
        page.wait_for_function("b => document.querySelector('main').innerText !== b", arg=before)
        assert page.locator("html[lang=uk]").count() == 1
        page.goto(served + "/panel/signin")
        page.fill("input[name=username]", "root")
        page.fill("input[name=password]", PASSWORD)
        page.select_option("select[name=counter]", "c1")
        page.click("form.signin button")
        page.wait_for_url("**/panel/counter/c1")
        page.wait_for_function("document.getElementById('live') !== null")
        page.goto(served + "/panel/manager", wait_until="networkidle")
        page.goto(served + "/reports/signin")
        page.fill("input[name=username]", "root")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/reports/**")
        page.goto(served + "/reports/demo", wait_until="networkidle")
        page.goto(served + "/reports/demo/audit", wait_until="networkidle")
        assert page.locator("table").count() == 1
    finally:
        context.close()
    assert violations == []


def test_no_password_and_no_token_reaches_the_servers_log(tmp_path: Path) -> None:
    config = always_open_yaml(tmp_path / "office.yaml")
    port = free_port()
    log = tmp_path / "server.log"
    proc = start_server_process(config, f"sqlite:///{tmp_path / 'o.db'}", port, log,
                                env={"CHERGA_LOG_LEVEL": "DEBUG", "CHERGA_DEMO_ACCOUNTS": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as http:
            http.post("/api/v1/auth/login", json={"username": "olena", "password": "wrong-secret-77"})
            token = http.post("/api/v1/auth/login", json={"username": "olena", "password": "cherga-operator"}).json()["token"]
            http.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
            http.post("/panel/signin", data={"username": "manager", "password": "cherga-manager", "counter": "none"})
            http.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    finally:
        proc.terminate()
        proc.wait(10)
    text = log.read_text(errors="replace")
    assert text  # the server did log (demo accounts, start-up)
    for secret in ("wrong-secret-77", token, token[:16]):
        assert secret not in text
