"""The REST API as kiosks, pads, staff and citizens use it: answers, errors, tokens, metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.server.app import create_app
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_config

API = "/api/v1/offices/demo"


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    app = create_app(demo_config(), sqlite_url(tmp_path / "cherga.db"), clock=clock, sweep_interval=None,
                     demo_accounts=True)
    with TestClient(app) as c:
        yield c


def _token(client: TestClient, user: str = "olena", password: str = "cherga-operator") -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_issuing_answers_201_with_number_people_ahead_wait_and_status_url(client: TestClient) -> None:
    client.post(f"{API}/tickets", json={"service": "passport"})
    r = client.post(f"{API}/tickets", json={"service": "passport", "language": "ky"})
    assert r.status_code == 201
    body = r.json()
    assert body["label"] == "A-002" and body["people_ahead"] == 1 and body["wait_min"] > 0
    assert body["status_url"].endswith(body["token"]) and body["language"] == "ky"


def test_the_same_idempotency_key_gives_the_same_ticket(client: TestClient) -> None:
    a = client.post(f"{API}/tickets", json={"service": "passport"}, headers={"Idempotency-Key": "kiosk1-42"})
    b = client.post(f"{API}/tickets", json={"service": "passport"}, headers={"Idempotency-Key": "kiosk1-42"})
    assert a.json()["ticket_id"] == b.json()["ticket_id"]
    assert client.get(f"{API}/load").json()[0]["waiting"] == 1


def test_bad_input_is_422_naming_the_field_and_the_reason(client: TestClient) -> None:
    r = client.post(f"{API}/tickets", json={"service": "passport", "language": "de"})
    assert r.status_code == 422
    body = r.json()
    assert body["key"] == "invalid_input" and body["errors"][0]["field"] == "body.language"
    assert "uk" in body["errors"][0]["reason"]
    assert client.post(f"{API}/tickets", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_unknown_office_service_and_counter_are_404_naming_them(client: TestClient) -> None:
    r = client.post("/api/v1/offices/atlantis/tickets", json={"service": "passport"})
    assert r.status_code == 404 and r.json()["key"] == "unknown_office" and "atlantis" in r.json()["message"]
    r = client.post(f"{API}/tickets", json={"service": "dragons"})
    assert r.status_code == 404 and r.json()["key"] == "unknown_service" and "dragons" in r.json()["message"]
    r = client.post(f"{API}/counters/c99/next", headers=_token(client))
    assert r.status_code == 404 and r.json()["key"] == "unknown_counter" and "c99" in r.json()["message"]


def test_closed_or_appointment_only_service_is_409_with_a_reason_key(client: TestClient, clock: Clock) -> None:
    r = client.post(f"{API}/tickets", json={"service": "notary"})
    assert r.status_code == 409 and r.json()["key"] == "appointment_only"
    clock.advance(13 * 3600)
    r = client.post(f"{API}/tickets", json={"service": "passport"})
    assert r.status_code == 409 and r.json()["key"] == "service_closed"


def test_counter_endpoints_need_a_staff_token(client: TestClient) -> None:
    r = client.post(f"{API}/counters/c1/next")
    assert r.status_code == 401 and r.json()["key"] == "token_required"
    r = client.post(f"{API}/counters/c1/next", headers={"Authorization": "Bearer forged"})
    assert r.status_code == 401 and r.json()["key"] == "bad_token"
    bad = client.post("/api/v1/auth/login", json={"username": "olena", "password": "wrong-password"})
    assert bad.status_code == 401 and bad.json()["key"] == "bad_credentials"


def test_an_operator_signs_in_calls_serves_and_finishes(client: TestClient) -> None:
    auth = _token(client)
    issued = client.post(f"{API}/tickets", json={"service": "passport"}).json()
    r = client.post(f"{API}/counters/c1/sign-in", headers=auth)
    assert r.json()["counter"]["operator_name"] == "Олена Коваль"
    r = client.post(f"{API}/counters/c1/next", headers=auth)
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok" and body["ticket"]["ticket_id"] == issued["ticket_id"]
    assert body["hall_call"]["counter_number"] == "1" and body["counter"]["status"] == "calling"
    assert client.post(f"{API}/counters/c1/start", headers=auth).json()["counter"]["status"] == "serving"
    r = client.post(f"{API}/counters/c1/finish", headers=auth, json={"result": "submitted"})
    assert r.json()["counter"]["status"] == "idle"
    status = client.get(f"/api/v1/tickets/{issued['token']}").json()
    assert status["status"] == "done" and status["counter_number"] == "1"


def test_next_on_an_empty_queue_says_so_without_an_error(client: TestClient) -> None:
    auth = _token(client)
    client.post(f"{API}/counters/c1/sign-in", headers=auth)  # an operator acts only where signed in
    r = client.post(f"{API}/counters/c1/next", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "empty" and r.json()["message"]


def test_illegal_counter_action_is_409_with_a_reason_key(client: TestClient) -> None:
    auth = _token(client)
    client.post(f"{API}/counters/c1/sign-in", headers=auth)
    r = client.post(f"{API}/counters/c1/recall", headers=auth)
    assert r.status_code == 409 and r.json()["key"] == "no_current_ticket"


def test_transfer_postpone_pause_resume_and_rate_over_http(client: TestClient) -> None:
    auth = _token(client, "admin", "cherga-admin")  # acts at two counters: an administrator may (issue 23)
    client.post(f"{API}/tickets", json={"service": "passport"})
    client.post(f"{API}/counters/c1/next", headers=auth)
    r = client.post(f"{API}/counters/c1/transfer", headers=auth, json={"to_service": "certificates"})
    assert r.status_code == 200 and r.json()["ticket"]["service"] == "certificates"
    client.post(f"{API}/counters/c9/next", headers=auth)
    assert client.post(f"{API}/counters/c9/postpone", headers=auth, json={"delay_s": 60}).status_code == 200
    r = client.post(f"{API}/counters/c9/pause", headers=auth, json={"reason": "lunch"})
    assert r.json()["counter"]["status"] == "paused" and r.json()["counter"]["pause_reason"] == "lunch"
    assert client.post(f"{API}/counters/c9/resume", headers=auth).json()["counter"]["status"] == "idle"
    client.post(f"{API}/counters/c9/next", headers=auth)  # nobody due yet: the postponed visitor waits
    r = client.post(f"{API}/counters/c1/transfer", headers=auth, json={})
    assert r.status_code == 409 and r.json()["key"] == "no_current_ticket"


def test_a_hall_manager_issues_on_a_visitors_behalf_and_the_log_names_them(client: TestClient) -> None:
    r = client.post(f"{API}/tickets", json={"service": "social", "priority": "veteran"},
                    headers=_token(client, "manager", "cherga-manager"))
    assert r.status_code == 201
    store = client.app.state.store  # type: ignore[attr-defined]
    issued = [e for e in store.events("demo") if e["kind"] == "issued"][-1]
    assert issued["operator"] == "manager" and issued["data"]["source"] == "staff:manager"


def test_only_a_hall_manager_may_cancel_a_ticket(client: TestClient) -> None:
    t = client.post(f"{API}/tickets", json={"service": "social"}).json()
    r = client.post(f"{API}/tickets/{t['ticket_id']}/cancel", headers=_token(client))
    assert r.status_code == 403 and r.json()["key"] == "forbidden"
    r = client.post(f"{API}/tickets/{t['ticket_id']}/cancel", headers=_token(client, "manager", "cherga-manager"))
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_hall_manager_sends_a_waiting_ticket_to_one_counter(client: TestClient) -> None:
    t = client.post(f"{API}/tickets", json={"service": "social"}).json()
    url = f"{API}/tickets/{t['ticket_id']}/send"
    r = client.post(url, json={"to_counter": "c10"}, headers=_token(client))
    assert r.status_code == 403
    manager = _token(client, "manager", "cherga-manager")
    r = client.post(url, json={"to_counter": "c9"}, headers=manager)
    assert r.status_code == 409 and r.json()["key"] == "counter_does_not_serve"
    r = client.post(url, json={"to_counter": "nowhere"}, headers=manager)
    assert r.status_code == 404
    r = client.post(url, json={"to_counter": "c10", "command_id": "send-1"}, headers=manager)
    assert r.status_code == 200 and r.json()["status"] == "waiting"
    again = client.post(url, json={"to_counter": "c8", "command_id": "send-1"}, headers=manager)
    assert again.json() == r.json()  # a resent request changes nothing


def test_free_slots_booking_and_cancelling_over_rest(client: TestClient) -> None:
    slots = client.get(f"{API}/appointments/slots", params={"service": "passport", "day": "2026-11-26"}).json()
    assert slots[0] == {"start": "2026-11-26T08:00:00+02:00", "free": 1}
    r = client.post(f"{API}/appointments", json={"service": "passport", "slot": slots[0]["start"]})
    assert r.status_code == 201
    full = client.post(f"{API}/appointments", json={"service": "passport", "slot": slots[0]["start"]})
    assert full.status_code == 409 and full.json()["key"] == "slot_full"
    odd = client.post(f"{API}/appointments", json={"service": "passport", "slot": "2026-11-26T08:05:00+02:00"})
    assert odd.status_code == 422 and odd.json()["key"] == "not_a_slot"
    assert client.post(f"{API}/appointments/{r.json()['code']}/cancel").status_code == 204
    assert client.post(f"{API}/appointments/{r.json()['code']}/cancel").status_code == 409
    again = client.get(f"{API}/appointments/slots", params={"service": "passport", "day": "2026-11-26"}).json()
    assert again[0]["start"] == slots[0]["start"]


def test_the_device_monitor_is_for_managers_and_says_when_nodes_are_not_monitored(client: TestClient) -> None:
    assert client.get(f"{API}/devices", headers=_token(client)).status_code == 403
    r = client.get(f"{API}/devices", headers=_token(client, "manager", "cherga-manager"))
    # No notification gateway is configured in the demo office either (server.notify).
    assert r.status_code == 200 and r.json() == {"bridge": False, "nodes": [], "alerts": [], "gateways": []}


def test_a_hall_manager_lists_a_days_bookings(client: TestClient) -> None:
    slots = client.get(f"{API}/appointments/slots", params={"service": "notary", "day": "2026-11-26"}).json()
    code = client.post(f"{API}/appointments", json={"service": "notary", "slot": slots[2]["start"]}).json()["code"]
    params = {"day": "2026-11-26"}
    assert client.get(f"{API}/appointments", params=params, headers=_token(client)).status_code == 403
    day = client.get(f"{API}/appointments", params=params, headers=_token(client, "manager", "cherga-manager")).json()
    assert [(b["code"], b["service"], b["status"]) for b in day] == [(code, "notary", "booked")]


def test_ticket_status_by_token_shows_position_and_no_personal_data(client: TestClient) -> None:
    client.post(f"{API}/tickets", json={"service": "passport"})
    t = client.post(f"{API}/tickets", json={"service": "passport"}).json()
    r = client.get(f"/api/v1/tickets/{t['token']}")
    assert r.status_code == 200 and r.json()["people_ahead"] == 1 and r.json()["reason"] is None
    assert r.json().get("why") is None  # why a ticket was called (other tickets' facts) is for staff only
    assert set(r.json()) <= {"ticket_id", "label", "prefix", "number", "service", "purpose", "status", "issued_at",
                             "language", "priority", "people_ahead", "wait_min", "wait_max_min", "counter", "counter_number",
                             "status_url", "token", "waited_s", "reason", "why", "origin"}
    assert client.get("/api/v1/tickets/guessedtoken1234").status_code == 404
    page = client.get(f"/t/{t['token']}")
    assert page.status_code == 200 and "A-002" in page.text


def test_load_feed_lists_every_service_with_a_traffic_light(client: TestClient) -> None:
    client.post(f"{API}/tickets", json={"service": "passport"})
    load = {s["service"]: s for s in client.get(f"{API}/load").json()}
    assert set(load) == {s.id for s in demo_config().services}
    # Nobody is signed in at any passport counter yet: one person waiting there is "red", not "low".
    assert load["passport"]["waiting"] == 1 and load["passport"]["counters_open"] == 0
    assert load["passport"]["light"] == "red"
    assert load["passport"]["names"]["uk"] == "Паспорт громадянина"


def test_booking_then_checking_in_at_the_kiosk(client: TestClient, clock: Clock) -> None:
    slot = (clock.now.replace(microsecond=0) + dt.timedelta(minutes=30)).isoformat()
    r = client.post(f"{API}/appointments", json={"service": "notary", "slot": slot})
    assert r.status_code == 201
    clock.advance(25 * 60)
    t = client.post(f"{API}/tickets", json={"appointment_code": r.json()["code"]})
    assert t.status_code == 201 and t.json()["origin"] == "booked" and t.json()["label"] == "N-700"


def test_health_metrics_and_openapi_are_published(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "offices": ["demo"], "database": "sqlite"}
    client.post(f"{API}/tickets", json={"service": "passport"})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    assert 'cherga_tickets_waiting{office="demo",service="passport"} 1.0' in metrics.text
    assert "cherga_http_request_seconds_bucket" in metrics.text
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    for action in ("next", "recall", "start", "finish", "no-show", "transfer", "postpone", "pause", "resume"):
        assert f"/api/v1/offices/{{office}}/counters/{{counter}}/{action}" in paths


def test_a_day_or_slot_at_the_ends_of_the_calendar_is_422_naming_the_field(client: TestClient) -> None:
    manager = _token(client, "manager", "cherga-manager")
    for day in ("0001-01-01", "9999-12-31"):
        r = client.get(f"{API}/appointments?day={day}", headers=manager)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "query.day", r.text
        assert "2000-01-01" in r.json()["message"]
    r = client.post(f"{API}/appointments", json={"service": "notary", "slot": "9999-12-31T23:45:00Z"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.slot", r.text


def test_an_offline_ticket_handed_over_by_rest_cancels_the_late_request_it_replaces(client: TestClient,
                                                                                  clock: Clock) -> None:
    late = client.post(f"{API}/tickets", json={"service": "passport", "command_id": "kiosk-1:r1"}).json()
    issued_at = (clock.now - dt.timedelta(seconds=5)).isoformat()
    r = client.post(f"{API}/tickets/offline", headers=_token(client),
                    json={"service": "passport", "number": 900, "issued_at": issued_at,
                          "command_id": "kiosk-1:o1", "replaces": "kiosk-1:r1"})
    assert r.status_code == 201, r.text
    assert r.json()["label"] == "A-900"
    assert client.get(f"/api/v1/tickets/{late['token']}").json()["status"] == "cancelled"
    assert client.get(f"{API}/load").json()[0]["waiting"] == 1
