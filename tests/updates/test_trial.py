"""A new release is on trial until it reports healthy; one that does not is rolled back by itself.

The supervisor test runs the real processes: ``cherga-slots.py supervise`` (the copy next to the
slots, on the system's python as under systemd's ExecStartPre/timer) runs the node program from
``current``; the real ``cherga update`` switches to a release that crashes at start; the node must
be back on the old release, running, without anyone touching it, and never take that release again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from cherga.firmware_host.updater.slots import HEALTH, Layout, check, mark_healthy
from tests.support.wait import wait_until
from tests.updates.conftest import Node, Office, install_initial


def health_of(node: Node) -> dict[str, object] | None:
    try:
        data: dict[str, object] = json.loads((node.data / HEALTH).read_text())
        return data
    except (OSError, ValueError):
        return None


def supervisor(node: Node) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(node.root / "cherga-slots.py"), "supervise", "--root", str(node.root),
                             "--health", str(node.data / HEALTH), "--poll", "0.2", "--restart-delay", "0.2", "--",
                             "{current}/bin/cherga", "node", "--data", str(node.data)],
                            stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.terminate()
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode()


def running_version(node: Node, slot: str) -> str | None:
    mark = health_of(node)
    if mark and mark.get("prefix") == str((node.root / slot).resolve()):
        return str(mark["version"])
    return None


def test_a_release_that_crashes_at_start_is_rolled_back_and_never_taken_again(office: Office, node: Node) -> None:
    office.release("1.1.0", "crash")
    proc = supervisor(node)
    try:
        wait_until(lambda: running_version(node, "slot-a") == "1.0.0", what="1.0.0 running and healthy")
        outcome = node.update("--trial-min", "0.05")  # three seconds to prove itself
        assert outcome["outcome"] == "installed" and node.layout.current() == "slot-b"
        wait_until(lambda: node.layout.current() == "slot-a" and node.layout.trial() is None,
                   what="the rollback to slot-a")
        switched_back = time.time()
        # The old release is started again and runs: it writes a fresh marker from slot-a.
        wait_until(lambda: running_version(node, "slot-a") == "1.0.0"
                   and float(health_of(node)["ts"]) >= switched_back - 1,  # type: ignore[arg-type,index]
                   what="1.0.0 running again after the rollback")
        assert node.layout.failed_versions() == {"1.1.0"}
        again = node.update()
        assert again["outcome"] == "up_to_date", "a rolled-back release is not installed again"
        assert node.layout.current() == "slot-a"
    finally:
        log = stop(proc)
    assert "trial rolled_back" in log


def test_a_healthy_release_is_kept(office: Office, node: Node) -> None:
    office.release("1.1.0")
    proc = supervisor(node)
    try:
        wait_until(lambda: running_version(node, "slot-a") == "1.0.0", what="1.0.0 running")
        assert node.update("--trial-min", "0.05")["outcome"] == "installed"
        wait_until(lambda: running_version(node, "slot-b") == "1.1.0", what="1.1.0 running")
        wait_until(lambda: node.layout.trial() is None, what="the trial settled")
        # Settled for good: a check long after the deadline finds no trial to roll back.
        assert check(node.layout, node.data / HEALTH, now=time.time() + 3600) == "none"
        assert node.layout.current() == "slot-b" and node.layout.failed_versions() == set()
    finally:
        stop(proc)


# --- the check itself, with the clock given ---------------------------------------------------------

def trial_layout(tmp_path: Path) -> Layout:
    root = tmp_path / "opt"
    install_initial(root, "1.0.0", tmp_path)
    layout = Layout(root)
    (root / "slot-b" / "bin").mkdir(parents=True)
    (root / "slot-b" / "RELEASE.json").write_text('{"version": "1.1.0"}')
    layout.begin_trial("slot-b", "slot-a", "1.1.0", now=1000.0, trial_s=600)
    layout.switch("slot-b")
    return layout


def test_the_check_waits_until_the_deadline_then_rolls_back(tmp_path: Path) -> None:
    layout = trial_layout(tmp_path)
    health = tmp_path / "data" / HEALTH
    assert check(layout, health, now=1599.0) == "waiting" and layout.current() == "slot-b"
    assert check(layout, health, now=1600.0) == "rolled_back"
    assert layout.current() == "slot-a" and layout.trial() is None and layout.failed_versions() == {"1.1.0"}
    assert check(layout, health, now=1700.0) == "none"


def test_only_a_marker_from_the_slot_on_trial_written_after_the_switch_counts(tmp_path: Path) -> None:
    layout = trial_layout(tmp_path)
    health = tmp_path / "data" / HEALTH
    data = tmp_path / "data"
    data.mkdir()
    # The old release's marker (its slot, or from before the switch) must not pass for the new one.
    health.write_text(json.dumps({"prefix": str(layout.slot("slot-a").resolve()), "ts": 1200.0}))
    assert check(layout, health, now=1300.0) == "waiting"
    health.write_text(json.dumps({"prefix": str(layout.slot("slot-b").resolve()), "ts": 900.0}))
    assert check(layout, health, now=1300.0) == "waiting"
    health.write_text(json.dumps({"prefix": str(layout.slot("slot-b").resolve()), "ts": 1250.0}))
    assert check(layout, health, now=1300.0) == "committed"
    assert layout.current() == "slot-b" and layout.trial() is None


def test_a_trial_recorded_before_a_switch_that_never_happened_is_dropped(tmp_path: Path) -> None:
    root = tmp_path / "opt"
    install_initial(root, "1.0.0", tmp_path)
    layout = Layout(root)
    layout.begin_trial("slot-b", "slot-a", "1.1.0", now=1000.0, trial_s=600)  # power lost before the rename
    assert check(layout, tmp_path / HEALTH, now=5000.0) == "stale"
    assert layout.current() == "slot-a" and layout.failed_versions() == set()


def test_the_node_runtime_marker_names_its_own_prefix(tmp_path: Path) -> None:
    path = mark_healthy(tmp_path, version="1.1.0", now=42.0)
    assert json.loads(path.read_text()) == {"prefix": str(Path(sys.prefix).resolve()), "version": "1.1.0", "ts": 42.0}


def test_adopt_makes_a_fresh_install_the_current_slot_with_the_trust_anchor(tmp_path: Path) -> None:
    from cherga.firmware_host.updater.slots import adopt

    root = tmp_path / "opt"
    (root / "slot-a" / "bin").mkdir(parents=True)
    anchor = tmp_path / "1.root.json"
    anchor.write_text('{"signed": {"_type": "root"}}')
    layout = Layout(root)
    adopt(layout, "slot-a", "1.0.0", anchor=anchor)
    assert layout.current() == "slot-a" and layout.version() == "1.0.0" and layout.inactive() == "slot-b"
    assert (root / "cherga-slots.py").exists() and (root / "tuf" / "root.json").read_text() == anchor.read_text()
    # A trust anchor already there is never replaced from a card or by hand: trust moves by signed root only.
    other = tmp_path / "other.json"
    other.write_text("{}")
    adopt(layout, "slot-a", "1.0.0", anchor=other)
    assert (root / "tuf" / "root.json").read_text() == anchor.read_text()


def test_the_role_unit_gets_the_trial_gate_before_it_starts_and_the_timers_name_the_unit() -> None:
    from cherga.firmware_host.systemd import render_unit
    from cherga.firmware_host.updater.units import update_units, with_gate

    unit = with_gate(render_unit("kiosk", "/etc/cherga/node.yaml", cherga="/opt/cherga/current/bin/cherga"))
    lines = unit.splitlines()
    gate = next(i for i, line in enumerate(lines) if line.startswith("ExecStartPre="))
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    assert gate < start and "cherga-slots.py gate --root /opt/cherga" in lines[gate]
    assert lines[start] == "ExecStart=/opt/cherga/current/bin/cherga node --config /etc/cherga/node.yaml"
    units = update_units("kiosk", "/etc/cherga/node.yaml")
    assert "--unit cherga-kiosk.service" in units["cherga-trial.service"]
    assert '--restart "systemctl restart cherga-kiosk.service"' in units["cherga-update.service"]
    assert "OnUnitActiveSec=1min" in units["cherga-trial.timer"] and "OnUnitActiveSec=1h" in units["cherga-update.timer"]
