"""The first-boot script, run in a fake root: it installs from the card, enables the role, spends the token.

Commands that need a real Raspberry Pi (useradd, systemctl, the venv's pip) are stubs that record
their arguments; everything else (sha256sum, install, the file moves) is the real thing.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from provisioning import bundle as bundle_mod
from provisioning.inventory import parse_inventory
from provisioning.state import SiteState
from tests.provisioning.conftest import INVENTORY

STUB = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
"""
INSTALL = """#!/bin/bash
# install(1) without -o/-g: the fake root has no cherga user
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


@pytest.fixture
def fake_root(tmp_path: Path, wheels_dir: Path) -> tuple[Path, dict[str, str], SiteState]:
    inv = parse_inventory(INVENTORY)
    state = SiteState.load(tmp_path / "state", inv.office)
    node = inv.node("kiosk-1")
    b = bundle_mod.build_bundle(inv, node, state.ensure(node.id), wheels=sorted(wheels_dir.glob("*.whl")))
    boot = tmp_path / "boot" / "cherga"
    b.write_to(boot)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in {"groupadd": STUB, "useradd": STUB, "usermod": STUB, "systemctl": STUB,
                       "install": INSTALL, "python3": PYTHON3}.items():
        (stubs / name).write_text(text)
        (stubs / name).chmod(0o755)
    root = tmp_path / "root"
    env = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "CALLS": str(tmp_path / "calls.log"),
        "CHERGA_ETC": str(root / "etc/cherga"),
        "CHERGA_VENV": str(root / "opt/cherga/venv"),
        "CHERGA_DATA": str(root / "var/lib/cherga"),
        "CHERGA_UNIT_DIR": str(root / "etc/systemd/system"),
        "CHERGA_LOG": str(tmp_path / "firstboot.log"),
    }
    (root / "etc/systemd/system").mkdir(parents=True)
    return boot, env, state


def _run(boot: Path, env: dict[str, str], mode: str = "start") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(boot / "firstboot.sh"), mode], env=env, capture_output=True, text=True, timeout=60)


def test_first_boot_installs_offline_enables_the_role_and_spends_the_token(
        fake_root: tuple[Path, dict[str, str], SiteState]) -> None:
    boot, env, state = fake_root
    result = _run(boot, env)
    log = Path(env["CHERGA_LOG"]).read_text()
    assert result.returncode == 0, log
    calls = Path(env["CALLS"]).read_text().splitlines()
    etc = Path(env["CHERGA_ETC"])

    assert any(c.startswith("python3 -m venv --system-site-packages --without-pip") for c in calls)
    pip = next(c for c in calls if c.startswith("venv-python"))
    assert f"{boot}/wheels/pip-24.0-py3-none-any.whl/pip install --no-index --find-links {boot}/wheels cherga[kiosk]" in pip
    assert "systemctl enable cherga-kiosk.service" in calls
    assert "systemctl start --no-block cherga-kiosk.service" in calls
    unit = (Path(env["CHERGA_UNIT_DIR"]) / "cherga-kiosk.service").read_text()
    assert "ExecStart=/opt/cherga/venv/bin/cherga node --config /etc/cherga/node.yaml" in unit

    assert (etc / "mqtt-password").read_text().strip() == state.nodes["kiosk-1"].password
    assert "node: kiosk-1" in (etc / "node.yaml").read_text()
    assert state.nodes["kiosk-1"].token_sha256 in (etc / "enrollment.json").read_text()
    # The secrets have left the boot partition; the token is spent.
    assert not (boot / "enroll-token").exists() and not (boot / "mqtt-password").exists()

    again = _run(boot, env)
    assert again.returncode == 0 and "token is spent" in Path(env["CHERGA_LOG"]).read_text()
    assert Path(env["CALLS"]).read_text().splitlines() == calls  # nothing ran twice


def test_bookworm_first_run_only_enables_the_unit(fake_root: tuple[Path, dict[str, str], SiteState]) -> None:
    boot, env, _ = fake_root
    assert _run(boot, env, "enable-only").returncode == 0
    calls = Path(env["CALLS"]).read_text()
    assert "systemctl enable cherga-kiosk.service" in calls and "start" not in calls


def test_a_damaged_bundle_is_refused_and_nothing_is_installed(fake_root: tuple[Path, dict[str, str], SiteState]) -> None:
    boot, env, _ = fake_root
    with (boot / "node.yaml").open("a") as f:
        f.write("# a flipped bit\n")
    assert _run(boot, env).returncode == 1
    assert "bundle is damaged" in Path(env["CHERGA_LOG"]).read_text()
    assert not Path(env["CALLS"]).exists() and not Path(env["CHERGA_ETC"]).exists()


def test_a_token_from_another_bundle_is_refused(fake_root: tuple[Path, dict[str, str], SiteState]) -> None:
    boot, env, _ = fake_root
    (boot / "enroll-token").write_text("someone-elses-token\n")
    sums = (boot / "SHA256SUMS").read_text().splitlines()
    import hashlib

    digest = hashlib.sha256(b"someone-elses-token\n").hexdigest()
    (boot / "SHA256SUMS").write_text("\n".join(f"{digest}  enroll-token" if s.endswith("enroll-token") else s
                                               for s in sums) + "\n")
    assert _run(boot, env).returncode == 1
    assert "does not belong to this bundle" in Path(env["CHERGA_LOG"]).read_text()
