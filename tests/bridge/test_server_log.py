"""The server's log tells the technician whether the MQTT bridge reached the broker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cherga.server.app import _start_bridge, create_app
from cherga.server.siteconfig import SiteConfig
from cherga.server.store import sqlite_url
from tests.bridge.conftest import office_clock
from tests.support.mosquitto import Broker, free_port


def _start(site: SiteConfig, tmp_path: Path, address: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    app = create_app(site, sqlite_url(tmp_path / "office.db"), clock=office_clock(), sweep_interval=None)
    start, stop = _start_bridge(address, site, wait=2.0)
    with caplog.at_level(logging.INFO, logger="cherga"):
        start(app)
        try:
            return [r.getMessage() for r in caplog.records if r.name.startswith("cherga.server")]
        finally:
            stop(app)


def test_the_server_does_not_say_connected_while_the_broker_is_down(site: SiteConfig, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    said = _start(site, tmp_path, f"127.0.0.1:{free_port()}", caplog)
    assert not any("connected" in m and "not" not in m for m in said), said
    assert any("not reachable" in m for m in said), said


@pytest.mark.mosquitto
def test_the_server_says_connected_when_the_broker_is_up(mosquitto: Broker, site: SiteConfig, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    said = _start(site, tmp_path, f"{mosquitto.host}:{mosquitto.port}", caplog)
    assert any(m.startswith("MQTT bridge connected") for m in said), said
