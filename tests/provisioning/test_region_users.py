"""The region's users survive `cherga provision server` (issue 21): once the office's region files are
imported (``--region-files``), every rewrite of the office broker's passwd and acl keeps the uplink's
and the config reader's users, a second run writes the same files, and the real uplink still sends
the office's log through a real Mosquitto started on those files.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from typer.testing import CliRunner

from cherga.broker_bridge import contract
from cherga.provisioning.cli import app
from cherga.provisioning.region import render_uplink_acl, write_region_files
from cherga.server.region.regionfile import load_region
from cherga.server.region.uplink import Uplink
from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url
from tests.provisioning.conftest import INVENTORY, generated_broker, try_connect, two_free_ports
from tests.region.conftest import office_clock
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
OFFICE = "kr-north"  # served_by: own in examples/region
runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _region(tmp_path: Path) -> tuple[Path, Path]:
    """`cherga region provision` over the example region: the region file and OUT."""
    src = tmp_path / "region-src"
    shutil.copytree(REPO / "examples" / "region", src)
    out = tmp_path / "region-out"
    write_region_files(load_region(src / "region.yaml"), out)
    return src / "region.yaml", out


def _files(state: Path) -> tuple[str, str]:
    return (state / "server" / "passwd").read_text(), (state / "server" / "acl").read_text()


@pytest.mark.mosquitto
def test_the_uplink_survives_provision_server_and_a_rerun_changes_nothing(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    region_file, out = _region(tmp_path)
    office_dir = out / "offices" / OFFICE
    port, tls_port = two_free_ports()
    inv = inventory_file(INVENTORY.replace("office: prov-test", f"office: {OFFICE}"), port=port, tls_port=tls_port)
    state = tmp_path / "state"

    _cli("server", str(inv), "--state-dir", str(state))  # the office as it was before it joined the region
    passwd, acl = _files(state)
    assert f"{OFFICE}.uplink:" not in passwd

    said = _cli("server", str(inv), "--state-dir", str(state), "--region-files", str(office_dir))
    assert "region" in said
    passwd, acl = _files(state)
    assert passwd.count(f"{OFFICE}.uplink:") == 1 and passwd.count(f"{OFFICE}.config:") == 1
    assert f"{OFFICE}.server:" in passwd and f"{OFFICE}.pad-c1:" in passwd  # the office's own users stay
    assert acl.endswith(render_uplink_acl(OFFICE)) and acl.count(f"user {OFFICE}.uplink") == 1

    # Run again (and after a node change) with no option: the region's users are still there, once.
    _cli("server", str(inv), "--state-dir", str(state))
    assert _files(state) == (passwd, acl), "a second run changed the broker's passwd or acl"
    _cli("revoke", str(inv), "hall-1", "--state-dir", str(state))
    after_revoke, acl_after = _files(state)
    assert f"{OFFICE}.hall-1:" not in after_revoke and acl_after.count(f"user {OFFICE}.uplink") == 1
    assert [line for line in after_revoke.splitlines() if line.startswith(f"{OFFICE}.uplink:")] == \
           [line for line in passwd.splitlines() if line.startswith(f"{OFFICE}.uplink:")]

    # A real Mosquitto on the files `cherga provision server` wrote (it runs the command once more).
    uplink_creds = yaml.safe_load((office_dir / "uplink-credentials.yaml").read_text())
    config_creds = yaml.safe_load((office_dir / "config-credentials.yaml").read_text())
    server_creds = yaml.safe_load((state / "server" / "server-credentials.yaml").read_text())
    region = load_region(region_file)
    store = Store(sqlite_url(tmp_path / "office.db"))
    service = OfficeService(region.configs[OFFICE], store, clock=office_clock())  # office hours
    ticket = service.issue_ticket(command_id=uuid.uuid4().hex, source="test",
                                  service=region.configs[OFFICE].services[0].id)
    host = tmp_path / "broker-host"
    with generated_broker(inv, state, host, plain_port=port) as broker:
        assert try_connect(port, config_creds["username"], config_creds["password"])
        assert not try_connect(port, uplink_creds["username"], "not-the-password")

        # Where the bridge picks the log up: the server user reads the office's region/events.
        batches: list[contract.EventBatch] = []
        heard = threading.Event()
        watcher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        watcher.username_pw_set(server_creds["username"], server_creds["password"])

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            batches.append(contract.EventBatch.model_validate_json(msg.payload))
            heard.set()

        watcher.on_message = on_message
        watcher.connect(broker.host, broker.port)
        watcher.loop_start()
        uplink = Uplink(store, OFFICE, broker.host, broker.port, username=uplink_creds["username"],
                        password=uplink_creds["password"], client_id=uplink_creds["username"], ack_wait_s=0.2)
        try:
            subscribe_and_wait(watcher, contract.topic("region_events", OFFICE))
            uplink.start()
            wait_until(heard.is_set, what="the uplink's first batch through the office broker")
            assert batches[0].office == OFFICE
            assert ticket.ticket_id in {e.ticket_id for e in batches[0].events}
        finally:
            uplink.stop()
            watcher.disconnect()
            watcher.loop_stop()
            store.close()


def test_another_offices_region_files_are_refused_and_nothing_changes(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    _, out = _region(tmp_path)
    inv = inventory_file(INVENTORY.replace("office: prov-test", f"office: {OFFICE}"))
    state = tmp_path / "state"
    _cli("server", str(inv), "--state-dir", str(state))
    before = _files(state)
    result = runner.invoke(app, ["server", str(inv), "--state-dir", str(state),
                                 "--region-files", str(out / "offices" / "kr-mobile")])
    assert result.exit_code == 1
    assert "is not office kr-north's" in result.output and "kr-mobile.uplink" in result.output
    assert not (state / "region").exists() and _files(state) == before

    # A region folder widened by hand (a topic of another office) is refused too.
    tampered = tmp_path / "tampered"
    shutil.copytree(out / "offices" / OFFICE, tampered)
    with (tampered / "uplink.acl").open("a") as f:
        f.write(f"topic read {contract.ROOT}/kr-central/#\n")
    result = runner.invoke(app, ["server", str(inv), "--state-dir", str(state), "--region-files", str(tampered)])
    assert result.exit_code == 1 and "kr-central" in result.output
    assert _files(state) == before

    # A topic line before the first user would go to the office ACL's last node once appended.
    shutil.copy(out / "offices" / OFFICE / "uplink.acl", tampered / "uplink.acl")
    acl = (tampered / "uplink.acl").read_text()
    (tampered / "uplink.acl").write_text(f"topic readwrite {contract.ROOT}/{OFFICE}/#\n" + acl)
    result = runner.invoke(app, ["server", str(inv), "--state-dir", str(state), "--region-files", str(tampered)])
    assert result.exit_code == 1 and "line 1" in result.output
    assert _files(state) == before
