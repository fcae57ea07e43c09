"""Enrollment over MQTT: a provisioned node proves its card's one-time token to the server."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, Outcome
from cherga.broker_bridge.broker_config import Node, node_reads, node_writes, render_acl
from cherga.server.db import schema
from cherga.server.enrollment import EnrollmentListError, EnrollmentRefused, Enrollments
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig, load_site_config
from cherga.server.store import Store
from tests.bridge.conftest import REPO, command, make_service
from tests.support.mosquitto import running_broker
from tests.support.mqtt import subscribe_and_wait
from tests.support.postgres import PostgresServer
from tests.support.wait import wait_until

OFFICE = "demo"


def test_a_node_may_publish_only_its_own_enroll_topic_and_read_only_its_own_answer() -> None:
    for node in (Node("kiosk-1", "kiosk"), Node("pad-1", "pad", counter="c1"), Node("hall-1", "display")):
        writes = node_writes(OFFICE, node)
        reads = node_reads(OFFICE, node)
        assert contract.topic("node_enroll", OFFICE, node=node.id) in writes
        assert contract.topic("node_enroll_response", OFFICE, node=node.id) in reads
        assert not any(t.endswith("/enroll") and f"/node/{node.id}/" not in t for t in writes)
        assert not any("enroll" in t and f"/node/{node.id}/" not in t for t in reads)
    acl = render_acl(OFFICE, [Node("kiosk-1", "kiosk"), Node("hall-1", "display")], "server")
    assert f"topic write {contract.ROOT}/{OFFICE}/node/kiosk-1/enroll" in acl
    assert f"topic read {contract.ROOT}/{OFFICE}/node/hall-1/enroll/response" in acl
    assert "node/+/enroll" not in acl


@pytest.mark.mosquitto
def test_a_real_broker_drops_a_node_enrolling_under_another_nodes_id(tmp_path: Path) -> None:
    from tests.bridge.test_broker_config import OFFICE as ACL_OFFICE
    from tests.bridge.test_broker_config import PASSWORDS, _write_files, client

    pw, acl = _write_files(tmp_path / "mosq")  # the generated password file and ACL
    kiosk_user = f"{ACL_OFFICE}.kiosk-1"
    with running_broker(tmp_path / "mosq", extra=f"allow_anonymous false\npassword_file {pw}\nacl_file {acl}") as b, \
            client(b, "server", PASSWORDS["server"]) as server, client(b, kiosk_user, PASSWORDS[kiosk_user]) as kiosk:
        assert server.wait_connected() and kiosk.wait_connected()
        subscribe_and_wait(server.client, f"{contract.ROOT}/{ACL_OFFICE}/#")
        forged = contract.topic("node_enroll", ACL_OFFICE, node="pad-1")
        own = contract.topic("node_enroll", ACL_OFFICE, node="kiosk-1")
        kiosk.client.publish(forged, b'{"forged": true}', qos=1).wait_for_publish(5)
        kiosk.client.publish(own, b'{"own": true}', qos=1).wait_for_publish(5)
        wait_until(lambda: any(t == own for t, _ in server.received), what="the kiosk's own enroll")
        assert [t for t, _ in server.received if t == forged] == []


# --- the server side: the bridge, a real OfficeService, a real store -----------------------------

def _write_list(path: Path, office: str, tokens: dict[str, str], revoked: tuple[str, ...] = ()) -> Path:
    """An enrollment list in the format `cherga provision` writes (provisioning.bundle.server_files)."""
    path.write_text(json.dumps({
        "office": office,
        "nodes": {n: {"username": f"{office}.{n}", "token_sha256": hashlib.sha256(t.encode()).hexdigest(),
                      "issued_at": "2026-03-01T08:00:00+00:00"} for n, t in tokens.items() if n not in revoked},
        "revoked": {n: "2026-03-02T10:00:00+00:00" for n in revoked},
    }))
    return path


TOKEN = "k1-token-aaaaaaaaaaaaaa"
PAD_TOKEN = "pad-token-bbbbbbbbbbbbbb"


@pytest.fixture
def enrolling(site: SiteConfig, office_id: str, tmp_path: Path) -> tuple[Bridge, OfficeService, Path]:
    """A bridge whose enrollment list names k1 and pad-c1 (provisioned); k2, d1, pad-c2 are not in it."""
    listing = _write_list(tmp_path / "enrollment.json", office_id, {"k1": TOKEN, "pad-c1": PAD_TOKEN})
    config = site.model_copy(update={"enrollment_file": listing})
    service = make_service(config, tmp_path / "office.db")
    return Bridge(service, "127.0.0.1", 1, config=config), service, listing


def _send(bridge: Bridge, route: str, msg: contract.Payload, **params: str) -> Outcome:
    return bridge.handle(contract.topic(route, bridge.office, **params), msg.to_bytes())


def _enroll(bridge: Bridge, node: str, token: str, id: str | None = None) -> Outcome:
    msg = contract.Enroll(id=id or uuid.uuid4().hex, node=node, ts=dt.datetime.now(dt.UTC), token=token)
    return _send(bridge, "node_enroll", msg, node=node)


def _issue(bridge: Bridge, node: str) -> Outcome:
    return _send(bridge, "kiosk_issue", command(contract.IssueTicket, node, service="passport", purpose="submit"),
                 node=node)


def _online(bridge: Bridge, node: str, role: str) -> Outcome:
    status = contract.NodeStatus(node=node, role=role, state="online", address="192.168.10.21")  # type: ignore[arg-type]
    return _send(bridge, "node_status", status, node=node)


def test_a_provisioned_node_is_served_only_after_it_enrolls_with_its_cards_token(
        enrolling: tuple[Bridge, OfficeService, Path]) -> None:
    bridge, service, _ = enrolling
    assert _online(bridge, "k1", "kiosk").status == "observed"
    assert bridge.node_overview()["k1"]["state"] == "awaiting enrollment"
    refused = _issue(bridge, "k1")
    assert (refused.status, refused.reason) == ("refused", "not_enrolled")
    alert = contract.NodeAlert(node="k1", ts=dt.datetime.now(dt.UTC), kind="paper_out")
    assert _send(bridge, "node_alert", alert, node="k1").reason == "not_enrolled"
    assert service.waiting_total() == 0

    assert _enroll(bridge, "k1", TOKEN).status == "applied"
    assert _issue(bridge, "k1").status == "applied"
    row = bridge.node_overview()["k1"]
    assert (row["state"], row["enrollment"], row["address"]) == ("online", "enrolled", "192.168.10.21")
    with service.store.reading() as conn:
        stored = conn.execute(select(schema.node_enrollments)).mappings().all()
    assert [(r["node"], r["token_sha256"]) for r in stored] == [("k1", hashlib.sha256(TOKEN.encode()).hexdigest())]
    assert stored[0]["address"] == "192.168.10.21"


def test_a_wrong_token_is_refused_and_the_node_stays_awaiting_enrollment(
        enrolling: tuple[Bridge, OfficeService, Path]) -> None:
    bridge, _, _ = enrolling
    wrong = _enroll(bridge, "k1", PAD_TOKEN)
    assert (wrong.status, wrong.reason) == ("refused", "wrong_token")
    assert bridge.metrics.refused["wrong_token"] == 1
    assert bridge.node_overview()["k1"]["state"] == "awaiting enrollment"
    assert _issue(bridge, "k1").reason == "not_enrolled"


def test_a_cloned_card_is_refused_but_a_resend_of_the_same_request_is_answered_again(
        enrolling: tuple[Bridge, OfficeService, Path]) -> None:
    bridge, _, _ = enrolling
    assert _enroll(bridge, "pad-c1", PAD_TOKEN, id="first-boot-1").status == "applied"
    # The answer was lost; the node resends the very same request: same answer, nothing new recorded.
    assert _enroll(bridge, "pad-c1", PAD_TOKEN, id="first-boot-1").status == "applied"
    clone = _enroll(bridge, "pad-c1", PAD_TOKEN, id="clone-card-7")
    assert (clone.status, clone.reason) == ("refused", "token_spent")
    assert "clone" in clone.message
    # The real pad keeps working.
    sign_in = command(contract.CounterCommand, "pad-c1", action="sign_in", pin="4821")
    assert _send(bridge, "counter_command", sign_in, counter="c1").status == "applied"


def test_nodes_the_list_does_not_name_are_served_as_without_enrollment(
        enrolling: tuple[Bridge, OfficeService, Path]) -> None:
    bridge, _, _ = enrolling
    assert _issue(bridge, "k2").status == "applied"
    assert _online(bridge, "d1", "display").status == "observed"
    overview = bridge.node_overview()
    assert overview["d1"]["state"] == "online" and overview["d1"]["enrollment"] == "not_provisioned"
    assert overview["k2"]["state"] == "unknown" and overview["pad-c2"]["state"] == "unknown"
    unknown = _enroll(bridge, "k2", TOKEN)
    assert (unknown.status, unknown.reason) == ("refused", "unknown_node")


def test_a_node_revoked_on_disk_is_refused_at_once_even_after_enrolling(
        enrolling: tuple[Bridge, OfficeService, Path], office_id: str) -> None:
    bridge, _, listing = enrolling
    assert _enroll(bridge, "k1", TOKEN).status == "applied"
    assert _issue(bridge, "k1").status == "applied"
    # `cherga provision revoke` rewrote the list; the technician copied it over the server's copy.
    _write_list(listing, office_id, {"k1": TOKEN, "pad-c1": PAD_TOKEN}, revoked=("k1",))
    refused = _issue(bridge, "k1")
    assert (refused.status, refused.reason) == ("refused", "revoked")
    assert _online(bridge, "k1", "kiosk").reason == "revoked"
    assert _enroll(bridge, "k1", TOKEN).reason == "revoked"
    assert bridge.node_overview()["k1"]["state"] == "revoked"
    # Reinstated with a fresh token (a new card): it must enroll again with the new one.
    _write_list(listing, office_id, {"k1": "k1-new-card-cccccccccccc", "pad-c1": PAD_TOKEN})
    assert _issue(bridge, "k1").reason == "not_enrolled"
    assert _enroll(bridge, "k1", TOKEN).reason == "wrong_token"
    assert _enroll(bridge, "k1", "k1-new-card-cccccccccccc").status == "applied"
    assert _issue(bridge, "k1").status == "applied"


def test_enrollment_is_durable_across_a_server_restart(
        enrolling: tuple[Bridge, OfficeService, Path], tmp_path: Path) -> None:
    bridge, service, _ = enrolling
    assert _enroll(bridge, "k1", TOKEN, id="boot-1").status == "applied"
    service.store.close()
    again = make_service(bridge.config, tmp_path / "office.db")
    restarted = Bridge(again, "127.0.0.1", 1, config=bridge.config)
    assert restarted.node_overview()["k1"]["enrollment"] == "enrolled"
    assert _issue(restarted, "k1").status == "applied"
    assert _enroll(restarted, "k1", TOKEN, id="boot-2").reason == "token_spent"


def test_a_bad_enrollment_list_is_a_clear_error_at_start_and_ignored_when_it_breaks_later(
        site: SiteConfig, office_id: str, tmp_path: Path) -> None:
    service = make_service(site, tmp_path / "office.db")
    missing = site.model_copy(update={"enrollment_file": tmp_path / "nowhere.json"})
    with pytest.raises(EnrollmentListError, match="nowhere.json: cannot read the enrollment list"):
        Bridge(service, "127.0.0.1", 1, config=missing)
    other = _write_list(tmp_path / "other.json", "another-office", {"k1": TOKEN})
    with pytest.raises(EnrollmentListError, match="for office 'another-office'"):
        Bridge(service, "127.0.0.1", 1, config=site.model_copy(update={"enrollment_file": other}))

    listing = _write_list(tmp_path / "enrollment.json", office_id, {"k1": TOKEN})
    bridge = Bridge(service, "127.0.0.1", 1, config=site.model_copy(update={"enrollment_file": listing}))
    listing.write_text("{ half a file")
    assert _issue(bridge, "k1").reason == "not_enrolled"  # the last good list stays in force
    assert _enroll(bridge, "k1", TOKEN).status == "applied"


def test_site_config_names_the_enrollment_list_relative_to_itself(tmp_path: Path) -> None:
    text = (REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8")
    (tmp_path / "site").mkdir()
    cfg_path = tmp_path / "site" / "office.yaml"
    cfg_path.write_text(text + "\nenrollment_file: provisioning/enrollment.json\n")
    assert load_site_config(cfg_path).enrollment_file == tmp_path / "site" / "provisioning" / "enrollment.json"
    assert load_site_config(REPO / "examples" / "demo-office.yaml").enrollment_file is None


def test_enrollment_records_and_refuses_a_clone_on_postgresql(postgres: PostgresServer, tmp_path: Path) -> None:
    store = Store(postgres.create_database(f"t_{uuid.uuid4().hex[:12]}"))
    try:
        listing = _write_list(tmp_path / "enrollment.json", "pg-office", {"k1": TOKEN})
        enrollments = Enrollments(store, "pg-office", listing)
        assert enrollments.state("k1") == "awaiting_enrollment"
        assert enrollments.enroll("k1", TOKEN, "k1:boot-1").first
        assert not enrollments.enroll("k1", TOKEN, "k1:boot-1").first
        with pytest.raises(EnrollmentRefused) as spent:
            enrollments.enroll("k1", TOKEN, "k1:clone")
        assert spent.value.key == "token_spent"
        # A second server process (a fresh view of the same database) sees it enrolled.
        assert Enrollments(store, "pg-office", listing).state("k1") == "enrolled"
    finally:
        store.close()


def test_a_list_copied_over_with_its_old_timestamp_is_still_noticed(
        enrolling: tuple[Bridge, OfficeService, Path], office_id: str) -> None:
    bridge, _, listing = enrolling
    assert _enroll(bridge, "k1", TOKEN).status == "applied"
    before = listing.stat()
    # `cp -p` of a list for a reinstated k1: same size, old modification time, a different token.
    _write_list(listing, office_id, {"k1": TOKEN.replace("a", "z"), "pad-c1": PAD_TOKEN})
    os.utime(listing, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert listing.stat().st_size == before.st_size
    assert _issue(bridge, "k1").reason == "not_enrolled"


def test_cherga_server_with_a_missing_enrollment_list_stops_with_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    site = tmp_path / "office.yaml"
    site.write_text("enrollment_file: enrollment.json\n" + (REPO / "examples/demo-office.yaml").read_text())
    run = subprocess.run([sys.executable, "-m", "cherga", "server", "-c", str(site), "--db",
                          f"sqlite:///{tmp_path / 'x.db'}", "--port", "1"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "cannot read the enrollment list" in run.stderr and "Traceback" not in run.stderr
