"""The first-boot script, run against a fake root: a real venv installed offline from the card's
wheels, the role's unit enabled by the real ``systemctl --root``, the token handed to the node service.

Only what needs a real Raspberry Pi's root is a stub that records its arguments: creating the
``cherga`` user and group (groupadd, useradd, usermod) and the ownership part of ``install -o/-g``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from cherga.provisioning import bundle as bundle_mod
from cherga.provisioning.inventory import parse_inventory
from cherga.provisioning.state import NodeSecrets, SiteState
from cherga.provisioning.tls import SiteCA
from tests.provisioning.conftest import INVENTORY

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
"""
INSTALL = """#!/bin/bash
# install(1) without -o/-g (the fake root has no cherga user); the owners asked for are recorded
echo "install $*" >> "$CALLS"
args=(); skip=0
for a in "$@"; do
  if [ $skip = 1 ]; then skip=0; continue; fi
  case "$a" in -o|-g) skip=1 ;; *) args+=("$a") ;; esac
done
exec /usr/bin/install "${args[@]}"
"""
PYTHON3 = """#!/bin/bash
echo "python3 $*" >> "$CALLS"
venv="${@: -1}"
mkdir -p "$venv/bin"
printf '#!/bin/bash\\necho "venv-python $*" >> "$CALLS"\\n' > "$venv/bin/python"
chmod +x "$venv/bin/python"
"""
SYSTEMCTL = "/usr/bin/systemctl"


def _stubs(tmp_path: Path, *, python: bool = False, systemctl: bool = False) -> Path:
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    names = {"groupadd": STUB, "useradd": STUB, "usermod": STUB, "install": INSTALL, "apt-get": STUB}
    if python:
        names["python3"] = PYTHON3
    if systemctl:
        names["systemctl"] = STUB
    for name, text in names.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    return stubs


def _bundle(tmp_path: Path, node_id: str, wheels: Path) -> tuple[Path, NodeSecrets]:
    inv = parse_inventory(INVENTORY)
    secrets = SiteState.load(tmp_path / "state", inv.office).ensure(node_id)
    b = bundle_mod.build_bundle(inv, inv.node(node_id), secrets, ca=SiteCA(tmp_path / "ca", inv.office), wheels=sorted(wheels.glob("*.whl")))
    boot = tmp_path / "root" / "boot" / "firmware" / "cherga"
    b.write_to(boot)
    return boot, secrets


def _env(tmp_path: Path, stubs: Path, **extra: str) -> dict[str, str]:
    # /usr/bin first: the Debian python3 a Raspberry Pi OS image has, not a developer's pyenv shim.
    return {"PATH": f"{stubs}:/usr/bin:/bin:/usr/sbin:/sbin", "CALLS": str(tmp_path / "calls.log"),
            "CHERGA_LOG": str(tmp_path / "firstboot.log"), "HOME": str(tmp_path), **extra}


