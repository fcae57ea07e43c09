"""Several offices on one server (issue 21): each keeps its own numbering, queues, counters, hall and
events, and a staff account acts only on the offices it is for.

The two offices here have the same service ids, prefixes and counter ids on purpose: anything keyed
by those alone would mix them, and a citizen of one office would be called at the other.
"""

from __future__ import annotations

import collections
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cherga.broker_bridge.contract import CounterAction
from cherga.server import auth
from cherga.server.app import create_app, load_office_configs
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from cherga.server.staff_cli import app as staff_cli
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import DEMO, Clock, always_open_yaml, demo_dict, wide_config

NORTH, SOUTH = "/api/v1/offices/demo", "/api/v1/offices/south"
PASSWORD = "office-secret-1"


def _south() -> SiteConfig:
    data = demo_dict()
    data["office"] = {**data["office"], "id": "south"}
    return SiteConfig.model_validate(data)


@pytest.fixture
def two_offices(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    from tests.server.helpers import demo_config

    app = create_app([demo_config(), _south()], sqlite_url(tmp_path / "cherga.db"), clock=clock,
                     sweep_interval=None, demo_accounts=True)
    store: Store = app.state.store
    auth.create_account(store, username="north.manager", role="hall_manager", password=PASSWORD, offices=["demo"])
    auth.create_account(store, username="north.op", role="operator", password=PASSWORD, offices=["demo"])
    auth.create_account(store, username="regional", role="admin", password=PASSWORD)  # every office
    with TestClient(app) as c:
        yield c


def _token(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _waiting(client: TestClient, api: str) -> int:
    return sum(row["waiting"] for row in client.get(f"{api}/load").json())


def test_the_server_lists_both_offices_and_each_numbers_its_own_tickets(two_offices: TestClient) -> None:
    c = two_offices
    assert [o["id"] for o in c.get("/api/v1/offices").json()] == ["demo", "south"]
    assert c.get("/healthz").json()["offices"] == ["demo", "south"]
    north = [c.post(f"{NORTH}/tickets", json={"service": "passport"}).json() for _ in range(2)]
    south = c.post(f"{SOUTH}/tickets", json={"service": "passport"}).json()
    # The same prefix, each office's own sequence: south's first visitor is A-001 too.
    assert [t["label"] for t in north] == ["A-001", "A-002"] and south["label"] == "A-001"
    assert south["people_ahead"] == 0
    assert _waiting(c, NORTH) == 2 and _waiting(c, SOUTH) == 1


def test_a_counter_calls_only_its_own_office_and_the_other_hall_shows_nothing(two_offices: TestClient) -> None:
    c = two_offices
    south_ticket = c.post(f"{SOUTH}/tickets", json={"service": "passport"}).json()
    north_ticket = c.post(f"{NORTH}/tickets", json={"service": "passport"}).json()
    olena = _token(c, "regional")
    assert c.post(f"{NORTH}/counters/c1/sign-in", headers=olena).status_code == 200
    called = c.post(f"{NORTH}/counters/c1/next", headers=olena).json()
    assert called["ticket"]["ticket_id"] == north_ticket["ticket_id"]
    # North's counter c1 has no one left; south's visitor still waits for south's own c1.
    again = c.post(f"{NORTH}/counters/c1/next", headers=olena).json()
    assert again["status"] == "empty"
    assert c.get(f"/api/v1/tickets/{south_ticket['token']}").json()["status"] == "waiting"
    assert c.get(f"{SOUTH}/counters/c1").json()["status"] == "closed"
    assert c.get(f"{SOUTH}/hall").json()["calls"] == []
    assert [x["label"] for x in c.get(f"{NORTH}/hall").json()["calls"]] == ["A-001"]
    store: Store = c.app.state.store  # type: ignore[attr-defined]
    kinds = collections.Counter(e["kind"] for e in store.events("south"))
    assert kinds["called"] == 0 and kinds["issued"] == 1


def test_a_manager_of_one_office_is_refused_at_the_other_with_a_clear_key(two_offices: TestClient) -> None:
    c = two_offices
    south_ticket = c.post(f"{SOUTH}/tickets", json={"service": "passport"}).json()
    manager = _token(c, "north.manager")  # one sign-in on the server that runs both offices
    day = "2026-03-04"
    assert c.get(f"{NORTH}/appointments", params={"day": day}, headers=manager).status_code == 200
    r = c.get(f"{SOUTH}/appointments", params={"day": day}, headers=manager)
    assert r.status_code == 403 and r.json()["key"] == "office_forbidden" and "south" in r.json()["message"]
    r = c.post(f"{SOUTH}/tickets/{south_ticket['ticket_id']}/cancel", headers=manager)
    assert r.status_code == 403 and r.json()["key"] == "office_forbidden"
    assert c.get(f"/api/v1/tickets/{south_ticket['token']}").json()["status"] == "waiting"  # nothing happened
    r = c.post(f"{SOUTH}/tickets", json={"service": "passport"}, headers=manager)  # on a visitor's behalf
    assert r.status_code == 403 and r.json()["key"] == "office_forbidden"
    assert _waiting(c, SOUTH) == 1
    operator = _token(c, "north.op")
    r = c.post(f"{SOUTH}/counters/c1/sign-in", headers=operator)
    assert r.status_code == 403 and r.json()["key"] == "office_forbidden"
    assert c.post(f"{NORTH}/counters/c1/sign-in", headers=operator).status_code == 200


def test_a_regional_administrator_acts_on_every_office(two_offices: TestClient) -> None:
    c = two_offices
    regional = _token(c, "regional")
    tickets = {api: c.post(f"{api}/tickets", json={"service": "passport"}).json() for api in (NORTH, SOUTH)}
    for api, ticket in tickets.items():
        r = c.post(f"{api}/tickets/{ticket['ticket_id']}/cancel", headers=regional)
        assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
        assert _waiting(c, api) == 0
    from cherga.server.security import audit

    for office in ("demo", "south"):  # each cancel is in the audit log under the office it acted on
        cancels = [e for e in audit.entries(c.app.state.store, office=office)  # type: ignore[attr-defined]
                   if (e["target"] or "").endswith("/cancel")]
        assert [(e["actor"], e["office"]) for e in cancels] == [("regional", office)]


def test_a_scope_change_counts_at_once_on_open_sessions(two_offices: TestClient) -> None:
    from cherga.server.admin import staff

    c = two_offices
    manager = _token(c, "north.manager")
    day = "2026-03-04"
    assert c.get(f"{SOUTH}/appointments", params={"day": day}, headers=manager).status_code == 403
    staff.set_offices(c.app.state.store, "north.manager", ("demo", "south"))  # type: ignore[attr-defined]
    assert c.get(f"{SOUTH}/appointments", params={"day": day}, headers=manager).status_code == 200
    staff.set_offices(c.app.state.store, "north.manager", ("demo",))  # type: ignore[attr-defined]
    assert c.get(f"{SOUTH}/appointments", params={"day": day}, headers=manager).status_code == 403


def _second_wide() -> SiteConfig:
    data = wide_config(services=4, counters=6).model_dump(mode="json", exclude_none=True)
    data["office"]["id"] = "wide2"
    return SiteConfig.model_validate(data)


def test_concurrent_next_at_two_offices_on_one_server_calls_nobody_twice(any_store: Store) -> None:
    """Six counters in each of two offices press "next" at once; the offices share ids and prefixes."""
    clock = Clock(tick=dt.timedelta(microseconds=50))
    offices = [OfficeService(wide_config(services=4, counters=6), any_store, clock=clock),
               OfficeService(_second_wide(), any_store, clock=clock)]
    per_office = 60
    for svc in offices:
        for i in range(per_office):
            svc.issue_ticket(command_id=f"{svc.office}-k{i}", source="kiosk", service=f"s{i % 4}")
    calls: dict[str, list[str]] = {svc.office: [] for svc in offices}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def counter(svc: OfficeService, i: int) -> None:
        try:
            for j in range(per_office // 6 + 2):  # more presses than tickets: some find the queue empty
                out = svc.counter_action(command_id=f"{svc.office}-c{i}-{j}", counter=f"c{i}",
                                         action=CounterAction.NEXT, source="pad")
                if out.ticket is not None:
                    with lock:
                        calls[svc.office].append(out.ticket.ticket_id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=counter, args=(svc, i)) for svc in offices for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    for svc in offices:
        own = {r.ticket.id for r in any_store.tickets(svc.office)}
        called = calls[svc.office]
        assert len(called) == len(set(called)), f"{svc.office}: a visitor was called twice"
        assert set(called) == own, f"{svc.office}: called {len(set(called))} of its {len(own)} visitors, or another's"
        kinds = collections.Counter(e["kind"] for e in any_store.events(svc.office))
        assert kinds["called"] == per_office


def _write(path: Path, office: str) -> Path:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["office"]["id"] = office
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_directory_of_configs_loads_every_office_and_a_repeated_id_stops_with_one_line(tmp_path: Path) -> None:
    offices = tmp_path / "offices"
    offices.mkdir()
    _write(offices / "b-south.yaml", "south")
    _write(offices / "a-north.yaml", "north")
    (offices / "notes.txt").write_text("not a config")
    assert [cfg.office.id for _, cfg in load_office_configs([offices])] == ["north", "south"]
    extra = _write(tmp_path / "again.yaml", "south")
    with pytest.raises(SystemExit, match="office 'south' is in both .*b-south.yaml and .*again.yaml"):
        load_office_configs([offices, extra])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="holds no"):
        load_office_configs([empty])


def test_two_configs_with_one_office_id_are_refused_by_create_app(tmp_path: Path) -> None:
    from tests.server.helpers import demo_config

    with pytest.raises(ValueError, match="office id given twice: demo"):
        create_app([demo_config(), demo_config()], sqlite_url(tmp_path / "x.db"), sweep_interval=None)


def test_staff_add_with_offices_and_the_offices_command(tmp_path: Path) -> None:
    db = sqlite_url(tmp_path / "staff.db")
    runner = CliRunner()
    r = runner.invoke(staff_cli, ["add", "anna", "--role", "hall_manager", "--password", PASSWORD,
                                  "--office", "north", "--office", "south", "--db", db])
    assert r.exit_code == 0, r.output
    assert "office north, south" in r.output
    r = runner.invoke(staff_cli, ["add", "boss", "--role", "admin", "--password", PASSWORD, "--db", db])
    assert "every office" in r.output
    listed = runner.invoke(staff_cli, ["list", "--db", db]).output.splitlines()
    assert any(line.startswith("anna\t") and line.endswith("\tnorth,south") for line in listed), listed
    assert any(line.startswith("boss\t") and line.endswith("\t*") for line in listed), listed
    r = runner.invoke(staff_cli, ["offices", "anna", "south", "--db", db])
    assert r.exit_code == 0 and "office south" in r.output
    r = runner.invoke(staff_cli, ["offices", "anna", "Bad Office!", "--db", db])
    assert r.exit_code == 1 and "bad_office" in r.output
    store = Store(db)
    try:
        account = store.staff("anna")
        assert account is not None and account.offices == ("south",)
        assert not account.may_act_on("north")
    finally:
        store.close()


def test_reports_follow_the_office_scope_and_the_network_report_needs_every_office(
        two_offices: TestClient) -> None:
    c = two_offices
    manager, regional = _token(c, "north.manager"), _token(c, "regional")
    params = {"table": "summary", "start": "2026-03-04", "end": "2026-03-04"}
    assert c.get("/reports/demo/export.csv", params=params, headers=manager).status_code == 200
    refused = c.get("/reports/south/export.csv", params=params, headers=manager)
    assert refused.status_code == 403 and "south" in refused.json()["message"]
    assert c.get("/reports/all/export.csv", params=params, headers=manager).status_code == 403
    assert c.get("/reports/all/export.csv", params=params, headers=regional).status_code == 200


def test_the_administration_pages_of_an_office_are_for_its_administrators(two_offices: TestClient) -> None:
    c = two_offices
    auth.create_account(c.app.state.store, username="north.admin", role="admin",  # type: ignore[attr-defined]
                        password=PASSWORD, offices=["demo"])
    for user, demo, south, staff in (("north.admin", 200, 403, 403), ("regional", 200, 200, 200)):
        c.cookies.clear()
        signed = c.post("/admin/signin", data={"username": user, "password": PASSWORD, "lang": "en"},
                        follow_redirects=False)
        assert signed.status_code == 303, signed.text
        assert c.get("/admin/office/demo/section/office", params={"lang": "en"}).status_code == demo, user
        assert c.get("/admin/office/south/section/office", params={"lang": "en"}).status_code == south, user
        assert c.get("/admin/staff", params={"lang": "en"}).status_code == staff, user


def test_me_says_which_offices_the_account_is_for(two_offices: TestClient) -> None:
    c = two_offices
    assert c.get("/api/v1/auth/me", headers=_token(c, "north.manager")).json()["offices"] == ["demo"]
    assert c.get("/api/v1/auth/me", headers=_token(c, "regional")).json()["offices"] is None


def test_an_account_for_no_office_here_gets_no_token(two_offices: TestClient) -> None:
    c = two_offices
    auth.create_account(c.app.state.store, username="east.op", role="operator",  # type: ignore[attr-defined]
                        password=PASSWORD, offices=["east"])
    r = c.post("/api/v1/auth/login", json={"username": "east.op", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["key"] == "office_forbidden" and "demo, south" in r.json()["message"]
    assert "token" not in r.json()


def test_cherga_server_serves_every_office_of_a_directory_and_refuses_one_id_twice(tmp_path: Path) -> None:
    import subprocess
    import sys

    import httpx

    from tests.support.mosquitto import free_port
    from tests.support.wait import wait_until

    offices = tmp_path / "offices"
    offices.mkdir()
    for office in ("north", "south"):  # open round the clock: the server runs on the real clock
        always_open_yaml(offices / f"{office}.yaml", office={**demo_dict()["office"], "id": office})
    db = f"sqlite:///{tmp_path / 'x.db'}"
    twice = subprocess.run([sys.executable, "-m", "cherga", "server", "-c", str(offices), "-c",
                            str(_write(tmp_path / "again.yaml", "north")), "--db", db, "--port", "1"],
                           capture_output=True, text=True, timeout=60)
    assert twice.returncode == 1 and "office 'north' is in both" in twice.stderr and "Traceback" not in twice.stderr
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cherga", "server", "-c", str(offices), "--db", db,
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def listed() -> list[str] | None:
            try:
                return [o["id"] for o in httpx.get(f"http://127.0.0.1:{port}/api/v1/offices", timeout=2).json()]
            except httpx.HTTPError:
                assert server.poll() is None, server.stderr.read() if server.stderr else "the server exited"
                return None

        assert wait_until(listed, 60, what="the server answering") == ["north", "south"]
        for office in ("north", "south"):  # each office numbers its own visitors
            r = httpx.post(f"http://127.0.0.1:{port}/api/v1/offices/{office}/tickets", json={"service": "passport"})
            assert r.status_code == 201 and r.json()["label"] == "A-001", r.text
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_staff_page_sets_an_accounts_offices_by_name(two_offices: TestClient) -> None:
    c = two_offices
    store: Store = c.app.state.store  # type: ignore[attr-defined]
    c.post("/admin/signin", data={"username": "regional", "password": PASSWORD, "lang": "en"})
    page = c.get("/admin/staff", params={"lang": "en"}).text
    assert "Offices (none ticked: every office)" in page and 'value="south"' in page
    r = c.post("/admin/staff/add", data={"username": "vira", "role": "hall_manager", "password": PASSWORD,
                                         "offices": ["south"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    vira = store.staff("vira")
    assert vira is not None and vira.offices == ("south",)
    r = c.post("/admin/staff/vira/offices", data={"offices": ["demo", "south"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=offices")
    assert store.staff("vira").offices == ("demo", "south")  # type: ignore[union-attr]
    r = c.post("/admin/staff/vira/offices", data={}, follow_redirects=False)  # none ticked: every office
    assert r.status_code == 303 and store.staff("vira").offices is None  # type: ignore[union-attr]
    assert "Offices changed." in c.get("/admin/staff", params={"lang": "en", "done": "offices"}).text


def test_the_audit_log_of_an_office_is_for_its_administrators_and_all_for_a_regional_one(
        two_offices: TestClient) -> None:
    c = two_offices
    auth.create_account(c.app.state.store, username="north.admin", role="admin",  # type: ignore[attr-defined]
                        password=PASSWORD, offices=["demo"])
    north, regional = _token(c, "north.admin"), _token(c, "regional")
    assert c.get("/reports/demo/audit.csv", headers=north).status_code == 200
    for office in ("south", "all"):
        r = c.get(f"/reports/{office}/audit.csv", headers=north)
        assert r.status_code == 403 and r.json()["key"] == "office_forbidden"
        assert c.get(f"/reports/{office}/audit.csv", headers=regional).status_code == 200
    assert c.get("/reports/atlantis/audit.csv", headers=regional).status_code == 404


def test_a_pin_of_another_offices_operator_signs_in_at_no_counter_here(two_offices: TestClient) -> None:
    from cherga.counter_pad.words import refusal_text
    from cherga.server.errors import Forbidden

    c = two_offices
    services = c.app.state.services  # type: ignore[attr-defined]
    auth.create_account(c.app.state.store, username="north.pin", role="operator", pin="7391",  # type: ignore[attr-defined]
                        offices=["demo"])
    with pytest.raises(Forbidden) as refused:
        services["south"].counter_action(command_id="pad-south-1", counter="c1", action=CounterAction.SIGN_IN,
                                         source="pad", pin="7391")
    assert refused.value.key == "office_forbidden"
    assert services["south"].counter_state("c1").operator is None
    assert refusal_text("en", "office_forbidden") == refusal_text("en", "bad_pin")  # the pad's board says so
    services["demo"].counter_action(command_id="pad-north-1", counter="c1", action=CounterAction.SIGN_IN,
                                    source="pad", pin="7391")
    assert services["demo"].counter_state("c1").operator == "north.pin"
