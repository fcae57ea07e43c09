"""A node's bundle lands on a Raspberry Pi OS image's boot partition, readable by any FAT reader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cherga.firmware_host.config import parse_node_config
from cherga.provisioning import bundle as bundle_mod
from cherga.provisioning import image as image_mod
from cherga.provisioning.inventory import parse_inventory
from cherga.provisioning.state import SiteState
from cherga.provisioning.tls import SiteCA
from tests.provisioning.conftest import BOOT_START, CMDLINE, INVENTORY, build_image, fsck_boot, mdir, mtype


def _bundle_for(tmp_path: Path, node_id: str, wheels: list[Path] | None = None) -> tuple[bundle_mod.Bundle, dict[str, bytes], str]:
    inv = parse_inventory(INVENTORY)
    state = SiteState.load(tmp_path / "state", inv.office)
    secrets = state.ensure(node_id)
    node = inv.node(node_id)
    return bundle_mod.build_bundle(inv, node, secrets, ca=SiteCA(tmp_path / "ca", inv.office), wheels=wheels or []), {}, secrets.password


def test_partition_table_is_read_and_the_fat_partition_found(tmp_path: Path) -> None:
    img = build_image(tmp_path / "trixie.img")
    parts = image_mod.read_partitions(img)
    assert [(p.number, p.start_lba, p.fat) for p in parts] == [(1, BOOT_START, True), (2, 75776, False)]
    assert image_mod.find_boot_partition(img).offset == BOOT_START * 512
    assert image_mod.detect_flavour(img) == "cloud-init"
    assert image_mod.detect_flavour(build_image(tmp_path / "bookworm.img", "bookworm")) == "firstrun"


def test_trixie_image_gets_cloud_init_seed_and_the_bundle(tmp_path: Path, wheels_dir: Path) -> None:
    img = build_image(tmp_path / "trixie.img")
    inv = parse_inventory(INVENTORY)
    state = SiteState.load(tmp_path / "state", inv.office)
    node = inv.node("kiosk-1")
    secrets = state.ensure(node.id)
    b = bundle_mod.build_bundle(inv, node, secrets, ca=SiteCA(tmp_path / "ca", inv.office), wheels=sorted(wheels_dir.glob("*.whl")))
    boot = bundle_mod.boot_files(inv, node, "cloud-init", instance="abc")
    seen: list[int] = []
    report = image_mod.write_bundle(img, b, boot, flavour="cloud-init", progress=lambda d, t: seen.append(d))
    assert seen[-1] == b.size + sum(len(v) for v in boot.values())  # cloud-init: cmdline.txt is not rewritten
    assert "/cherga/node.yaml" in report.files

    # Read back with mtools, which shares no code with pyfatfs.
    assert {"cherga", "user-data", "network-config", "meta-data", "cmdline.txt"} <= set(mdir(img))
    assert {"node.yaml", "mqtt-password", "enroll-token", "firstboot.sh", "cherga-kiosk.service", "SHA256SUMS",
            "manifest.json", "wheels"} <= set(mdir(img, "/cherga"))
    assert mdir(img, "/cherga/wheels") == ["cherga-0.1.0-py3-none-any.whl", "pip-24.0-py3-none-any.whl"]
    cfg = parse_node_config(mtype(img, "cherga/node.yaml"))
    assert (cfg.node, cfg.role, cfg.office) == ("kiosk-1", "kiosk", "prov-test")
    assert cfg.broker.username == "prov-test.kiosk-1" and cfg.hardware.option("paper_mm") == 80
    assert mtype(img, "cherga/mqtt-password").strip() == secrets.password

    user_data = mtype(img, "user-data")
    assert user_data.startswith("#cloud-config\n")
    ud = yaml.safe_load(user_data)
    assert ud["hostname"] == "cherga-kiosk-1" and ud["users"][0]["name"] == "tech"
    assert ["bash", "/boot/firmware/cherga/firstboot.sh", "start"] in ud["runcmd"]
    net = yaml.safe_load(mtype(img, "network-config"))["network"]
    wlan = net["wifis"]["wlan0"]
    assert wlan["access-points"] == {"CNAP-Staff": {"password": "correct horse battery"}}
    assert wlan["regulatory-domain"] == "UA" and wlan["dhcp4"] is True
    assert yaml.safe_load(mtype(img, "meta-data"))["instance-id"] == "cherga-kiosk-1-abc"
    assert mtype(img, "cmdline.txt") == CMDLINE  # cloud-init images need no kernel hook
    manifest = json.loads(mtype(img, "cherga/manifest.json"))
    assert manifest["token_sha256"] == secrets.token_sha256 and manifest["role"] == "kiosk"

    check = fsck_boot(img, tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_bookworm_image_gets_firstrun_hook_and_static_address(tmp_path: Path) -> None:
    img = build_image(tmp_path / "bookworm.img", "bookworm")
    inv = parse_inventory(INVENTORY)
    node = inv.node("pad-c1")
    secrets = SiteState.load(tmp_path / "state", inv.office).ensure(node.id)
    b = bundle_mod.build_bundle(inv, node, secrets, ca=SiteCA(tmp_path / "ca", inv.office))
    image_mod.write_bundle(img, b, bundle_mod.boot_files(inv, node, "firstrun", instance="x"), flavour="firstrun")
    cmdline = mtype(img, "cmdline.txt")
    assert cmdline.count("\n") == 1 and cmdline.startswith(CMDLINE.strip() + " ")
    # Raspberry Pi Imager's own hook, word for word.
    assert cmdline.rstrip("\n").endswith(" systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot "
                                          "systemd.unit=kernel-command-line.target")
    firstrun = mtype(img, "firstrun.sh")
    assert "address1=192.168.10.31/24,192.168.10.1" in firstrun and "dns=192.168.10.1;" in firstrun
    assert "echo cherga-pad-c1 >/etc/hostname" in firstrun
    assert 'bash "$BOOT/cherga/firstboot.sh" enable-only' in firstrun
    assert '[ -f "$BOOT/cmdline.txt" ] || BOOT=/boot' in firstrun  # /boot/firmware on Bookworm, /boot before
    assert "user-data" not in mdir(img)
    cfg = parse_node_config(mtype(img, "cherga/node.yaml"))
    assert cfg.counter == "c1" and cfg.role == "pad"
    # Writing twice (a re-provisioned card) keeps one hook and only the new node's files.
    image_mod.write_bundle(img, b, bundle_mod.boot_files(inv, node, "firstrun", instance="y"), flavour="firstrun")
    assert mtype(img, "cmdline.txt").count("systemd.run=") == 1
    assert fsck_boot(img, tmp_path).returncode == 0


def test_first_boot_scripts_are_valid_bash(tmp_path: Path) -> None:
    import subprocess

    inv = parse_inventory(INVENTORY)
    node = inv.node("pad-c1")
    secrets = SiteState.load(tmp_path / "state", inv.office).ensure(node.id)
    for name, text in (("firstboot.sh", bundle_mod.firstboot_script(node, secrets)),
                       ("firstrun.sh", bundle_mod.firstrun_script(inv, node))):
        p = tmp_path / name
        p.write_text(text)
        result = subprocess.run(["bash", "-n", str(p)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}: {result.stderr}"
    unit = bundle_mod.unit_file("pad")
    assert "ExecStart=/opt/cherga/current/bin/cherga node --config /etc/cherga/node.yaml" in unit
    assert unit.index("ExecStartPre=+-/usr/bin/python3 /opt/cherga/cherga-slots.py gate") < unit.index("ExecStart=")


def test_image_without_partition_table_gets_a_clear_error(tmp_path: Path) -> None:
    img = tmp_path / "raw.img"
    img.write_bytes(b"\x00" * 4096)
    with pytest.raises(image_mod.ImageError, match="no partition table"):
        image_mod.find_boot_partition(img)


def test_image_with_damaged_partition_table_gets_a_clear_error(tmp_path: Path) -> None:
    img = build_image(tmp_path / "cut.img")
    with img.open("r+b") as f:
        f.truncate(60 * 1024 * 1024 // 2)  # a half-downloaded image: partitions run past its end
    with pytest.raises(image_mod.ImageError, match="beyond the image"):
        image_mod.find_boot_partition(img)


def test_image_without_boot_partition_gets_a_clear_error(tmp_path: Path) -> None:
    img = build_image(tmp_path / "noboot.img", boot_fs=False)
    with pytest.raises(image_mod.ImageError, match="no FAT boot partition"):
        image_mod.find_boot_partition(img)


def test_oversized_bundle_is_refused_before_writing(tmp_path: Path) -> None:
    img = build_image(tmp_path / "trixie.img")
    big = tmp_path / "wheels"
    big.mkdir()
    whl = big / "cherga-0.1.0-py3-none-any.whl"
    with whl.open("wb") as f:
        f.truncate(40 * 1024 * 1024)
    b, _, _ = _bundle_for(tmp_path, "hall-1", [whl])
    with pytest.raises(image_mod.ImageError, match="free"):
        image_mod.write_bundle(img, b, {}, flavour="cloud-init")
    assert "cherga" not in mdir(img)


def _cli(*args: str) -> str:
    from typer.testing import CliRunner

    from cherga.provisioning.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_the_mechanism_is_chosen_from_the_image_and_may_be_forced_with_a_warning(
        tmp_path: Path, inventory_file: Callable[..., Path]) -> None:
    inv, state = inventory_file(), tmp_path / "state"
    bookworm = build_image(tmp_path / "bookworm.img", "bookworm")
    trixie = build_image(tmp_path / "trixie.img")

    out = _cli("image", str(inv), "hall-1", "--image", str(bookworm), "--state-dir", str(state))
    assert "(firstrun)" in out and "seed files" not in out
    assert "firstrun.sh" in mdir(bookworm) and "systemd.run=/boot/firstrun.sh" in mtype(bookworm, "cmdline.txt")

    # Forced onto a Trixie image: firstrun it is, and the technician is told the image looks otherwise.
    out = _cli("image", str(inv), "hall-1", "--image", str(trixie), "--flavour", "firstrun", "--state-dir", str(state))
    assert "(firstrun)" in out and "carries cloud-init seed files" in out
    assert "firstrun.sh" in mdir(trixie) and "systemd.run=/boot/firstrun.sh" in mtype(trixie, "cmdline.txt")
    assert mtype(trixie, "user-data") == "#cloud-config\n"  # the image's own seed, untouched

    # The same card provisioned again the detected way (cloud-init): the old hook and script go.
    out = _cli("image", str(inv), "hall-1", "--image", str(trixie), "--state-dir", str(state))
    assert "(cloud-init)" in out
    assert mtype(trixie, "cmdline.txt") == CMDLINE and "firstrun.sh" not in mdir(trixie)
    assert "firstboot.sh" in mtype(trixie, "user-data")
    assert fsck_boot(trixie, tmp_path).returncode == 0

    out = _cli("image", str(inv), "hall-1", "--image", str(bookworm), "--flavour", "cloud-init",
               "--state-dir", str(state))
    assert "no cloud-init seed files" in out and "user-data" in mdir(bookworm)
    assert "systemd.run" not in mtype(bookworm, "cmdline.txt") and "firstrun.sh" not in mdir(bookworm)


def test_an_image_that_is_not_raspberry_pi_os_gets_no_guess(tmp_path: Path) -> None:
    img = build_image(tmp_path / "other.img", "bookworm")
    import subprocess

    subprocess.run(["mdel", "-i", f"{img}@@{BOOT_START * 512}", "::/cmdline.txt"], check=True, capture_output=True)
    with pytest.raises(image_mod.ImageError, match="neither cloud-init seed files nor cmdline.txt"):
        image_mod.detect_flavour(img)