def _run(boot: Path, env: dict[str, str], mode: str = "start") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(boot / "firstboot.sh"), mode], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.skipif(not Path(SYSTEMCTL).exists(), reason="systemctl is not installed")
def test_first_boot_installs_a_real_venv_offline_enables_the_unit_and_hands_the_token_to_the_service(
        tmp_path: Path, pad_wheels: Path) -> None:
    boot, secrets = _bundle(tmp_path, "pad-c1", pad_wheels)
    root = tmp_path / "root"
    env = _env(tmp_path, _stubs(tmp_path), CHERGA_ROOT=str(root))
    started = time.monotonic()
    result = _run(boot, env)
    took = time.monotonic() - started
    log = Path(env["CHERGA_LOG"]).read_text()
    assert result.returncode == 0, log
    print(f"first boot with a real venv + pip install of {len(list(pad_wheels.glob('*.whl')))} wheels: {took:.1f} s")

    # Cherga and its pad dependencies really are installed, from the card alone (--no-index).
    venv = root / "opt/cherga/slot-a"
    probe = subprocess.run([str(venv / "bin/python"), "-c", "import counter_pad.role, gpiozero, paho.mqtt, pydantic_core"],
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert (venv / "bin/cherga").exists()
    help_out = subprocess.run([str(venv / "bin/cherga"), "node", "--help"], capture_output=True, text=True)
    assert help_out.returncode == 0 and "--config" in help_out.stdout, help_out.stderr

    # The real systemctl enabled the unit in the fake root, as it would on the Pi.
    unit = root / "etc/systemd/system/cherga-pad.service"
    assert "ExecStart=/opt/cherga/current/bin/cherga node --config /etc/cherga/node.yaml" in unit.read_text()
    # The A/B layout of signed updates: slot-a is current and complete, the trial check beside it,
    # the trial timer enabled (no update trust anchor on this card: no update timer).
    assert os.readlink(root / "opt/cherga/current") == "slot-a"
    assert (venv / "RELEASE.json").exists() and (root / "opt/cherga/cherga-slots.py").exists()
    assert (root / "etc/systemd/system/timers.target.wants/cherga-trial.timer").is_symlink()
    assert not (root / "etc/systemd/system/timers.target.wants/cherga-update.timer").exists()
    wants = root / "etc/systemd/system/multi-user.target.wants/cherga-pad.service"
    assert wants.is_symlink() and os.readlink(wants) == "/etc/systemd/system/cherga-pad.service"

    # Config and password for the service; the token waits in its data folder, owner-only.
    etc = root / "etc/cherga"
    assert (etc / "mqtt-password").read_text().strip() == secrets.password
    assert "node: pad-c1" in (etc / "node.yaml").read_text()
    token = root / "var/lib/cherga/enroll-token"
    assert hashlib.sha256(token.read_text().strip().encode()).hexdigest() == secrets.token_sha256
    assert token.stat().st_mode & 0o777 == 0o600
    calls = Path(env["CALLS"]).read_text()
    assert f"install -o cherga -g cherga -m 0600 enroll-token {token}" in calls
    assert "useradd --system --gid cherga" in calls
    # first boot does not enroll or spend anything itself any more
    assert not (etc / "enrollment.json").exists()
    # The secrets have left the FAT partition.
    assert not (boot / "enroll-token").exists() and not (boot / "mqtt-password").exists()

    again = _run(boot, env)
    assert again.returncode == 0 and "nothing to do" in Path(env["CHERGA_LOG"]).read_text()
    assert Path(env["CALLS"]).read_text() == calls  # nothing ran twice


def test_on_a_running_system_first_boot_starts_the_unit_unless_told_to_only_enable(
        tmp_path: Path, wheels_dir: Path) -> None:
    boot, _ = _bundle(tmp_path, "kiosk-1", wheels_dir)
    root = tmp_path / "root"
    paths = {"CHERGA_ETC": str(root / "etc/cherga"), "CHERGA_VENV": str(root / "opt/cherga/slot-a"),
             "CHERGA_DATA": str(root / "var/lib/cherga"), "CHERGA_UNIT_DIR": str(root / "etc/systemd/system")}
    env = _env(tmp_path, _stubs(tmp_path, python=True, systemctl=True), **paths)
    assert _run(boot, env).returncode == 0, Path(env["CHERGA_LOG"]).read_text()
    calls = Path(env["CALLS"]).read_text().splitlines()
    pip = next(c for c in calls if c.startswith("venv-python"))
    assert f"{boot}/wheels/pip-24.0-py3-none-any.whl/pip install --no-index --find-links {boot}/wheels cherga[kiosk]" in pip
    adopt = next(c for c in calls if "updater.slots adopt" in c)
    assert adopt == f"venv-python -m cherga.firmware_host.updater.slots adopt --root {root}/opt/cherga --slot slot-a"
    assert calls[-3:] == ["systemctl daemon-reload", "systemctl enable cherga-kiosk.service cherga-trial.timer",
                          "systemctl start --no-block cherga-kiosk.service cherga-trial.timer"]

    boot2, _ = _bundle(tmp_path / "bookworm", "kiosk-1", wheels_dir)
    env2 = {**env, **{k: v.replace(str(root), str(tmp_path / "bookworm" / "root")) for k, v in paths.items()},
            "CALLS": str(tmp_path / "calls2.log")}
    assert _run(boot2, env2, "enable-only").returncode == 0
    calls2 = Path(env2["CALLS"]).read_text()
    assert "systemctl enable cherga-kiosk.service" in calls2 and "start" not in calls2


def test_a_damaged_bundle_is_refused_and_nothing_is_installed(tmp_path: Path, wheels_dir: Path) -> None:
    boot, _ = _bundle(tmp_path, "kiosk-1", wheels_dir)
    with (boot / "node.yaml").open("a") as f:
        f.write("# a flipped bit\n")
    env = _env(tmp_path, _stubs(tmp_path, python=True), CHERGA_ROOT=str(tmp_path / "root"))
    assert _run(boot, env).returncode == 1
    assert "bundle is damaged" in Path(env["CHERGA_LOG"]).read_text()
    assert not Path(env["CALLS"]).exists() and not (tmp_path / "root/etc/cherga").exists()


def test_a_token_from_another_bundle_is_refused(tmp_path: Path, wheels_dir: Path) -> None:
    boot, _ = _bundle(tmp_path, "kiosk-1", wheels_dir)
    (boot / "enroll-token").write_text("someone-elses-token\n")
    sums = (boot / "SHA256SUMS").read_text().splitlines()
    digest = hashlib.sha256(b"someone-elses-token\n").hexdigest()
    (boot / "SHA256SUMS").write_text("\n".join(f"{digest}  enroll-token" if s.endswith("enroll-token") else s
                                               for s in sums) + "\n")
    env = _env(tmp_path, _stubs(tmp_path, python=True), CHERGA_ROOT=str(tmp_path / "root"))
    assert _run(boot, env).returncode == 1
    assert "does not belong to this bundle" in Path(env["CHERGA_LOG"]).read_text()
    assert not (tmp_path / "root/var/lib/cherga/enroll-token").exists()


def test_first_boot_of_a_display_installs_the_voice_and_the_time_zones_from_debian(
        tmp_path: Path, wheels_dir: Path) -> None:
    boot, _ = _bundle(tmp_path, "hall-1", wheels_dir)
    env = _env(tmp_path, _stubs(tmp_path, python=True), CHERGA_ROOT=str(tmp_path / "root"))
    assert _run(boot, env).returncode == 0, Path(env["CHERGA_LOG"]).read_text()
    calls = Path(env["CALLS"]).read_text().splitlines()
    apt = [c for c in calls if c.startswith("apt-get install")]
    assert apt and apt[0].split()[-3:] == ["tzdata", "espeak-ng", "sox"]
    # a kiosk gets the zones, not the voice
    boot2, _ = _bundle(tmp_path / "k", "kiosk-1", wheels_dir)
    env2 = {**env, "CHERGA_ROOT": str(tmp_path / "k" / "root"), "CALLS": str(tmp_path / "calls2.log")}
    assert _run(boot2, env2).returncode == 0
    apt2 = [c for c in Path(env2["CALLS"]).read_text().splitlines() if c.startswith("apt-get install")]
    assert apt2 and apt2[0].split()[-1] == "tzdata" and "sox" not in apt2[0]


def test_without_network_first_boot_still_sets_the_node_up_and_says_which_packages_are_missing(
        tmp_path: Path, wheels_dir: Path) -> None:
    boot, _ = _bundle(tmp_path, "hall-1", wheels_dir)
    stubs = _stubs(tmp_path, python=True)
    (stubs / "apt-get").write_text(STUB + "exit 100\n")  # apt-get's answer when nothing can be fetched
    env = _env(tmp_path, stubs, CHERGA_ROOT=str(tmp_path / "root"))
    assert _run(boot, env).returncode == 0
    log = Path(env["CHERGA_LOG"]).read_text()
    assert "apt-get install tzdata espeak-ng sox" in log
    assert (tmp_path / "root/etc/systemd/system/cherga-display.service").exists()
