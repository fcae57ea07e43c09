"""Synthetic Raspberry Pi OS images and a small office inventory for the provisioning tests.

The images are real disk images built with Debian's own tools (sfdisk, mkfs.vfat, mkfs.ext4,
mtools), small and sparse: an MBR, a FAT32 ``bootfs`` partition with the files Raspberry Pi OS
keeps there, and an ext4 ``rootfs`` partition.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from tests.support.mosquitto import Broker

BOOT_START = 2048  # sectors
BOOT_SECTORS = 73728  # 36 MiB: the smallest comfortable FAT32
ROOT_START = BOOT_START + BOOT_SECTORS
ROOT_SECTORS = 22528
IMAGE_BYTES = (ROOT_START + ROOT_SECTORS) * 512

CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=6c586e13-02 rootfstype=ext4 fsck.repair=yes rootwait\n"


def _run(*args: str, stdin: str | None = None) -> None:
    subprocess.run(args, input=stdin, text=True, check=True, capture_output=True)


def _mcopy(image: Path, name: str, text: str, workdir: Path) -> None:
    src = workdir / f"seed-{name}"
    src.write_text(text)
    _run("mcopy", "-o", "-i", f"{image}@@{BOOT_START * 512}", str(src), f"::/{name}")


def build_image(path: Path, flavour: str = "trixie", *, boot_fs: bool = True) -> Path:
    """A small Raspberry Pi OS-like image: ``trixie`` (cloud-init seed files) or ``bookworm``."""
    for tool in ("sfdisk", "mkfs.vfat", "mkfs.ext4", "mcopy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists() and not Path(f"/sbin/{tool}").exists():
            pytest.skip(f"{tool} is not installed (fdisk, dosfstools, e2fsprogs, mtools)")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(IMAGE_BYTES)
    boot_type = "c" if boot_fs else "83"
    _run("sfdisk", "-q", str(path), stdin=(
        f"label: dos\nstart={BOOT_START}, size={BOOT_SECTORS}, type={boot_type}, bootable\n"
        f"start={ROOT_START}, size={ROOT_SECTORS}, type=83\n"))
    _run("mkfs.ext4", "-q", "-F", "-L", "rootfs", "-E", f"offset={ROOT_START * 512}", str(path), str(ROOT_SECTORS // 2))
    if not boot_fs:
        return path
    _run("mkfs.vfat", "-F", "32", "-n", "BOOTFS", "--offset", str(BOOT_START), str(path), str(BOOT_SECTORS // 2))
    work = path.parent
    _mcopy(path, "cmdline.txt", CMDLINE, work)
    _mcopy(path, "config.txt", "[all]\nenable_uart=1\n", work)
    if flavour == "trixie":
        _mcopy(path, "meta-data", "instance_id: rpios-image\n", work)
        _mcopy(path, "user-data", "#cloud-config\n", work)
        _mcopy(path, "network-config", "network:\n  version: 2\n", work)
    else:
        _mcopy(path, "issue.txt", "Raspberry Pi reference 2024-11-19\n", work)
    return path


def mtype(image: Path, name: str) -> str:
    """Read a file from the boot partition with mtools (an implementation independent of pyfatfs)."""
    out = subprocess.run(["mtype", "-i", f"{image}@@{BOOT_START * 512}", f"::/{name}"], capture_output=True,
                         check=True)
    return out.stdout.decode()


def mdir(image: Path, folder: str = "/") -> list[str]:
    out = subprocess.run(["mdir", "-b", "-i", f"{image}@@{BOOT_START * 512}", f"::{folder}"], capture_output=True,
                         text=True, check=True)
    return sorted(Path(line.strip()).name for line in out.stdout.splitlines() if line.strip())


def fsck_boot(image: Path, workdir: Path) -> subprocess.CompletedProcess[str]:
    """fsck.fat -n on a copy of the boot partition (this dosfstools has no --offset for fsck)."""
    part = workdir / "boot-partition.bin"
    with image.open("rb") as src, part.open("wb") as dst:
        src.seek(BOOT_START * 512)
        dst.write(src.read(BOOT_SECTORS * 512))
    return subprocess.run(["fsck.fat", "-n", str(part)], capture_output=True, text=True)


INVENTORY = """\
office: prov-test
broker: {host: 127.0.0.1, port: 1883}
timezone: Europe/Kyiv
network:
  wifi: {ssid: CNAP-Staff, psk: "correct horse battery", country: UA}
admin:
  user: tech
  ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBk0b4Vm0y3S7W2nq3mJxYwq0hS8b3nQ0o8b6qv2s1Qm tech@laptop"]
nodes:
  - id: kiosk-1
    role: kiosk
    hardware: {serial: {printer: /dev/ttyUSB0}, paper_mm: 80}
  - id: pad-c1
    role: pad
    counter: c1
    network: {address: 192.168.10.31/24, gateway: 192.168.10.1, dns: [192.168.10.1]}
  - id: hall-1
    role: display
    hostname: hall-tv
    network: {}
