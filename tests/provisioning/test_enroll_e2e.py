"""The issue's acceptance test: a pad from a generated card image, installed by its first-boot script,
enrolls over a real Mosquitto (the generated password file and ACL) with the real server and bridge;
a cloned card is refused; after revocation the server and then the broker shut it out.

The node is the real ``cherga node`` from the venv first boot installed (a fake root), not this
checkout: what runs is what the card carries.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cherga.broker_bridge.bridge import Bridge
from cherga.provisioning import image as image_mod
from cherga.provisioning.cli import app
from tests.bridge.conftest import make_service, site_config
from tests.provisioning.conftest import (
    build_image,
    generated_broker,
    reload_broker,
    try_connect,
    two_free_ports,
)
from tests.provisioning.test_firstboot import SYSTEMCTL, _env, _run, _stubs
from tests.support.wait import wait_until

pytestmark = [pytest.mark.mosquitto,
              pytest.mark.skipif(not Path(SYSTEMCTL).exists(), reason="systemctl is not installed")]
OFFICE = "prov-test"
runner = CliRunner()


def _cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _unpack_bundle(card: Path, dest: Path) -> Path:
    """The card's /cherga folder as the Pi sees it under /boot/firmware (read with the image reader)."""
    sums = image_mod.read_file(card, "/cherga/SHA256SUMS").decode()
    for rel in [line.split("  ", 1)[1] for line in sums.splitlines()] + ["SHA256SUMS"]:
        p = dest / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(image_mod.read_file(card, f"/cherga/{rel}"))
    return dest


class NodeProcess:
    """``<venv>/bin/cherga node --config FILE`` with its output in a log file."""

    def __init__(self, venv: Path, config: Path, log: Path) -> None:
        self.log = log
        env: dict[str, Any] = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock", "SDL_VIDEODRIVER": "dummy"}
        env.pop("NOTIFY_SOCKET", None)
        with log.open("ab") as f:
            self.proc = subprocess.Popen([str(venv / "bin/cherga"), "node", "--config", str(config)], env=env,
                                         stdout=f, stderr=subprocess.STDOUT, cwd=config.parent)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def processes() -> Iterator[list[NodeProcess]]:
    made: list[NodeProcess] = []
    yield made
    for p in made:
        p.stop()


