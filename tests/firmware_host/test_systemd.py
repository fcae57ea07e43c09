"""sd_notify speaks to a real datagram socket, is silent without one; each role has a unit."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cherga.firmware_host import systemd


def test_notify_sends_the_state_to_the_socket_systemd_names(tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        assert systemd.notify("READY=1", env={"NOTIFY_SOCKET": path})
        assert sock.recv(100) == b"READY=1"


def test_notify_without_systemd_does_nothing() -> None:
    assert systemd.notify("READY=1", env={}) is False


def test_the_watchdog_is_pinged_at_half_its_period() -> None:
    assert systemd.watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert systemd.watchdog_interval_s({}) is None
    assert systemd.watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None


@pytest.mark.parametrize("role", systemd.ROLES)
def test_each_role_has_a_notify_unit_with_a_watchdog(role: str) -> None:
    unit = systemd.render_unit(role, "/etc/cherga/node.yaml", user="cherga")
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "Restart=always" in unit
    assert "ExecStart=/opt/cherga/.venv/bin/cherga node --config /etc/cherga/node.yaml" in unit
    assert "@" not in unit.replace("multi-user", ""), "every placeholder is filled"


def test_an_unknown_role_has_no_unit() -> None:
    with pytest.raises(ValueError):
        systemd.render_unit("toaster", "/x")
