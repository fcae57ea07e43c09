"""Per-node bundles and the server's broker files, as bytes in memory.

Owns what goes onto a node's SD card and into the office broker's configuration:

* :func:`node_config` — the node's ``node.yaml`` (the format of :mod:`firmware_host.config`);
* :func:`build_bundle` — everything under ``/cherga/`` on the boot partition: node config,
  broker password, one-time enrollment token, TLS files, wheels, the first-boot script, the
  role's systemd unit (started from the A/B slot ``current``), the update trial and update timers,
  the office's update trust anchor when there is one, a manifest and ``SHA256SUMS``;
* :func:`boot_files` — how Raspberry Pi OS runs that first-boot script: cloud-init
  ``user-data`` / ``network-config`` / ``meta-data`` on Trixie images, ``firstrun.sh`` plus a
  ``cmdline.txt`` hook on Bookworm images (what Raspberry Pi Imager does for each);
* :func:`server_files` — ``mosquitto.conf``, password file, ACL and the enrollment list.

Nothing here touches a disk image (see :mod:`provisioning.image`) or asks anything (see the CLI).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from cherga.broker_bridge.broker_config import (
    TlsFiles,
    render_acl,
    render_mosquitto_conf,
    render_password_file,
)
from cherga.provisioning.inventory import Inventory, InventoryNode, Network
from cherga.provisioning.state import NodeSecrets, SiteState
from cherga.provisioning.tls import SiteCA

Flavour = Literal["cloud-init", "firstrun"]
BOOT_MOUNT = "/boot/firmware"  # where Raspberry Pi OS (Bookworm and later) mounts the FAT partition
BUNDLE_DIR = "cherga"  # the bundle's folder on the boot partition
AB_ROOT = "/opt/cherga"  # the A/B layout of signed updates (docs/updates.md)
INSTALL_DIR = f"{AB_ROOT}/slot-a"  # first boot installs the first release here; `current` points at it
CONFIG_DIR = "/etc/cherga"
DATA_DIR = "/var/lib/cherga"
ROLE_EXTRA = {"kiosk": "kiosk", "display": "display", "pad": "pad"}
#: Debian packages first boot installs: the office's time zones for every role, the voice for the display.
COMMON_APT = ("tzdata",)
ROLE_APT: dict[str, tuple[str, ...]] = {"kiosk": (), "display": ("espeak-ng", "sox"), "pad": ()}


def apt_packages(role: str) -> tuple[str, ...]:
    return COMMON_APT + ROLE_APT.get(role, ())


@dataclass
class Bundle:
    """A node's files (relative path -> bytes), ready to be written to a folder or a boot partition."""

    node: str
    role: str
    files: dict[str, bytes] = field(default_factory=dict)

    def write_to(self, directory: Path) -> list[Path]:
        written = []
        for rel, data in sorted(self.files.items()):
            p = directory / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            if rel.endswith((".key", "mqtt-password", "enroll-token")):
                p.chmod(0o600)
            elif rel.endswith(".sh"):
                p.chmod(0o755)
            written.append(p)
        return written

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.files.values())


def unit_name(role: str) -> str:
    return f"cherga-{role}.service"


def node_config(inv: Inventory, node: InventoryNode, secrets: NodeSecrets, *, tls: bool, client_cert: bool) -> dict[str, Any]:
    """The node's ``node.yaml`` as a dict: the one place that knows the node runtime's file format.

    Paths are relative to the file, so the same text works in the bundle and in ``/etc/cherga``.
    """
    broker: dict[str, Any] = {
        "host": inv.broker.host,
        "port": inv.broker.node_port,
        "username": secrets.username,
        "password_file": "mqtt-password",
    }
    if tls:
        broker["tls"] = {"ca_file": "tls/ca.crt"}
        if client_cert:
            broker["tls"].update(cert_file="tls/node.crt", key_file="tls/node.key")
    cfg: dict[str, Any] = {"node": node.id, "role": node.role, "office": inv.office}
    if node.counter:
        cfg["counter"] = node.counter
    cfg["broker"] = broker
    cfg["data_dir"] = DATA_DIR
    cfg["timezone"] = inv.timezone  # the node refuses to start without data for it (never silently UTC)
    if node.hardware:
        cfg["hardware"] = dict(node.hardware)
    return cfg