def _run_config(installed: Path, data_dir: Path, name: str) -> Path:
    """The installed node.yaml with the fake root's data folder (and a quick heartbeat for the test)."""
    cfg = yaml.safe_load(installed.read_text())
    cfg.update(data_dir=str(data_dir), heartbeat_s=1)
    path = installed.parent / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_pad_from_its_card_enrolls_a_clone_is_refused_and_revocation_shuts_it_out(
        tmp_path: Path, inventory_file: Callable[..., Path], pad_wheels: Path,
        processes: list[NodeProcess]) -> None:
    port, tls_port = two_free_ports()
    inv = inventory_file(port=port, tls_port=tls_port)  # nodes on TLS (the default), the server on loopback
    state = tmp_path / "state"
    card = tmp_path / "pad-c1.img"
    out = _cli("image", str(inv), "pad-c1", "--image", str(build_image(tmp_path / "raspios-bookworm.img", "bookworm")),
               "--output", str(card), "--wheels", str(pad_wheels), "--state-dir", str(state))
    assert "(firstrun)" in out

    # First boot, for real where this machine allows it: venv + offline pip, systemctl --root enable.
    root = tmp_path / "root"
    boot = _unpack_bundle(card, root / "boot/firmware/cherga")
    env = _env(tmp_path, _stubs(tmp_path), CHERGA_ROOT=str(root))
    assert _run(boot, env).returncode == 0, Path(env["CHERGA_LOG"]).read_text()
    venv, data = root / "opt/cherga/slot-a", root / "var/lib/cherga"
    assert (data / "enroll-token").exists()
    config = _run_config(root / "etc/cherga/node.yaml", data, "node-run.yaml")

    server_files = state / "server"
    creds = yaml.safe_load((server_files / "server-credentials.yaml").read_text())
    site = site_config(OFFICE, nodes=[{"id": "kiosk-1", "role": "kiosk"}, {"id": "hall-1", "role": "display"},
                                      {"id": "pad-c1", "role": "pad", "counter": "c1"}])
    site = site.model_copy(update={"enrollment_file": server_files / "enrollment.json"})
    service = make_service(site, tmp_path / "office.db")
    host = tmp_path / "broker-host"
    with generated_broker(inv, state, host, plain_port=port) as broker:
        bridge = Bridge(service, broker.host, broker.port, config=site, username=creds["username"],
                        password=creds["password"]).start()
        try:
            overview: Callable[[], dict[str, Any]] = lambda: bridge.node_overview()["pad-c1"]  # noqa: E731
            assert overview()["state"] == "awaiting enrollment"

            node = NodeProcess(venv, config, tmp_path / "pad-c1.log")
            processes.append(node)
            wait_until(lambda: overview()["enrollment"] == "enrolled" and overview()["state"] == "online",
                       what=lambda: f"the node enrolled and online; its log: {node.text()[-3000:]}")
            # The node keeps its receipt, deletes the token, then logs: under load the test can look between
            # the unlink and the log line (seen twice in ~12 loaded runs), so it waits for the line too.
            wait_until(lambda: (data / "enrollment.json").exists() and not (data / "enroll-token").exists(),
                       what="the enrollment kept and the token gone")
            wait_until(lambda: "enrolled with office prov-test" in node.text(),
                       what=lambda: f"the node logging its enrollment; its log: {node.text()[-3000:]}")
            node.stop()

            # A clone of the card as it was before its first boot: same token, same broker password.
            clone_data = tmp_path / "clone" / "var/lib/cherga"
            clone_data.mkdir(parents=True)
            (clone_data / "enroll-token").write_bytes(image_mod.read_file(card, "/cherga/enroll-token"))
            clone = NodeProcess(venv, _run_config(config, clone_data, "node-clone.yaml"), tmp_path / "clone.log")
            processes.append(clone)
            wait_until(lambda: "enrollment REFUSED by the server: token_spent" in clone.text(),
                       what=lambda: f"the clone refused; its log: {clone.text()[-3000:]}")
            assert bridge.metrics.refused["token_spent"] == 1 and overview()["enrollment"] == "enrolled"
            assert not (clone_data / "enrollment.json").exists()
            clone.stop()

            # The lost Pi is revoked. The server refuses it as soon as the list changes...
            node = NodeProcess(venv, config, tmp_path / "pad-c1.log")
            processes.append(node)
            wait_until(lambda: overview()["state"] == "online", what=lambda: f"the node online; its log: {node.text()[-3000:]}")
            assert "revoked" in _cli("revoke", str(inv), "pad-c1", "--state-dir", str(state))
            wait_until(lambda: bridge.metrics.refused["revoked"] >= 1, what="the revoked node refused")  # its next heartbeat
            assert overview()["state"] == "revoked"
            wait_until(lambda: "revoked" in node.text(), what="the node told")  # told on its error topic, and logged
            # ... and the broker once it reloads its files (`systemctl reload mosquitto`): the CRL
            # now names the card's certificate, refused at the TLS handshake.
            reload_broker(broker, inv, state, host)
            password = (root / "etc/cherga/mqtt-password").read_text().strip()
            card_tls = root / "etc/cherga/tls"
            wait_until(lambda: not try_connect(tls_port, f"{OFFICE}.pad-c1", password, tls=card_tls,
                                               ca=card_tls / "ca.crt"),
                       what="the broker refusing the revoked node")
            node.stop()
            broker_log = host / "mosquitto.log"
            refusals = broker_log.read_text(errors="replace").count("certificate verify failed")
            again = NodeProcess(venv, config, tmp_path / "pad-c1-after.log")
            processes.append(again)
            wait_until(lambda: broker_log.read_text(errors="replace").count("certificate verify failed") > refusals,
                       what=lambda: f"the broker refusing the node's certificate; the node's log: {again.text()[-3000:]}")
            assert "connected to" not in again.text()
        finally:
            bridge.stop()