"""


#: The same office with TLS turned off (the opt-out `cherga provision` warns about).
PLAIN_INVENTORY = INVENTORY.replace("broker: {host: 127.0.0.1, port: 1883}",
                                    "broker: {host: 127.0.0.1, port: 1883, tls: false}")


@pytest.fixture
def inventory_file(tmp_path: Path) -> Callable[..., Path]:
    """Write an inventory; ``port`` is the broker's plain (loopback) port, ``tls_port`` its TLS one."""
    def make(text: str = INVENTORY, *, port: int | None = None, tls_port: int | None = None) -> Path:
        if port is not None:
            text = text.replace("port: 1883", f"port: {port}")
        if tls_port is not None:
            text = text.replace("broker: {host: 127.0.0.1,", f"broker: {{host: 127.0.0.1, tls: {{port: {tls_port}}},", 1)
        p = tmp_path / "office.yaml"
        p.write_text(text)
        return p

    return make


def two_free_ports() -> tuple[int, int]:
    """The broker's plain and TLS ports: two free ports, never the same one twice."""
    from tests.support.mosquitto import free_port

    plain = free_port()
    tls = free_port()
    while tls == plain:
        tls = free_port()
    return plain, tls


AS_ROOT = "user root\n" if os.geteuid() == 0 else ""  # root Mosquitto would drop to a user that cannot read tmp


@contextlib.contextmanager
def generated_broker(inventory: Path, state: Path, workdir: Path, *, plain_port: int) -> Iterator[Broker]:
    """A real Mosquitto on the broker files `cherga provision server` writes (its ``cherga.conf`` with
    both listeners, passwd, acl, TLS files and CRL), put where the conf names them, as ``install.sh``
    does on a broker host. ``plain_port``: the inventory's plain port (the listener waited for)."""
    from typer.testing import CliRunner

    from cherga.provisioning.cli import app

    result = CliRunner().invoke(app, ["server", str(inventory), "--state-dir", str(state),
                                      "--mosquitto-dir", str(workdir)])
    assert result.exit_code == 0, result.output
    shutil.copytree(state / "server", workdir / "cherga", dirs_exist_ok=True)
    conf = workdir / "test.conf"
    conf.write_text(f"persistence false\nlog_dest stderr\n{AS_ROOT}" + (workdir / "cherga" / "cherga.conf").read_text())
    broker = Broker(workdir, "127.0.0.1", plain_port, config_file=conf)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def reload_broker(broker: Broker, inventory: Path, state: Path, workdir: Path) -> None:
    """After a change on the laptop (revoke...): the new files in place and SIGHUP, what
    `systemctl reload mosquitto` does."""
    from typer.testing import CliRunner

    from cherga.provisioning.cli import app

    result = CliRunner().invoke(app, ["server", str(inventory), "--state-dir", str(state),
                                      "--mosquitto-dir", str(workdir)])
    assert result.exit_code == 0, result.output
    shutil.copytree(state / "server", workdir / "cherga", dirs_exist_ok=True)
    assert broker.process is not None
    broker.process.send_signal(signal.SIGHUP)


def try_connect(port: int, user: str, password: str | None, *, tls: Path | None = None,
                ca: Path | None = None) -> bool:
    """Whether the broker on loopback ``port`` lets this client in: a CONNACK with success. ``tls``: a
    folder holding the client's ``node.crt`` and ``node.key``; ``ca``: the site CA certificate. A
    handshake the broker breaks off (a revoked certificate) is a refusal."""
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if ca is not None:
        c.tls_set(ca_certs=str(ca), certfile=str(tls / "node.crt") if tls else None,
                  keyfile=str(tls / "node.key") if tls else None)
    c.username_pw_set(user, password)
    answers: list[bool] = []
    c.on_connect = lambda cl, u, f, rc, p: answers.append(not rc.is_failure)
    try:
        c.connect("127.0.0.1", port)
        for _ in range(60):  # until the broker answers or closes the connection (each loop waits up to 1 s)
            if answers or c.loop(timeout=1.0) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (ssl.SSLError, OSError):
        return False  # refused during the handshake
    finally:
        with contextlib.suppress(Exception):
            c.disconnect()
    return bool(answers) and answers[0]


@pytest.fixture
def wheels_dir(tmp_path: Path) -> Path:
    """A stand-in wheelhouse: a real (tiny) cherga wheel is not needed to test the copy."""
    d = tmp_path / "wheels"
    d.mkdir()
    (d / "cherga-0.1.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    (d / "pip-24.0-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    return d


@pytest.fixture(scope="session")
def pad_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real wheels for ``cherga[pad]`` and pip, made from this environment (tests/provisioning/wheelhouse.py)."""
    from tests.provisioning.wheelhouse import wheelhouse

    d = tmp_path_factory.mktemp("pad-wheels")
    wheelhouse(d, "pad")
    return d