def validate_node_config(text: str, source: str) -> None:
    """Check ``node.yaml`` with the node runtime's own parser, when it is installed here."""
    try:
        from cherga.firmware_host.config import parse_node_config
    except ImportError:  # pragma: no cover - the runtime ships in the same wheel
        return
    parse_node_config(text, source)


def unit_file(role: str) -> str:
    """The role's systemd unit, as the node runtime renders it, started from the current A/B slot,
    with the update trial's gate before it (firmware_host.updater.units)."""
    from cherga.firmware_host.systemd import render_unit
    from cherga.firmware_host.updater.units import with_gate

    return with_gate(render_unit(role, f"{CONFIG_DIR}/node.yaml", cherga=f"{AB_ROOT}/current/bin/cherga"),
                     root=AB_ROOT, health=f"{DATA_DIR}/health.json")


def update_unit_files(role: str) -> dict[str, str]:
    """The update trial and update services and timers for the card (firmware_host.updater.units)."""
    from cherga.firmware_host.updater.units import update_units

    return update_units(role, f"{CONFIG_DIR}/node.yaml", root=AB_ROOT, health=f"{DATA_DIR}/health.json")


def firstboot_script(node: InventoryNode, secrets: NodeSecrets) -> str:
    """Runs once, as root, on the node: install from the bundle's wheels, configure, enable the role.

    It does not enroll: it hands the one-time token to the node service (``<data>/enroll-token``,
    mode 0600, owner ``cherga``), which sends it to the server on its first connection
    (:mod:`firmware_host.enrollment`). The token, the broker password and the TLS key then leave
    the FAT partition (anyone can read an SD card's boot partition in any laptop).
    """
    unit = unit_name(node.role)
    return f"""#!/bin/bash
# Cherga first boot for node {node.id} ({node.role}). Generated by `cherga provision`; do not edit.
# Usage: firstboot.sh [start|enable-only].
# CHERGA_ROOT=<dir> runs it against a fake root (tests): every path below goes under it, systemctl
# gets --root (enable works without a running systemd) and nothing is started.
set -euo pipefail
BUNDLE="$(cd "$(dirname "$0")" && pwd)"
NODE={shlex.quote(node.id)}
ROLE={shlex.quote(node.role)}
EXTRA={shlex.quote(ROLE_EXTRA[node.role])}
UNIT={shlex.quote(unit)}
TOKEN_SHA256={secrets.token_sha256}
ROOT="${{CHERGA_ROOT:-}}"
ETC="${{CHERGA_ETC:-$ROOT{CONFIG_DIR}}}"
VENV="${{CHERGA_VENV:-$ROOT{INSTALL_DIR}}}"
DATA="${{CHERGA_DATA:-$ROOT{DATA_DIR}}}"
UNIT_DIR="${{CHERGA_UNIT_DIR:-$ROOT/etc/systemd/system}}"
MODE="${{1:-start}}"
SYSTEMCTL=(systemctl)
if [ -n "$ROOT" ]; then SYSTEMCTL=(systemctl --root="$ROOT"); MODE=enable-only; fi
exec >>"${{CHERGA_LOG:-$ROOT/var/log/cherga-firstboot.log}}" 2>&1
echo "$(date -Is) cherga first boot: node $NODE, role $ROLE"

if [ -f "$ETC/firstboot.done" ]; then
    echo "already set up ($ETC/firstboot.done); nothing to do"
    exit 0
fi
cd "$BUNDLE"
if ! sha256sum --check --quiet SHA256SUMS; then
    echo "the bundle is damaged (SHA256SUMS does not match); write the card again"
    exit 1
fi
if [ "$(tr -d '\n' <enroll-token | sha256sum | cut -d' ' -f1)" != "$TOKEN_SHA256" ]; then
    echo "the enrollment token does not belong to this bundle; re-run cherga provision"
    exit 1
fi

# What the role needs from Debian. Packages already on the image need no network; the others
# come from the card's debs/ folder when it has one, else from the network (Bookworm's first run has
# none yet: then the log and, for the voice, the hall manager's alert say what is missing).
export DEBIAN_FRONTEND=noninteractive
PACKAGES=({" ".join(apt_packages(node.role))})
DEBS=()
if [ -d debs ]; then DEBS=("$BUNDLE"/debs/*.deb); fi
if apt-get install -y --no-install-recommends "${{DEBS[@]}}" "${{PACKAGES[@]}}" \
    || {{ apt-get update && apt-get install -y --no-install-recommends "${{PACKAGES[@]}}"; }}; then
    echo "Debian packages in place: ${{PACKAGES[*]}}"
else
    echo "WARNING: could not install ${{PACKAGES[*]}} (no network?); install them later:" \
         "apt-get install ${{PACKAGES[*]}}"
fi

getent group cherga >/dev/null || groupadd --system cherga
id cherga >/dev/null 2>&1 || useradd --system --gid cherga --home-dir {DATA_DIR} --shell /usr/sbin/nologin cherga
for g in gpio dialout video audio render input i2c spi lp; do
    if getent group "$g" >/dev/null; then usermod -aG "$g" cherga; fi
done
install -d -o cherga -g cherga -m 0750 "$DATA"

# Install from the wheels in the bundle: no internet needed. Debian's python3 may lack ensurepip,
# so the venv is made without pip and pip runs from its own wheel when the bundle carries one.
python3 -m venv --system-site-packages --without-pip "$VENV"
PIP_WHEEL="$(ls wheels/pip-*.whl 2>/dev/null | head -n1 || true)"
if [ -n "$PIP_WHEEL" ]; then
    "$VENV/bin/python" "$BUNDLE/$PIP_WHEEL/pip" install --no-index --find-links "$BUNDLE/wheels" "cherga[$EXTRA]"
else
    "$VENV/bin/python" -m pip install --no-index --find-links "$BUNDLE/wheels" "cherga[$EXTRA]"
fi

# The A/B layout of signed updates (docs/updates.md): this install is slot-a, `current` points at
# it; the office's update trust anchor goes to tuf/root.json when the card carries one.
ANCHOR=()
TIMERS=(cherga-trial.timer)
if [ -f update-root.json ]; then ANCHOR=(--anchor "$BUNDLE/update-root.json"); TIMERS+=(cherga-update.timer); fi
"$VENV/bin/python" -m cherga.firmware_host.updater.slots adopt --root "$(dirname "$VENV")" \
    --slot "$(basename "$VENV")" "${{ANCHOR[@]}}"

install -d -o root -g cherga -m 0750 "$ETC"
install -o root -g cherga -m 0640 node.yaml mqtt-password "$ETC/"
if [ -d tls ]; then
    install -d -o root -g cherga -m 0750 "$ETC/tls"
    install -o root -g cherga -m 0640 tls/* "$ETC/tls/"
fi
# The one-time token, for the node service to send on its first connection (it deletes it then).
install -o cherga -g cherga -m 0600 enroll-token "$DATA/enroll-token"
install -d -m 0755 "$UNIT_DIR"
install -o root -g root -m 0644 "$UNIT" "$UNIT_DIR/$UNIT"
for u in cherga-trial.service cherga-trial.timer cherga-update.service cherga-update.timer; do
    install -o root -g root -m 0644 "$u" "$UNIT_DIR/$u"
done
if [ -z "$ROOT" ]; then systemctl daemon-reload || true; fi
"${{SYSTEMCTL[@]}}" enable "$UNIT" "${{TIMERS[@]}}"

# Take the secrets off the FAT partition, then remember that this ran.
rm -f enroll-token mqtt-password tls/node.key
date -Is > "$ETC/firstboot.done"
sync
if [ "$MODE" = start ]; then
    systemctl start --no-block "$UNIT" "${{TIMERS[@]}}"
fi
echo "$(date -Is) cherga first boot done: $UNIT enabled; it enrolls with the server when it connects"
"""


