"""The role launcher: config → session → role → heartbeat → clean stop, and ``cherga node`` itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from cherga.broker_bridge import contract
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.launcher import EXIT_BAD_CONFIG, NodeRunner, run_node
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.role import NodeRole, RoleNotFound, load_role, register_role, unregister_role
from cherga.firmware_host.session import NodeSession
from tests.bridge.conftest import Watcher
from tests.support.mosquitto import Broker

REPO = Path(__file__).resolve().parents[2]


class RecordingRole:
    """A role that records what the launcher did to it."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.session: NodeSession | None = None

    def start(self, session: NodeSession, config: NodeConfig) -> None:
        self.calls.append("start")
        self.session = session

    def stop(self) -> None:
        self.calls.append("stop")

    def health(self) -> dict[str, str | int | float | bool | None]:
        return {"printer": "ok", "jams": 0}


def test_a_role_is_found_by_name_and_an_unknown_one_is_named() -> None:
    register_role("pad", RecordingRole)
    try:
        role = load_role("pad")()
        assert isinstance(role, NodeRole)
    finally:
        unregister_role("pad")
    with pytest.raises(RoleNotFound, match="toaster"):
        load_role("toaster")


@pytest.mark.mosquitto
def test_the_runner_starts_the_role_sends_heartbeats_notifies_systemd_and_stops_cleanly(
        mosquitto: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notify_path = str(tmp_path / "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    office = f"o{uuid.uuid4().hex[:8]}"
    cfg = NodeConfig.model_validate({"node": "k1", "role": "kiosk", "office": office, "heartbeat_s": 0.1,
                                     "data_dir": str(tmp_path), "broker": {"port": mosquitto.port}})
    watcher = Watcher(mosquitto.host, mosquitto.port, f"cherga/v1/{office}/node/k1/#")
    role = RecordingRole()
    runner = NodeRunner(cfg, role, session=NodeSession(cfg, outbox=Outbox(cfg.outbox_path)))
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        states = [notify.recv(200).decode() for _ in range(3)]
        assert states[0].startswith("READY=1")
        assert "WATCHDOG=1" in states
        tel = watcher.wait_for(lambda t, d: t.endswith("/telemetry"))
        assert tel["health"] == {"printer": "ok", "jams": 0} and tel["role"] == "kiosk"
    finally:
        runner.stop()
        thread.join(10)
    assert role.calls == ["start", "stop"]
    assert watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "offline")
    seen = []
    with pytest.raises(TimeoutError):
        while True:
            seen.append(notify.recv(200).decode())
    assert "STOPPING=1" in seen
    watcher.close()
    notify.close()


def test_a_broken_config_exits_with_2_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.yaml"
    path.write_text("node: k1\nrole: kiosk\noffice: demo\nbroker: {port: 0}\n")
    assert run_node(path) == EXIT_BAD_CONFIG
    assert "node.yaml:4: broker.port" in capsys.readouterr().err


@pytest.mark.mosquitto
def test_cherga_node_runs_a_real_pad_and_goes_offline_on_sigterm(mosquitto: Broker, tmp_path: Path) -> None:
    office = f"o{uuid.uuid4().hex[:8]}"
    path = tmp_path / "node.yaml"
    path.write_text(json.dumps({"node": "pad-c1", "role": "pad", "office": office, "counter": "c1",
                                "data_dir": "data", "heartbeat_s": 0.2, "broker": {"port": mosquitto.port}}))
    watcher = Watcher(mosquitto.host, mosquitto.port, f"cherga/v1/{office}/node/pad-c1/#")
    env: dict[str, Any] = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "cherga", "node", "--config", str(path)], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        online = watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "online", timeout=20)
        assert online["role"] == "pad"
        assert watcher.wait_for(lambda t, d: t.endswith("/telemetry"), timeout=10)["node"] == "pad-c1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read() if proc.stderr else ""
        assert watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "offline")
        assert (tmp_path / "data" / "outbox.sqlite").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        watcher.close()
    contract.decode(contract.topic("node_status", office, node="pad-c1"),
                    json.dumps(watcher.payloads(contract.topic("node_status", office, node="pad-c1"))[-1]).encode())


def test_a_node_whose_office_zone_is_unknown_here_refuses_to_start_and_says_to_install_tzdata(tmp_path: Path) -> None:
    cfg = tmp_path / "node.yaml"
    cfg.write_text("node: pad-1\nrole: pad\noffice: demo\ncounter: c1\ntimezone: Europe/Kyiv\n"
                   "broker: {host: 127.0.0.1, port: 1}\n")
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    # A machine without Debian's tzdata and without the Python package: zoneinfo finds no zones at all.
    code = ("import sys; sys.modules['tzdata'] = None\n"
            "from cherga.firmware_host.launcher import run_node\n"
            f"sys.exit(run_node({str(cfg)!r}))\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONTZPATH": str(empty)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == EXIT_BAD_CONFIG, out.stderr
    assert "Europe/Kyiv" in out.stderr and "tzdata" in out.stderr


def test_the_office_zone_is_found_with_the_python_tzdata_package_alone(tmp_path: Path) -> None:
    empty = tmp_path / "no-zoneinfo"
    empty.mkdir()
    code = ("from cherga.firmware_host.launcher import timezone_problem\n"
            "import datetime as dt, zoneinfo\n"
            "assert timezone_problem('Asia/Bishkek') is None\n"
            "print(dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo('Asia/Bishkek')).hour)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONTZPATH": str(empty)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "18"  # Bishkek is UTC+6, not UTC
