"""The audit log: who did what, when, from where; append-only on both databases; read by
administrators only; exported; node enrolments and refusals are in it (issue 23)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cherga.server.enrollment import EnrollmentRefused, Enrollments, token_sha256
from cherga.server.security import audit
from cherga.server.store import Store
from tests.security.conftest import PASSWORD, login, new_id
from tests.server.helpers import OPEN_TIME


def test_staff_actions_are_recorded_with_who_what_when_and_from_where(client: TestClient, store: Store) -> None:
    client.post("/api/v1/offices/demo/tickets", json={"service": "passport"})
    r = client.post("/panel/signin", data={"username": "maria", "password": PASSWORD, "counter": "none"},
                    follow_redirects=False)
    assert r.status_code == 303
    ticket = client.app.state.service.waiting_overview(10)[0]  # type: ignore[attr-defined]
    client.post("/panel/manager/cancel", data={"command_id": new_id(), "ticket_id": ticket.ticket_id},
                follow_redirects=False)
    client.post("/panel/signout", follow_redirects=False)
    rows = list(reversed(audit.entries(store, actor="maria")))
    assert [r["action"] for r in rows] == ["sign_in", "POST /panel/manager/cancel", "sign_out"]
    assert all(r["address"] == "testclient" and r["office"] == "demo" and r["at"] == OPEN_TIME for r in rows)
    wrong = client.post("/panel/signin", data={"username": "maria", "password": "not-her-password", "counter": "none"})
    assert wrong.status_code == 401
    assert audit.entries(store, actor="maria", limit=1)[0]["action"] == "sign_in_refused"


def test_the_audit_log_refuses_update_and_early_delete_on_both_databases(any_store: Store) -> None:
    now = dt.datetime.now(dt.UTC)
    audit.record(any_store, "sign_in", at=now, actor="olena", address="10.0.0.5")
    audit.record(any_store, "sign_in", at=now - dt.timedelta(days=400), actor="old", address="10.0.0.6")
    with pytest.raises(DBAPIError, match="append-only"), any_store.transaction() as tx:
        tx.conn.execute(text("UPDATE audit_log SET actor = 'someone_else' WHERE actor = 'olena'"))
    with pytest.raises(DBAPIError, match="append-only"), any_store.transaction() as tx:
        tx.conn.execute(text("DELETE FROM audit_log WHERE actor = 'olena'"))
    assert sorted(r["actor"] for r in audit.entries(any_store)) == ["old", "olena"]
    assert audit.prune(any_store, now) == 1  # retention takes only what is past its period
    assert [r["actor"] for r in audit.entries(any_store)] == ["olena"]


def test_only_administrators_read_the_audit_log_and_its_export(client: TestClient) -> None:
    login(client, "olena")
    assert client.get("/api/v1/audit").status_code == 401
    assert client.get("/api/v1/audit", headers=login(client, "maria")).status_code == 403
    admin = login(client, "root")
    rows = client.get("/api/v1/audit", headers=admin).json()
    assert {"olena", "maria", "root"} <= {r["actor"] for r in rows if r["action"] == "sign_in"}
    csv = client.get("/reports/demo/audit.csv", headers=admin)
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("seq,at,office,actor")
    assert "olena" in csv.text and "sign_in" in csv.text
    page = client.get("/reports/demo/audit?lang=kk", headers=admin)
    assert page.status_code == 200 and "Аудит журналы" in page.text and 'lang="kk"' in page.text


def test_node_enrolments_and_refusals_are_audited(tmp_path: Path, store: Store) -> None:
    listing = tmp_path / "enrollment.json"
    listing.write_text(json.dumps({"office": "demo", "revoked": {},
                                   "nodes": {"kiosk-1": {"username": "kiosk-1", "token_sha256": token_sha256("t0k3n"),
                                                         "issued_at": "2026-11-01"}}}))
    enrollments = Enrollments(store, "demo", listing, clock=lambda: OPEN_TIME)
    with pytest.raises(EnrollmentRefused):
        enrollments.enroll("kiosk-1", "forged", "cmd-1", address="10.0.0.99")
    enrollments.enroll("kiosk-1", "t0k3n", "cmd-2", address="10.0.0.20")
    rows = list(reversed(audit.entries(store, actor="kiosk-1")))
    assert [(r["action"], r["outcome"], r["address"], r["data"]) for r in rows] == [
        ("node_enroll", "refused", "10.0.0.99", {"reason": "wrong_token"}),
        ("node_enroll", "ok", "10.0.0.20", {"first": True})]
    assert all(r["actor_kind"] == "node" for r in rows)


def test_a_refused_staff_action_is_recorded_as_refused(client: TestClient, app: FastAPI, store: Store) -> None:
    petro = login(client, "petro")
    r = client.post("/api/v1/offices/demo/counters/c5/next", headers=petro)
    assert r.status_code == 403
    row = audit.entries(store, actor="petro", limit=1)[0]
    assert row["action"] == "POST /api/v1/offices/demo/counters/c5/next" and row["outcome"] == "refused"


def test_an_administrators_reports_page_links_the_audit_log(client: TestClient) -> None:
    admin, manager = login(client, "root"), login(client, "maria")
    assert 'href="/reports/demo/audit?lang=ky"' in client.get("/reports/demo?lang=ky", headers=admin).text
    assert "/audit" not in client.get("/reports/demo?lang=ky", headers=manager).text