def build_bundle(
    inv: Inventory,
    node: InventoryNode,
    secrets: NodeSecrets,
    *,
    ca: SiteCA | None = None,
    wheels: Iterable[Path] = (),
    update_root: bytes | None = None,
) -> Bundle:
    """Everything a node needs on its SD card, under the bundle folder's relative paths.

    ``update_root``: the office's update trust anchor (``1.root.json`` of ``cherga provision
    updates``); without it the node runs but takes no updates until one is put in place.
    """
    tls = inv.broker.tls is not None
    if tls and ca is None:
        raise ValueError("the inventory asks for TLS: give the site CA")
    client_cert = bool(inv.broker.tls and ca is not None)
    files: dict[str, bytes] = {}
    cfg_text = "# Cherga node configuration, generated by `cherga provision`.\n" + yaml.safe_dump(
        node_config(inv, node, secrets, tls=tls, client_cert=client_cert), sort_keys=False, allow_unicode=True)
    validate_node_config(cfg_text, f"bundle {node.id}/node.yaml")
    files["node.yaml"] = cfg_text.encode()
    files["mqtt-password"] = (secrets.password + "\n").encode()
    files["enroll-token"] = (secrets.token + "\n").encode()
    if tls and ca is not None:
        files["tls/ca.crt"] = ca.cert_pem
        issued = ca.issue(secrets.username)
        files["tls/node.crt"] = issued.cert_pem
        files["tls/node.key"] = issued.key_pem
    wheel_names = []
    for w in wheels:
        files[f"wheels/{w.name}"] = w.read_bytes()
        wheel_names.append(w.name)
    files["firstboot.sh"] = firstboot_script(node, secrets).encode()
    files[unit_name(node.role)] = unit_file(node.role).encode()
    for name, text in update_unit_files(node.role).items():
        files[name] = text.encode()
    if update_root is not None:
        files["update-root.json"] = update_root
    manifest = {
        "office": inv.office,
        "node": node.id,
        "role": node.role,
        "counter": node.counter,
        "hostname": node.host_name,
        "username": secrets.username,
        "token_sha256": secrets.token_sha256,
        "issued_at": secrets.issued_at,
        "wheels": sorted(wheel_names),
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2) + "\n").encode()
    files["SHA256SUMS"] = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, data in sorted(files.items())).encode()
    return Bundle(node=node.id, role=node.role, files=files)


