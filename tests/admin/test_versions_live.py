"""A saved configuration is a version (who, when, a diff), goes back exactly, and goes live without
losing a ticket: the running service, the YAML file and (through real Mosquitto) the nodes see it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import start_bridge
from cherga.broker_bridge.contract import CounterAction
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession
from cherga.server.admin import versions
from cherga.server.service import OfficeService
from cherga.server.siteconfig import parse_site_config
from tests.admin.helpers import changed, form_fields, post_form
from tests.firmware_host.test_session import node_config
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until


def save(client: TestClient, section: str, comment: str = "", **values: str) -> Any:
    action = f"/admin/section/{section}"
    fields = changed(form_fields(client.get(action).text, action), **values, __comment=comment)
    return post_form(client, action, fields)


def test_a_saved_change_is_a_version_with_who_when_why_and_a_readable_diff(
        client: TestClient, service: OfficeService) -> None:
    r = save(client, "services", "more passports", **{"services.0.daily_cap": "150"})
    assert r.status_code == 303 and r.headers["location"].endswith("saved=2")
    assert service.config.services[0].daily_cap == 150
    found = versions.versions(service.store, service.office)
    assert [(v.version, v.author, v.comment) for v in found] == [(2, "boss", "more passports"), (1, "", "@loaded")]
    page = client.get("/admin/versions/2").text
    assert "+  daily_cap: 150" in page.replace("&#39;", "'")
    listing = client.get("/admin/versions").text
    assert "boss" in listing and "more passports" in listing and "the configuration the server started with" in listing


def test_going_back_to_a_version_restores_it_exactly(client: TestClient, service: OfficeService, app: FastAPI,
                                                     config_file: Path) -> None:
    original = service.config
    assert save(client, "rules", **{"no_show.recalls": "4"}).status_code == 303
    assert save(client, "display", **{"ticket.footer.en": "Come again!"}).status_code == 303
    footer = service.config.ticket.footer
    assert service.config.no_show.recalls == 4 and footer is not None and footer.get("en") == "Come again!"
    r = client.post("/admin/versions/1/restore", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("restored=4")
    first, back = versions.version(service.store, service.office, 1), versions.version(service.store, service.office, 4)
    assert first is not None and back is not None
    assert back.yaml == first.yaml  # byte for byte
    assert service.config == original == parse_site_config(first.yaml)
    assert config_file.read_text(encoding="utf-8") == first.yaml  # the next start reads the same
    assert back.comment == "Back to version 1" and back.author == "boss"


def test_a_change_goes_live_without_losing_a_ticket(client: TestClient, service: OfficeService) -> None:
    issued = [service.issue_ticket(command_id=f"t{i}", source="kiosk", service="passport") for i in range(3)]
    # Rename the service, and let a new counter 99 serve it.
    r = save(client, "services", **{"services.0.names.en": "Passports of every kind"})
    assert r.status_code == 303
    action = "/admin/section/counters"
    fields = form_fields(client.get(action).text, action)
    new = int(dict(fields)["counters.__count"]) - 1
    r = post_form(client, action, changed(fields, **{f"counters.{new}.id": "c99", f"counters.{new}.number": "99",
                                                     f"counters.{new}.services.passport": "1"}))
    assert r.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', r.text)
    assert service.config.service("passport").names.en == "Passports of every kind"
    waiting = {rec.ticket.id for rec in service.store.active_tickets(service.office)}
    assert {t.ticket_id for t in issued} <= waiting
    service.counter_action(command_id="in", counter="c99", action=CounterAction.SIGN_IN, source="test",
                           operator="olena", authenticated=True)
    called = service.counter_action(command_id="next", counter="c99", action=CounterAction.NEXT, source="test",
                                    operator="olena", authenticated=True)
    assert called.ticket is not None and called.ticket.label == issued[0].label


def test_removing_a_service_that_still_has_tickets_is_refused_and_nothing_is_saved(
        client: TestClient, service: OfficeService) -> None:
    service.issue_ticket(command_id="t1", source="kiosk", service="passport")
    before = service.config
    r = save(client, "services", **{"services.0.__remove": "1"})
    assert r.status_code == 422
    assert "still has open tickets (1)" in r.text
    assert service.config is before and len(versions.versions(service.store, service.office)) <= 1


def test_export_gives_the_current_version_and_a_bad_import_saves_nothing(
        client: TestClient, service: OfficeService) -> None:
    assert save(client, "rules", **{"no_show.recalls": "3"}).status_code == 303
    exported = client.get("/admin/export.yaml")
    assert exported.status_code == 200
    assert parse_site_config(exported.text) == service.config
    broken = exported.text.replace("prefix: B", "prefix: A", 1).replace("recalls: 3", "recalls: many")
    r = client.post("/admin/import", data={"yaml": broken}, follow_redirects=False)
    assert r.status_code == 422
    assert "Prefix &#39;A&#39; is another service&#39;s too" in r.text and "Enter a whole number" in r.text
    assert re.search(r"line \d+", r.text)
    assert len(versions.versions(service.store, service.office)) == 2
    good = exported.text.replace("recalls: 3", "recalls: 5")
    r = client.post("/admin/import", data={"yaml": good, "__comment": "from the laptop"}, follow_redirects=False)
    assert r.status_code == 303 and service.config.no_show.recalls == 5
    assert versions.latest(service.store, service.office).yaml == good  # type: ignore[union-attr]


@pytest.mark.mosquitto
def test_a_saved_change_reaches_a_running_node_and_a_node_that_was_offline(
        client: TestClient, service: OfficeService, mosquitto: Broker, tmp_path: Path) -> None:
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    client.app.state.bridge = bridge  # type: ignore[attr-defined]
    seen: list[contract.NodeConfig] = []
    kiosk = NodeSession(node_config(mosquitto.port, node="k1", role="kiosk", office=service.office,
                                    data_dir=tmp_path), outbox=Outbox(":memory:"), reconnect_delays=(0.1, 0.5))
    kiosk.on_office_config(seen.append)
    kiosk.start()
    try:
        wait_until(lambda: seen, what="the kiosk's first config")
        r = save(client, "display", **{"ticket.footer.en": "See you soon!"})
        assert r.status_code == 303
        wait_until(lambda: seen[-1].ticket.get("footer", {}).get("en") == "See you soon!",
                   what="the kiosk sees the new footer")
        # The display was off while the change was saved: it finds the config retained when it comes.
        late: list[contract.NodeConfig] = []
        display = NodeSession(node_config(mosquitto.port, node="d1", role="display", office=service.office,
                                          data_dir=tmp_path), outbox=Outbox(":memory:"), reconnect_delays=(0.1, 0.5))
        display.on_office_config(late.append)
        display.start()
        try:
            wait_until(lambda: late, what="the display's config")
            assert late[-1].ticket["footer"]["en"] == "See you soon!"
        finally:
            display.close()
    finally:
        kiosk.close()
        bridge.stop()


def test_a_problem_after_a_removed_item_is_shown_at_the_right_item(client: TestClient, service: OfficeService) -> None:
    action = "/admin/section/counters"
    fields = form_fields(client.get(action).text, action)
    # Remove counter 1 and give counter 3 a bad weight: the page comes back with counter 3's weight marked.
    bad = changed(fields, **{"counters.0.__remove": "1", "counters.2.services.passport": "500"})
    r = post_form(client, action, bad)
    assert r.status_code == 422
    # The page is drawn again without counter 1: counter 3 is now the second item, its weight marked.
    marked = re.findall(r'<input name="(counters\.\d+\.services\.passport)" value="500" aria-invalid="true"', r.text)
    assert marked == ["counters.1.services.passport"], marked
    assert "At most 100." in r.text
    assert [c.id for c in service.config.counters][:3] == ["c1", "c2", "c3"]


def test_a_service_gets_its_own_hours_and_loses_them_again(client: TestClient, service: OfficeService) -> None:
    r = save(client, "services", **{"services.0.hours.days.sat": "09:00-13:00", "services.0.hours.holidays": "2026-03-09"})
    assert r.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', r.text)
    own = service.config.services[0].hours
    assert own is not None and list(own.days) == ["sat"] and [str(d) for d in own.holidays] == ["2026-03-09"]
    r = save(client, "services", **{"services.0.hours.days.sat": "", "services.0.hours.holidays": ""})
    assert r.status_code == 303 and service.config.services[0].hours is None  # the office's hours again
    r = save(client, "services", **{"services.0.hours.days.sat": "13:00-09:00"})
    assert r.status_code == 422 and "13:00–09:00: the start must be before the end." in r.text


def test_a_server_started_from_a_file_edited_by_hand_records_it_before_the_next_change(
        client: TestClient, service: OfficeService, app: FastAPI) -> None:
    assert save(client, "rules", **{"no_show.recalls": "3"}).status_code == 303  # versions 1 (start) and 2
    # The server restarts from a file someone edited by hand meanwhile (here: the running config swapped).
    edited = service.config.model_copy(update={"no_show": service.config.no_show.model_copy(update={"recalls": 6})})
    service.reconfigure(edited)
    app.state.config_baseline_checked = False  # a new process
    assert save(client, "rules", **{"no_show.timeout_s": "200"}).status_code == 303
    found = versions.versions(service.store, service.office)
    assert [(v.version, v.comment) for v in found][:2] == [(4, ""), (3, "@loaded")]
    assert "+  recalls: 6" not in versions.diff(found[1], found[0])  # the diff shows only the admin's change
    assert "timeout_s: 200" in versions.diff(found[1], found[0])
