"""A card made by ``cherga provision`` sets up the A/B layout with the office's update trust anchor.

``cherga provision bundle`` finds the anchor in ``<state dir>/updates`` (where the technician keeps
the update repository); first boot (stubbed python and systemctl, the real script) adopts slot-a
with ``--anchor`` and enables the update timer beside the trial timer.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cherga.provisioning.updates import UpdateRepo
from tests.provisioning.conftest import INVENTORY
from tests.provisioning.test_firstboot import _env, _run, _stubs
from tests.updates.conftest import CHERGA, REPO, now


def test_a_card_carries_the_update_anchor_and_first_boot_enables_updates(tmp_path: Path) -> None:
    inventory = tmp_path / "office.yaml"
    inventory.write_text(INVENTORY)
    state = tmp_path / "prov-test-provisioning"
    repo = UpdateRepo(state / "updates")
    repo.init(tmp_path / "usb" / "root.pem", now=now())
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "cherga-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    done = subprocess.run([CHERGA, "provision", "bundle", str(inventory), "kiosk-1", "--wheels", str(wheels)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    boot = state / "bundles" / "kiosk-1"
    anchor = (repo.metadata_dir / "1.root.json").read_bytes()
    assert (boot / "update-root.json").read_bytes() == anchor
    assert json.loads(anchor)["signed"]["_type"] == "root"
    for unit in ("cherga-trial.service", "cherga-trial.timer", "cherga-update.service", "cherga-update.timer"):
        assert (boot / unit).exists(), unit

    root = tmp_path / "root"
    paths = {"CHERGA_ETC": str(root / "etc/cherga"), "CHERGA_VENV": str(root / "opt/cherga/slot-a"),
             "CHERGA_DATA": str(root / "var/lib/cherga"), "CHERGA_UNIT_DIR": str(root / "etc/systemd/system")}
    env = _env(tmp_path, _stubs(tmp_path, python=True, systemctl=True), **paths)
    assert _run(boot, env).returncode == 0, Path(env["CHERGA_LOG"]).read_text()
    calls = Path(env["CALLS"]).read_text().splitlines()
    assert (f"venv-python -m cherga.firmware_host.updater.slots adopt --root {root}/opt/cherga --slot slot-a "
            f"--anchor {boot}/update-root.json") in calls
    assert "systemctl enable cherga-kiosk.service cherga-trial.timer cherga-update.timer" in calls
    update_unit = (root / "etc/systemd/system/cherga-update.service").read_text()
    assert "/opt/cherga/current/bin/cherga update --config /etc/cherga/node.yaml" in update_unit