# --- first-boot hooks of Raspberry Pi OS ---------------------------------------------------------

def _script_path() -> str:
    return f"{BOOT_MOUNT}/{BUNDLE_DIR}/firstboot.sh"


def network_config(net: Network) -> dict[str, Any]:
    """cloud-init network config (version 2, netplan-style) as Raspberry Pi Imager writes it."""
    iface: dict[str, Any] = {"optional": True}
    if net.dhcp:
        iface["dhcp4"] = True
    else:
        iface["dhcp4"] = False
        iface["addresses"] = [net.address]
        if net.gateway:
            iface["routes"] = [{"to": "default", "via": net.gateway}]
        if net.dns:
            iface["nameservers"] = {"addresses": list(net.dns)}
    network: dict[str, Any] = {"version": 2}
    if net.wifi:
        wifi = dict(iface)
        wifi["regulatory-domain"] = net.wifi.country
        ap: dict[str, Any] = {"password": net.wifi.psk}
        if net.wifi.hidden:
            ap["hidden"] = True
        wifi["access-points"] = {net.wifi.ssid: ap}
        network["wifis"] = {"wlan0": wifi}
        network["ethernets"] = {"eth0": {"dhcp4": True, "optional": True}}
    else:
        network["ethernets"] = {"eth0": iface}
    return {"network": network}


def user_data(inv: Inventory, node: InventoryNode) -> dict[str, Any]:
    data: dict[str, Any] = {
        "hostname": node.host_name,
        "manage_etc_hosts": True,
        "timezone": inv.timezone,
    }
    if inv.admin:
        data["users"] = [{
            "name": inv.admin.user, "groups": "users,adm,dialout,audio,video,plugdev,sudo,gpio",
            "shell": "/bin/bash", "lock_passwd": True, "sudo": "ALL=(ALL) NOPASSWD:ALL",
            "ssh_authorized_keys": list(inv.admin.ssh_keys),
        }]
        data["ssh_pwauth"] = False
        data["runcmd"] = [["systemctl", "enable", "--now", "ssh"]]
    data.setdefault("runcmd", []).append(["bash", _script_path(), "start"])
    return data


