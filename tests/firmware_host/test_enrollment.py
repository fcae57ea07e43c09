"""A provisioned node enrolls once with its card's token, on a real Mosquitto against the real bridge."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.broker_bridge.bridge import Bridge
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.enrollment import Enroller
from cherga.firmware_host.session import NodeSession
from cherga.server.service import OfficeService
from tests.bridge.conftest import make_service, site_config
from tests.bridge.test_enrollment import _write_list
from tests.firmware_host.test_session import node_config, session
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.mosquitto
TOKEN = "pad-c1-card-token-xyzxyz"


@pytest.fixture
def office(tmp_path: Path) -> tuple[str, OfficeService, Path]:
    office_id = f"e{int(time.time() * 1000) % 10**9}"
    listing = _write_list(tmp_path / "enrollment.json", office_id, {"pad-c1": TOKEN})
    config = site_config(office_id).model_copy(update={"enrollment_file": listing})
    return office_id, make_service(config, tmp_path / "office.db"), listing


@pytest.fixture
def nodes() -> Iterator[list[tuple[NodeSession, Enroller]]]:
    made: list[tuple[NodeSession, Enroller]] = []
    yield made
    for s, e in made:
        e.stop()
        s.close()


def _card(data_dir: Path, token: str = TOKEN) -> Path:
    """What first boot leaves for the node service: the token in the data folder, owner-only."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "enroll-token").write_text(token + "\n")
    (data_dir / "enroll-token").chmod(0o600)
    return data_dir


def _start(cfg: NodeConfig, made: list[tuple[NodeSession, Enroller]], **kw: float) -> Enroller:
    s = session(cfg)
    enroller = Enroller(s, cfg, backoff=(kw.get("first", 0.2), 1.0), timeout=kw.get("timeout", 3.0)).attach()
    made.append((s, enroller))
    s.start()
    return enroller


def test_a_node_enrolls_on_connecting_keeps_a_receipt_and_deletes_the_token(
        mosquitto: Broker, office: tuple[str, OfficeService, Path], tmp_path: Path,
        nodes: list[tuple[NodeSession, Enroller]]) -> None:
    office_id, service, _ = office
    bridge = Bridge(service, mosquitto.host, mosquitto.port, config=service.config).start()
    try:
        data = _card(tmp_path / "pad")
        cfg = node_config(mosquitto.port, node="pad-c1", role="pad", counter="c1", office=office_id, data_dir=data)
        enroller = _start(cfg, nodes)
        assert enroller.done.wait(8), "no enrollment answer"
        assert enroller.state == "enrolled" and enroller.attempts == 1
        receipt = json.loads((data / "enrollment.json").read_text())
        assert receipt["token_sha256"] == hashlib.sha256(TOKEN.encode()).hexdigest()
        assert (data / "enrollment.json").stat().st_mode & 0o777 == 0o600
        assert not (data / "enroll-token").exists() and not (data / "enroll-request").exists()
        assert bridge.node_overview()["pad-c1"]["enrollment"] == "enrolled"
    finally:
        bridge.stop()


def test_a_cloned_card_is_refused_once_logged_and_not_retried(
        mosquitto: Broker, office: tuple[str, OfficeService, Path], tmp_path: Path,
        nodes: list[tuple[NodeSession, Enroller]], caplog: pytest.LogCaptureFixture) -> None:
    office_id, service, _ = office
    bridge = Bridge(service, mosquitto.host, mosquitto.port, config=service.config).start()
    try:
        original = _card(tmp_path / "original")
        clone = tmp_path / "clone"
        shutil.copytree(original, clone)  # the card copied before its first boot
        cfg = node_config(mosquitto.port, node="pad-c1", role="pad", counter="c1", office=office_id, data_dir=original)
        first = _start(cfg, nodes)
        assert first.done.wait(8) and first.state == "enrolled"
        nodes.pop()[0].close()

        caplog.set_level(logging.ERROR, logger="cherga.firmware_host.enrollment")
        second = _start(cfg.model_copy(update={"data_dir": clone}), nodes)
        assert second.done.wait(8), "no answer to the clone"
        assert second.state == "refused" and second.refusal is not None and second.refusal[0] == "token_spent"
        assert "enrollment REFUSED by the server: token_spent" in caplog.text
        time.sleep(1.0)  # longer than the backoff: a final refusal is not retried
        assert second.attempts == 1 and bridge.metrics.refused["token_spent"] == 1
        assert (clone / "enroll-token").exists() and not (clone / "enrollment.json").exists()
    finally:
        bridge.stop()


def test_enrollment_retries_with_backoff_until_the_server_answers(
        mosquitto: Broker, office: tuple[str, OfficeService, Path], tmp_path: Path,
        nodes: list[tuple[NodeSession, Enroller]]) -> None:
    office_id, service, _ = office
    data = _card(tmp_path / "pad")
    cfg = node_config(mosquitto.port, node="pad-c1", role="pad", counter="c1", office=office_id, data_dir=data)
    enroller = _start(cfg, nodes, timeout=0.3, first=0.1)
    time.sleep(1.5)  # the broker is up, the server is not: requests go unanswered
    assert enroller.state == "pending" and enroller.attempts >= 2
    request_id = (data / "enroll-request").read_text().strip()
    bridge = Bridge(service, mosquitto.host, mosquitto.port, config=service.config).start()
    try:
        assert enroller.done.wait(8) and enroller.state == "enrolled"
        assert json.loads((data / "enrollment.json").read_text())["request"] == request_id  # one id throughout
    finally:
        bridge.stop()


def test_a_node_without_a_token_sends_nothing(mosquitto: Broker, tmp_path: Path,
                                              nodes: list[tuple[NodeSession, Enroller]]) -> None:
    cfg = node_config(mosquitto.port, data_dir=tmp_path / "k1")
    enroller = _start(cfg, nodes)
    assert nodes[0][0].wait_connected(5)
    time.sleep(0.3)
    assert enroller.state == "no_token" and enroller.attempts == 0
