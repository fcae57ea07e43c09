"""systemd integration: ``sd_notify`` (READY, WATCHDOG, STOPPING, STATUS) and the unit per role.

The notify client is the protocol itself (one datagram to ``$NOTIFY_SOCKET``), so a node needs
no extra package; every call is a no-op when ``NOTIFY_SOCKET`` is unset (tests, a terminal).
Units are ``Type=notify`` with a watchdog: a node whose main loop hangs is restarted by systemd.
"""

from __future__ import annotations

import os
import socket
from importlib import resources

ROLES = ("kiosk", "display", "pad")


def notify(state: str, *, env: dict[str, str] | None = None) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``) to systemd. False when not under systemd or it failed."""
    addr = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]  # abstract namespace socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(addr)
            sock.sendall(state.encode())
        return True
    except OSError:
        return False


def ready(status: str = "") -> bool:
    return notify("READY=1" + (f"\nSTATUS={status}" if status else ""))


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    return notify(f"STATUS={text}")


def watchdog_interval_s(env: dict[str, str] | None = None) -> float | None:
    """Half the watchdog period systemd asked for (``WATCHDOG_USEC``), or None without a watchdog."""
    e = env if env is not None else os.environ
    usec = e.get("WATCHDOG_USEC")
    pid = e.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 1e6 / 2
    except ValueError:
        return None


def under_systemd(env: dict[str, str] | None = None) -> bool:
    e = env if env is not None else os.environ
    return bool(e.get("INVOCATION_ID") or e.get("JOURNAL_STREAM"))


def unit_template(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"no unit for role {role!r}; roles: {', '.join(ROLES)}")
    return (resources.files("cherga.firmware_host") / f"cherga-{role}.service").read_text(encoding="utf-8")


def render_unit(role: str, config_path: str, *, user: str = "cherga", cherga: str = "/opt/cherga/.venv/bin/cherga",
                data_dir: str = "/var/lib/cherga") -> str:
    """The unit file for ``role`` on a node, with its config path, user and install paths filled in."""
    return (unit_template(role).replace("@CONFIG@", config_path).replace("@USER@", user)
            .replace("@CHERGA@", cherga).replace("@DATA_DIR@", data_dir))