def _nm_connection(net: Network) -> str:
    """A NetworkManager keyfile for Bookworm (it manages the network there)."""
    name = "cherga-wifi" if net.wifi else "cherga-ethernet"
    lines = ["[connection]", f"id={name}", f"type={'wifi' if net.wifi else 'ethernet'}",
             f"interface-name={'wlan0' if net.wifi else 'eth0'}", "autoconnect=true", ""]
    if net.wifi:
        lines += ["[wifi]", "mode=infrastructure", f"ssid={net.wifi.ssid}",
                  f"hidden={'true' if net.wifi.hidden else 'false'}", "",
                  "[wifi-security]", "key-mgmt=wpa-psk", f"psk={net.wifi.psk}", ""]
    if net.dhcp:
        lines += ["[ipv4]", "method=auto", ""]
    else:
        lines += ["[ipv4]", "method=manual", f"address1={net.address}" + (f",{net.gateway}" if net.gateway else "")]
        if net.dns:
            lines.append("dns=" + "".join(f"{d};" for d in net.dns))
        lines.append("")
    lines += ["[ipv6]", "method=auto", ""]
    return "\n".join(lines)


def firstrun_script(inv: Inventory, node: InventoryNode) -> str:
    """Bookworm's first-boot hook (run once from ``cmdline.txt``, then removed), Imager-style."""
    net = inv.network_of(node)
    host = node.host_name
    out = [
        "#!/bin/bash",
        f"# Cherga first run for node {node.id}. Generated by `cherga provision`; removes itself.",
        "set +e",
        # The FAT partition is /boot/firmware on Bookworm, /boot before it: find it rather than assume.
        f"BOOT={BOOT_MOUNT}",
        '[ -f "$BOOT/cmdline.txt" ] || BOOT=/boot',
        "CURRENT_HOSTNAME=$(tr -d ' \\t\\n\\r' </etc/hostname)",
        f"echo {shlex.quote(host)} >/etc/hostname",
        f"sed -i \"s/127.0.1.1.*$CURRENT_HOSTNAME/127.0.1.1\\t{host}/g\" /etc/hosts",
        f"ln -sf /usr/share/zoneinfo/{inv.timezone} /etc/localtime",
        f"echo {shlex.quote(inv.timezone)} >/etc/timezone",
    ]
    if net.wifi or not net.dhcp:
        name = "cherga-wifi" if net.wifi else "cherga-ethernet"
        path = f"/etc/NetworkManager/system-connections/{name}.nmconnection"
        out += [f"cat >{path} <<'CHERGA_NM'", _nm_connection(net).rstrip("\n"), "CHERGA_NM", f"chmod 600 {path}"]
    if net.wifi:
        out += ["rfkill unblock wifi 2>/dev/null",
                f"raspi-config nonint do_wifi_country {net.wifi.country} 2>/dev/null || true",
                "for f in /var/lib/systemd/rfkill/*:wlan; do echo 0 >\"$f\"; done 2>/dev/null"]
    if inv.admin:
        u = inv.admin.user
        keys = "\n".join(inv.admin.ssh_keys)
        out += [f"id {u} >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo,adm,dialout,audio,video,plugdev {u}",
                f"install -d -o {u} -g {u} -m 700 /home/{u}/.ssh",
                f"cat >/home/{u}/.ssh/authorized_keys <<'CHERGA_KEYS'", keys, "CHERGA_KEYS",
                f"chown {u}:{u} /home/{u}/.ssh/authorized_keys", f"chmod 600 /home/{u}/.ssh/authorized_keys",
                "systemctl enable ssh",
                "systemctl disable userconfig.service 2>/dev/null; systemctl enable getty@tty1 2>/dev/null"]
    out += [
        # No network yet at this point of boot: the first-boot script only installs and enables.
        f'bash "$BOOT/{BUNDLE_DIR}/firstboot.sh" enable-only',
        'rm -f "$BOOT/firstrun.sh"',
        "sed -i 's| systemd.run.*||g' \"$BOOT/cmdline.txt\"",
        "exit 0",
    ]
    return "\n".join(out) + "\n"


