"""The live ticket page over HTTP: an unknown token, the rating into the pads' ratings store, the
notifications link only where that part is installed, and the event stream (real uvicorn, real
server-sent events): a status change arrives, the stream closes when the client goes, and no more
than the bound are open."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from sqlalchemy import select

from cherga.broker_bridge.contract import CounterAction
from cherga.server.db import schema
from cherga.server.errors import ServiceError
from cherga.server.ticketpage.i18n import catalog
from cherga.server.ticketpage.routes import NOTIFY_PATH, StreamGate, gate_for
from tests.support.wait import wait_until
from tests.ticketpage.conftest import Office

BROWSER = {"accept": "text/html,application/xhtml+xml", "accept-language": "kk-KZ,kk;q=0.9,ru;q=0.8"}


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def ratings(office: Office) -> list[tuple[str, int, str | None, str | None]]:
    r = schema.ratings
    with office.service.store.reading() as conn:
        rows = conn.execute(select(r.c.ticket_id, r.c.score, r.c.counter, r.c.operator)).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def served_ticket(office: Office, lang: str = "uk") -> Any:
    office.open_counter_1()
    mine = office.issue("passport", lang)
    office.act("c1", CounterAction.NEXT)
    office.act("c1", CounterAction.FINISH)
    return mine


def test_an_unknown_token_gets_a_page_in_the_browsers_language_with_the_way_back(client: TestClient) -> None:
    t = catalog("kk")
    for token in ("no-such-ticket-token", "x", "a" * 200):
        r = client.get(f"/t/{token}", headers=BROWSER)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert '<html lang="kk">' in r.text and t["unknown_title"] in r.text and t["unknown_text"] in r.text
        assert 'href="/?lang=kk"' in r.text
    r = client.get("/t/no-such-ticket-token/live")  # a script gets JSON
    assert r.status_code == 404 and r.json()["key"] == "unknown_ticket"


def test_the_page_speaks_the_tickets_language_and_switches_on_request(client: TestClient, office: Office) -> None:
    mine = office.issue("passport", "ky")
    page = client.get(f"/t/{mine.token}", headers=BROWSER)  # the browser says Kazakh; the ticket is Kyrgyz
    assert page.status_code == 200 and '<html lang="ky">' in page.text and catalog("ky")["please_wait"] in page.text
    page = client.get(f"/t/{mine.token}?lang=en")
    assert '<html lang="en">' in page.text and "Please wait to be called" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_rating_on_the_page_lands_in_the_same_ratings_store_the_pads_use_once(
        client: TestClient, office: Office) -> None:
    mine = served_ticket(office)
    r = client.post(f"/t/{mine.token}/rate", data={"score": "2", "lang": "en"}, headers={"x-ticket-fragment": "1"})
    assert r.status_code == 200, r.text
    assert r.json()["final"] is True and "Thank you for your rating" in r.json()["html"]
    assert ratings(office) == [(mine.ticket_id, 2, "c1", "olena")]
    # A second tap, or the pad's face afterwards: still the one rating.
    r = client.post(f"/t/{mine.token}/rate", data={"score": "4", "lang": "en"}, headers={"x-ticket-fragment": "1"})
    assert r.status_code == 200 and "Thank you for your rating" in r.json()["html"]
    with pytest.raises(ServiceError) as refused:
        office.act("c1", CounterAction.RATE, ticket_id=mine.ticket_id, score=1)
    assert refused.value.key == "already_rated"
    assert ratings(office) == [(mine.ticket_id, 2, "c1", "olena")]
    page = client.get(f"/t/{mine.token}?lang=en").text
    assert "Thank you for your rating" in page and 'name="score"' not in page


def test_a_rating_without_javascript_goes_back_to_the_page_and_bad_scores_store_nothing(
        client: TestClient, office: Office) -> None:
    mine = served_ticket(office, "ru")
    r = client.post(f"/t/{mine.token}/rate", data={"score": "9", "lang": "ru"}, headers={"x-ticket-fragment": "1"})
    assert r.status_code == 409 and catalog("ru")["rate_failed"] in r.json()["html"]
    assert ratings(office) == []
    r = client.post(f"/t/{mine.token}/rate", data={"score": "1", "lang": "ru"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/t/{mine.token}?lang=ru"
    assert ratings(office) == [(mine.ticket_id, 1, "c1", "olena")]


def test_the_notify_link_shows_only_when_the_notifications_form_exists(app: FastAPI, office: Office) -> None:
    mine = office.issue("passport", "uk")
    link = f'href="/t/{mine.token}/notify?lang=uk"'
    with TestClient(app) as client:
        installed = any(getattr(r, "path", None) == NOTIFY_PATH for r in app.routes)
        assert (link in client.get(f"/t/{mine.token}").text) is installed
    if not installed:
        app.add_api_route(NOTIFY_PATH, lambda token: PlainTextResponse("form"), methods=["GET"])
    with TestClient(app) as client:
        page = client.get(f"/t/{mine.token}").text
        assert link in page and catalog("uk")["notify_link"] in page


def events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """The server-sent events of ``response``: (event name, JSON data)."""
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            yield name, json.loads(line[6:])


def test_a_status_change_arrives_over_server_sent_events_and_the_stream_closes_when_the_page_goes(
        app: FastAPI, served: str, office: Office) -> None:
    office.open_counter_1()
    office.issue("passport", "uk")
    mine = office.issue("passport", "en")
    gate = gate_for(app)
    with httpx.Client(timeout=60) as http, http.stream("GET", f"{served}/t/{mine.token}/events") as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        name, first = next(stream)
        assert (name, first["state"]) == ("update", "waiting") and "People ahead of you: 1" in first["html"]
        assert gate.open == 1
        office.act("c1", CounterAction.NEXT)  # the one ahead is called: mine is next
        name, data = next(stream)
        assert "You are next" in data["html"] and "A-001" not in data["html"]
        office.act("c1", CounterAction.FINISH)
        office.act("c1", CounterAction.NEXT)
        name, data = next(stream)
        assert (name, data["state"]) == ("update", "called") and "Please go to counter 1" in data["html"]
        assert data["alert"]
    wait_until(lambda: gate.open == 0, what="the stream closed after its client went")


def test_no_more_streams_than_the_bound_are_opened(app: FastAPI, served: str, office: Office) -> None:
    mine = office.issue("passport", "uk")
    app.state.ticket_streams = StreamGate(limit=1)
    with httpx.Client(timeout=60) as http, http.stream("GET", f"{served}/t/{mine.token}/events") as held:
        assert held.status_code == 200
        stream = events(held)  # kept: a dropped generator would close the stream
        next(stream)
        assert gate_for(app).open == 1
        refused = httpx.get(f"{served}/t/{mine.token}/events", timeout=30)
        assert refused.status_code == 503 and refused.headers["retry-after"]
        polled = httpx.get(f"{served}/t/{mine.token}/live", timeout=30)
        assert polled.json()["state"] == "waiting"  # polling still answers
