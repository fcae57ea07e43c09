"""``cherga mobile``: the kit starts only on the numbering reserved for it, prints its systemd unit,
and takes its processes along when it is killed (issue 21)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.mosquitto import free_port
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]
REGION = REPO / "examples" / "region"
ENV = {**os.environ, "CHERGA_LOG_LEVEL": "WARNING"}


def _cherga(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cherga", *args], capture_output=True, text=True, env=ENV, timeout=120)


def _bus_with(tmp_path: Path, **numbering: dict[str, int]) -> Path:
    data = yaml.safe_load((REGION / "kr-mobile.yaml").read_text(encoding="utf-8"))
    data["numbering"].update(numbering)
    path = tmp_path / "kr-mobile.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_the_kit_on_its_reserved_numbering_passes_the_check() -> None:
    out = _cherga("mobile", "check", "-c", str(REGION / "kr-mobile.yaml"), "--region", str(REGION / "region.yaml"))
    assert out.returncode == 0, out.stderr
    assert "kr-mobile (mobile office of kr-central)" in out.stdout and "850-919" in out.stdout


@pytest.mark.parametrize("home", ["--home", "--region"])
def test_the_kit_refuses_to_start_on_numbers_its_home_office_gives(tmp_path: Path, home: str) -> None:
    # A technician copies the central office's numbering onto the bus: A-012 would exist twice.
    bus = _bus_with(tmp_path, walk_in={"first": 1, "last": 599})
    workdir = tmp_path / "kit"
    if home == "--home":
        where = REGION / "kr-central.yaml"
    else:  # the region file beside the spoiled bus config
        for name in ("region.yaml", "kr-central.yaml", "kr-north.yaml"):
            shutil.copy(REGION / name, tmp_path / name)
        where = tmp_path / "region.yaml"
    out = _cherga("mobile", "run", "-c", str(bus), home, str(where), "--workdir", str(workdir),
                  "--port", str(free_port()), "--broker-port", str(free_port()))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()  # one line, saying what meets what
    assert "numbering.walk_in 1-599 of 'kr-mobile' meets numbering.walk_in 1-599 of 'kr-central'" in line
    assert not (workdir / "cherga.db").exists(), "nothing may start on a refused numbering"


def test_the_kit_refuses_an_office_the_region_does_not_call_mobile(tmp_path: Path) -> None:
    out = _cherga("mobile", "check", "-c", str(REGION / "kr-north.yaml"), "--region", str(REGION / "region.yaml"))
    assert out.returncode == 2
    assert out.stderr.strip() == (f"cherga mobile: {REGION / 'region.yaml'}: office 'kr-north' is not a mobile "
                                  "office (no mobile_of)")
    neither = _cherga("mobile", "check", "-c", str(REGION / "kr-mobile.yaml"))
    assert neither.returncode == 2 and "--home FILE" in neither.stderr


def test_the_unit_runs_the_kit_with_its_numbering_check_and_takes_every_child_along() -> None:
    out = _cherga("mobile", "unit", "-c", "/etc/cherga/kr-mobile.yaml", "--region", "/etc/cherga/region.yaml",
                  "--node", "/etc/cherga/kiosk.yaml", "--node", "/etc/cherga/display.yaml")
    assert out.returncode == 0, out.stderr
    unit = out.stdout
    assert ("ExecStart=/opt/cherga/current/bin/cherga mobile run --config /etc/cherga/kr-mobile.yaml --region "
            "/etc/cherga/region.yaml --workdir /var/lib/cherga --node /etc/cherga/kiosk.yaml "
            "--node /etc/cherga/display.yaml") in unit
    for line in ("Restart=always", "KillMode=control-group", "RestartPreventExitStatus=2 3", "Type=notify",
                 "WantedBy=multi-user.target"):
        assert line in unit.splitlines()


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def _dead(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "State:\tZ" in status.read_text()


def _healthy(port: int) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return r.status == 200
    return False


@pytest.mark.mosquitto
def test_a_killed_kit_leaves_no_process_behind_and_starts_again_on_the_same_ports(tmp_path: Path) -> None:
    port, broker_port = free_port(), free_port()
    argv = [sys.executable, "-m", "cherga", "mobile", "run", "-c", str(REGION / "kr-mobile.yaml"),
            "--home", str(REGION / "kr-central.yaml"), "--workdir", str(tmp_path / "kit"), "--host", "127.0.0.1",
            "--port", str(port), "--broker-port", str(broker_port)]
    log = tmp_path / "kit.log"

    def tail() -> str:
        logs = [log, *sorted((tmp_path / "kit" / "logs").glob("*.log"))]
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in logs if p.exists())

    for _ in range(2):
        with open(log, "ab") as out:
            kit = subprocess.Popen(argv, env=ENV, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: _healthy(port), timeout=60, what=lambda: f"the kit's server answering:\n{tail()}")
            parts = _children(kit.pid)
            assert len(parts) == 2  # the broker and the server
            os.kill(kit.pid, signal.SIGKILL)  # the kit alone: its parts must not outlive it
            kit.wait(10)
            wait_until(lambda: all(_dead(c) for c in parts), timeout=30,  # noqa: B023 - waited for here
                       what="the kit's parts gone with it")
        finally:
            if kit.poll() is None:
                kit.kill()
                kit.wait()


class _Statuses:
    """Every node status message on the kit's broker, in order (retained ones first)."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        from cherga.broker_bridge import contract

        self.seen: list[tuple[str, str]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="watch-kit-status")
        self.client.on_connect = lambda c, *_: c.subscribe(contract.subscription("node_status", "kr-mobile"), qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect_async("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        if msg.payload:  # an empty retained message clears a retired node
            self.seen.append((msg.topic.split("/")[-2], json.loads(msg.payload)["state"]))

    def last(self, node: str) -> str | None:
        states = [state for n, state in list(self.seen) if n == node]
        return states[-1] if states else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.mosquitto
def test_the_kit_runs_its_kiosk_and_display_and_starts_a_killed_one_again(tmp_path: Path) -> None:
    port, broker_port = free_port(), free_port()
    data = yaml.safe_load((REGION / "kr-mobile.yaml").read_text(encoding="utf-8"))
    data["nodes"] = [{"id": "k1", "role": "kiosk"}, {"id": "d1", "role": "display"}]
    config = tmp_path / "kr-mobile.yaml"
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    nodes = []
    for node, role, hardware in (
            ("k1", "kiosk", {"printer": {"type": "file", "devfile": str(tmp_path / "printer.bin")}}),
            ("d1", "display", {"serial": {"led": "VIRTUAL"}, "screen": "1280x720"})):
        path = tmp_path / f"{role}.yaml"
        path.write_text(yaml.safe_dump({
            "node": node, "role": role, "office": "kr-mobile", "data_dir": str(tmp_path / node), "heartbeat_s": 5,
            "broker": {"host": "127.0.0.1", "port": broker_port, "keepalive_s": 5}, "hardware": hardware}))
        nodes += ["--node", str(path)]
    argv = [sys.executable, "-m", "cherga", "mobile", "run", "-c", str(config), "--home",
            str(REGION / "kr-central.yaml"), "--workdir", str(tmp_path / "kit"), "--host", "127.0.0.1",
            "--port", str(port), "--broker-port", str(broker_port), *nodes]
    with open(tmp_path / "kit.log", "ab") as out:
        kit = subprocess.Popen(argv, env=ENV, stdout=out, stderr=subprocess.STDOUT)
    statuses = _Statuses(broker_port)

    def tail() -> str:
        logs = [tmp_path / "kit.log", *sorted((tmp_path / "kit" / "logs").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-1500:] for p in logs if p.exists())

    try:
        wait_until(lambda: _healthy(port), timeout=90, what=lambda: f"the kit's server answering:\n{tail()}")
        wait_until(lambda: statuses.last("k1") == "online" and statuses.last("d1") == "online", timeout=90,
                   what=lambda: f"kiosk and display online on the kit's broker ({statuses.seen}):\n{tail()}")
        (kiosk,) = [c for c in _children(kit.pid) if "kiosk.yaml" in Path(f"/proc/{c}/cmdline").read_text()]
        os.kill(kiosk, signal.SIGKILL)
        wait_until(lambda: statuses.last("k1") == "offline", timeout=60, what="the kiosk's last will")
        wait_until(lambda: statuses.last("k1") == "online", timeout=90,
                   what=lambda: f"the kiosk started again by the kit:\n{tail()}")
        assert statuses.last("d1") == "online"  # the display went on meanwhile
        assert _healthy(port)  # and so did the server
    finally:
        statuses.close()
        kit.send_signal(signal.SIGTERM)
        kit.wait(60)
    assert kit.returncode == 0


@pytest.mark.parametrize(("node", "says"), [
    ({"node": "k1", "role": "kiosk", "office": "kr-mobile", "broker": {"host": "10.0.0.5", "port": 1883}},
     "node k1 connects to 10.0.0.5:1883; on the kit it must use the kit's broker, 127.0.0.1:1883"),
    ({"node": "k1", "role": "kiosk", "office": "kr-central", "broker": {"host": "127.0.0.1", "port": 1883}},
     "node k1 is of office 'kr-central', the kit runs 'kr-mobile'"),
    ({"node": "k1", "role": "kiosk", "office": "kr-mobile", "brokr": {}}, "brokr"),
])
def test_the_kit_refuses_a_node_that_would_not_reach_it(tmp_path: Path, node: dict[str, object], says: str) -> None:
    path = tmp_path / "kiosk.yaml"
    path.write_text(yaml.safe_dump(node))
    out = _cherga("mobile", "run", "-c", str(REGION / "kr-mobile.yaml"), "--home", str(REGION / "kr-central.yaml"),
                  "--workdir", str(tmp_path / "kit"), "--node", str(path))
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith(f"cherga mobile: {path}") and says in line
    assert not (tmp_path / "kit").exists(), "nothing may start for a node that cannot reach the kit"