#: Exactly what Raspberry Pi Imager appends for Bookworm images (its path is /boot/firstrun.sh even where the
#: FAT partition is mounted at /boot/firmware; Raspberry Pi OS keeps Imager's hook working).
FIRSTRUN_HOOK = " systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target"


def unhooked_cmdline(cmdline: str) -> str:
    """``cmdline.txt`` without a first-run hook (what ``firstrun.sh`` itself does when it is done)."""
    line = cmdline.strip().split("\n")[0]
    return line.split(" systemd.run")[0].rstrip() + "\n"


def hooked_cmdline(cmdline: str) -> str:
    """``cmdline.txt`` with the first-run hook (once, on its single line)."""
    return unhooked_cmdline(cmdline).rstrip("\n") + FIRSTRUN_HOOK + "\n"


def boot_files(inv: Inventory, node: InventoryNode, flavour: Flavour, *, instance: str) -> dict[str, bytes]:
    """Files for the boot partition's root that make Raspberry Pi OS run the bundle on first boot.

    For ``firstrun`` the caller must also rewrite ``cmdline.txt`` with :func:`hooked_cmdline`.
    """
    if flavour == "cloud-init":
        dump = lambda d: yaml.safe_dump(d, sort_keys=False, allow_unicode=True)  # noqa: E731
        return {
            # A new instance id makes cloud-init run again on a card that has booted before.
            "meta-data": dump({"instance-id": f"cherga-{node.id}-{instance}"}).encode(),
            "user-data": ("#cloud-config\n" + dump(user_data(inv, node))).encode(),
            "network-config": dump(network_config(inv.network_of(node))).encode(),
        }
    return {"firstrun.sh": firstrun_script(inv, node).encode()}


# --- the server's side ---------------------------------------------------------------------------

#: The files install.sh puts into the broker's folder, readable by the ``mosquitto`` user only.
BROKER_SECRET_FILES = ("passwd", "acl", "tls/ca.crt", "tls/server.crt", "tls/server.key", "tls/crl.pem")


def broker_install_script(conf_dir: str, include_dir: str, files: Iterable[str]) -> str:
    """``install.sh``, run as root on the broker host from the copied folder.

    Mosquitto 2.0 reads the password and ACL files after it has dropped to the user ``mosquitto``:
    a root-owned 0600 file stops it ("Unable to open pwfile"), a world-readable one leaks the
    hashes; so they go in as ``mosquitto:mosquitto`` 0640 (what later Mosquitto versions ask for).
    ``cherga.conf`` goes into Debian's ``conf.d`` beside the stock ``mosquitto.conf``.
    """
    names = " ".join(shlex.quote(f) for f in files)
    return f"""#!/bin/sh
# Install Cherga's broker files on the broker host. Generated by `cherga provision`; do not edit.
# Run as root from the folder the files were copied to: sudo sh install.sh [--no-restart]
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
CONF_DIR={shlex.quote(conf_dir)}
INCLUDE_DIR={shlex.quote(include_dir)}
if ! id mosquitto >/dev/null 2>&1; then
    echo "no user mosquitto: install Mosquitto first (apt-get install mosquitto)" >&2
    exit 1
fi
install -d -o root -g mosquitto -m 0750 "$CONF_DIR"
cd "$HERE"
for f in {names}; do
    [ -f "$f" ] || continue
    install -d -o root -g mosquitto -m 0750 "$CONF_DIR/$(dirname "$f")"
    install -o mosquitto -g mosquitto -m 0640 "$f" "$CONF_DIR/$f"
done
install -d -m 0755 "$INCLUDE_DIR"
install -o root -g root -m 0644 cherga.conf "$INCLUDE_DIR/cherga.conf"
echo "installed into $CONF_DIR and $INCLUDE_DIR/cherga.conf"
if [ "${{1:-}}" != --no-restart ]; then
    # A restart, not a reload: Mosquitto opens new listeners only when it starts.
    systemctl restart mosquitto
    systemctl --no-pager --lines=5 status mosquitto
fi
"""


