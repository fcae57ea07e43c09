"""Who may act where: an operator acts only at the counter they are signed in at, through the REST
API and the panel; managers keep their rights; sign-ins and sign-outs are counted (issue 23)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.server.security import audit
from cherga.server.store import Store
from tests.security.conftest import PASSWORD, login, new_id

API = "/api/v1/offices/demo"


def _issue(client: TestClient, n: int) -> None:
    for _ in range(n):
        assert client.post(f"{API}/tickets", json={"service": "passport"}).status_code == 201


def test_one_operators_token_presses_next_only_at_the_counter_they_are_signed_in_at(client: TestClient,
                                                                                   app: FastAPI) -> None:
    _issue(client, 8)
    olena = login(client, "olena")
    assert client.post(f"{API}/counters/c1/sign-in", headers=olena).status_code == 200
    answers = {c: client.post(f"{API}/counters/{c}/next", headers=olena) for c in
               ("c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8")}
    assert answers["c1"].status_code == 200 and answers["c1"].json()["status"] == "ok"
    for c in ("c2", "c3", "c4", "c5", "c6", "c7", "c8"):
        assert answers[c].status_code == 403 and answers[c].json()["key"] == "not_signed_in_here"
    svc = app.state.service
    at = [c.id for c in svc.config.counters if svc.counter_state(c.id).operator == "olena"]
    assert at == ["c1"]
    assert sum(1 for c in svc.config.counters if svc.counter_state(c.id).status != "closed") == 1


def test_a_second_operator_cannot_finish_the_first_ones_visitor(client: TestClient, app: FastAPI) -> None:
    _issue(client, 2)
    olena, petro = login(client, "olena"), login(client, "petro")
    client.post(f"{API}/counters/c1/sign-in", headers=olena)
    called = client.post(f"{API}/counters/c1/next", headers=olena).json()["ticket"]
    client.post(f"{API}/counters/c2/sign-in", headers=petro)
    for action in ("next", "finish", "no-show", "sign-out"):
        r = client.post(f"{API}/counters/c1/{action}", headers=petro)
        assert r.status_code == 403 and r.json()["key"] == "not_your_counter", action
    state = app.state.service.counter_state("c1")
    assert state.operator == "olena" and state.ticket is not None and state.ticket.ticket_id == called["ticket_id"]


def test_the_panel_door_refuses_another_operators_counter_too(client: TestClient, app: FastAPI) -> None:
    _issue(client, 2)
    olena = login(client, "olena")
    client.post(f"{API}/counters/c1/sign-in", headers=olena)
    client.post(f"{API}/counters/c1/next", headers=olena)
    r = client.post("/panel/signin", data={"username": "petro", "password": PASSWORD, "counter": "c2", "lang": "uk"},
                    follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/panel/counter/c1/action", data={"command_id": new_id(), "action": "finish", "lang": "uk"},
                    headers={"X-Panel-Fragment": "1"})
    assert "За вікном 1 працює інший працівник" in r.text
    assert app.state.service.counter_state("c1").ticket is not None  # olena's visitor is still hers


def test_a_hall_manager_keeps_the_right_to_act_at_any_counter(client: TestClient, app: FastAPI) -> None:
    _issue(client, 1)
    olena, maria = login(client, "olena"), login(client, "maria")
    client.post(f"{API}/counters/c1/sign-in", headers=olena)
    ticket = client.post(f"{API}/counters/c1/next", headers=olena).json()["ticket"]
    r = client.post(f"{API}/counters/c1/transfer", headers=maria, json={"to_service": "certificates"})
    assert r.status_code == 200 and r.json()["ticket"]["ticket_id"] == ticket["ticket_id"]


def test_every_sign_in_and_sign_out_is_counted(client: TestClient, store: Store) -> None:
    olena = login(client, "olena")
    client.post(f"{API}/counters/c1/sign-in", headers=olena)
    client.post(f"{API}/counters/c1/sign-out", headers=olena)
    client.post("/api/v1/auth/logout", headers=olena)
    kinds = [e["kind"] for e in store.events("demo") if e["operator"] == "olena"]
    assert kinds.count("operator_signed_in") == 1 and kinds.count("operator_signed_out") == 1
    actions = [r["action"] for r in audit.entries(store, actor="olena")]
    assert actions.count("sign_in") == 1 and actions.count("sign_out") == 1
