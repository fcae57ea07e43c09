"""The real node program ends its trial: a pad started by ``cherga node`` writes the health marker
naming its own install (its venv, i.e. its slot) once it is connected and its birth message is out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from cherga.firmware_host.updater.slots import HEALTH, Layout, check
from tests.bridge.conftest import Watcher
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.mosquitto
def test_a_connected_node_writes_the_marker_that_commits_its_trial(mosquitto: Broker, tmp_path: Path) -> None:
    office = f"o{uuid.uuid4().hex[:8]}"
    config = tmp_path / "node.yaml"
    config.write_text(json.dumps({"node": "pad-c1", "role": "pad", "office": office, "counter": "c1",
                                  "data_dir": "data", "heartbeat_s": 0.2, "broker": {"port": mosquitto.port}}))
    # The A/B layout as if this venv were the slot on trial (slot-b -> the venv the node runs from).
    root = tmp_path / "opt"
    root.mkdir()
    (root / "slot-b").symlink_to(Path(sys.prefix).resolve())
    layout = Layout(root)
    layout.switch("slot-b")
    layout.begin_trial("slot-b", "slot-a", "1.1.0", now=0.0, trial_s=10**10)
    marker = tmp_path / "data" / HEALTH
    assert check(layout, marker, now=1.0) == "waiting"

    watcher = Watcher(mosquitto.host, mosquitto.port, f"cherga/v1/{office}/node/pad-c1/#")
    env: dict[str, Any] = {**os.environ, "GPIOZERO_PIN_FACTORY": "mock"}
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen([sys.executable, "-m", "cherga", "node", "--config", str(config)], cwd=REPO, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        online = watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "online", timeout=20)
        wait_until(marker.exists, what="the health marker")
        mark = json.loads(marker.read_text())
        assert mark["prefix"] == str(Path(sys.prefix).resolve()) and mark["version"] == online["version"]
        assert check(layout, marker, now=2.0) == "committed"
        assert layout.current() == "slot-b" and layout.trial() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        watcher.close()