def server_files(inv: Inventory, state: SiteState, *, ca: SiteCA | None = None,
                 conf_dir: str = "/etc/mosquitto/cherga",
                 include_dir: str = "/etc/mosquitto/conf.d",
                 previous_passwd: Mapping[str, str] | None = None) -> dict[str, bytes]:
    """The office broker's files for every node that holds credentials and is not revoked.

    ``previous_passwd``: the hashes of the ``passwd`` written before; users whose password did not
    change keep theirs, so a rerun writes the same ``passwd``.

    ``cherga.conf`` is for ``include_dir`` beside the stock ``mosquitto.conf``, ``mosquitto.conf``
    for a broker of its own (``mosquitto -c``); ``install.sh`` puts them in place with the owner
    and mode Mosquitto needs.
    """
    active = {s.node: s for s in state.active()}
    nodes = [n for n in inv.nodes if n.id in active]
    creds = {user: state.server_password for user in inv.server_usernames}
    creds.update({active[n.id].username: active[n.id].password for n in nodes})
    tls_files = None
    files: dict[str, bytes] = {}
    if inv.broker.tls is not None:
        if ca is None:
            raise ValueError("the inventory asks for TLS: give the site CA")
        issued = ca.issue(inv.broker.host, server_names=[inv.broker.host])
        files["tls/ca.crt"] = ca.cert_pem
        files["tls/server.crt"] = issued.cert_pem
        files["tls/server.key"] = issued.key_pem
        # The certificates of revoked nodes (and of cards whose credentials were rotated): with the
        # certificate's name as the user, Mosquitto never reads the password file on this listener, so
        # only the CRL shuts a revoked node's card out (tests/provisioning/test_tls_default.py).
        files["tls/crl.pem"] = ca.crl(state.crl_entries(dt.datetime.now(dt.UTC)))
        # The office server's HTTPS certificate (cherga server --tls-cert/--tls-key), for the same host:
        # the office server runs beside the broker. Browsers trust it once the site CA is installed.
        https = ca.issue(inv.broker.host, server_names=[inv.broker.host])
        files["https/office.crt"] = https.cert_pem + ca.cert_pem  # the chain: leaf, then the site CA
        files["https/office.key"] = https.key_pem
        files["https/ca.crt"] = ca.cert_pem
        tls_files = TlsFiles(f"{conf_dir}/tls/ca.crt", f"{conf_dir}/tls/server.crt", f"{conf_dir}/tls/server.key",
                             require_certificate=inv.broker.tls.require_certificate, crlfile=f"{conf_dir}/tls/crl.pem")
    # Under TLS the plain listener stays for the office server beside the broker, on loopback only,
    # unless the inventory opens it to the hall (tls.plain_listener) or turns TLS off (tls: false).
    plain_bind = "127.0.0.1" if (inv.broker.tls and not inv.broker.tls.plain_listener) else None
    for name, fragment in (("mosquitto.conf", False), ("cherga.conf", True)):
        files[name] = render_mosquitto_conf(
            password_file=f"{conf_dir}/passwd", acl_file=f"{conf_dir}/acl", port=inv.broker.port, tls=tls_files,
            plain_bind=plain_bind, tls_port=inv.broker.tls.port if inv.broker.tls else 8883,
            fragment=fragment).encode()
    files["passwd"] = render_password_file(creds, keep=previous_passwd).encode()
    files["acl"] = render_acl(inv.office, nodes, inv.server_usernames).encode()
    server_creds: dict[str, Any] = {"username": inv.server_username, "password": state.server_password}
    if inv.server_instances > 1:
        # Instance N of `cherga server --instance` connects as the N-th user (CHERGA_MQTT_USER).
        server_creds["instance_usernames"] = inv.server_usernames
    files["server-credentials.yaml"] = yaml.safe_dump(server_creds).encode()
    files["enrollment.json"] = (json.dumps({
        "office": inv.office,
        "nodes": {s.node: {"username": s.username, "token_sha256": s.token_sha256, "issued_at": s.issued_at}
                  for s in active.values()},
        "revoked": state.revoked,
    }, indent=2) + "\n").encode()
    files["install.sh"] = broker_install_script(
        conf_dir, include_dir, [f for f in BROKER_SECRET_FILES if f in files]).encode()
    return files
