"""`cherga server --region FILE --mqtt-region HOST:PORT` as the app runs it (server/region/link.py): the
intake starts with the app, is ``app.state.region_link``, and its refusals show in /metrics."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import EventBatch, LoggedEvent
from cherga.server.app import create_app
from cherga.server.region.link import intake_hooks, region_offices, uplink_hooks
from tests.region.conftest import RegionRig
from tests.region.test_upload import _client, region_events
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import wait_until


def test_the_region_server_stores_uploads_and_counts_what_it_refuses(region_rig: RegionRig,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rig = region_rig
    monkeypatch.setenv("CHERGA_REGION_CREDENTIALS", str(rig.files.broker_dir / "region-credentials.yaml"))
    # kr-mobile's broker is bridged, but this region server runs it itself: an upload for it is refused
    offices = [o.model_copy(update={"served_by": "region"}) if o.id == "kr-mobile" else o for o in rig.region.file.offices]
    region = dataclasses.replace(rig.region, file=rig.region.file.model_copy(update={"offices": offices}))
    start, stop = intake_hooks(region, f"127.0.0.1:{rig.region_broker.port}")
    north, mobile = rig.offices["kr-north"], rig.offices["kr-mobile"]
    # kr-north's own server: `cherga server -c kr-north.yaml --uplink 127.0.0.1:PORT --uplink-credentials FILE`
    up_start, up_stop = uplink_hooks([north.service.config], f"127.0.0.1:{north.broker.port}",
                                     rig.files.office_dirs["kr-north"] / "uplink-credentials.yaml")
    office_app = create_app(north.service.config, "", store=north.store, sweep_interval=None, on_start=[up_start],
                            on_stop=[up_stop])
    app = create_app(region.served_here, "", store=rig.region_store, sweep_interval=None, on_start=[start],
                     on_stop=[stop])
    with TestClient(app) as client, TestClient(office_app):
        intake = client.app.state.region_link  # type: ignore[attr-defined]
        assert intake.wait_listening()
        north.day(5)
        mobile.day(5)
        from cherga.server.region.uplink import Uplink

        up = Uplink(mobile.store, mobile.id, "127.0.0.1", mobile.broker.port, username=mobile.uplink_user,
                    password=mobile.uplink_password, poll_s=0.1).start()
        try:
            wait_until(lambda: region_events(rig, north.id) == north.own_events() or None, what="kr-north's log")
            wait_until(lambda: intake.stats.refused["unknown_office"] or None, what="kr-mobile's upload refused")
            assert region_events(rig, mobile.id) == []
        finally:
            up.stop()
        # a batch on kr-north's topic that says it is kr-mobile's: refused, nothing stored
        forger = _client(rig.region_broker.port, "kr-north.bridge", _secret(rig, "kr-north.bridge"))
        try:
            subscribe_and_wait(forger, contract.topic("region_ack", north.id), retained=False)
            now = dt.datetime.now(dt.UTC)
            forged = EventBatch(office=mobile.id, after=0, sent_at=now, events=[LoggedEvent(seq=1, kind="issued", at=now)])
            forger.publish(contract.topic("region_events", north.id), forged.to_bytes(), qos=1).wait_for_publish(5)
            wait_until(lambda: intake.stats.refused["office_mismatch"] or None, what="the mismatched batch refused")
        finally:
            forger.disconnect()
            forger.loop_stop()
        metrics = client.get("/metrics").text
        assert 'cherga_region_refused_total{reason="office_mismatch"} 1.0' in metrics
        assert 'cherga_region_refused_total{reason="unknown_office"}' in metrics
        assert f"cherga_region_events_stored_total {float(len(north.own_events()))}" in metrics
    assert region_events(rig, mobile.id) == []


def _secret(rig: RegionRig, user: str) -> str:
    import yaml

    return str(yaml.safe_load((rig.files.broker_dir.parent / "secrets.yaml").read_text())[user])


def test_a_region_file_with_nothing_to_serve_stops_with_one_line(tmp_path: Path) -> None:
    import shutil

    from tests.region.conftest import REPO

    shutil.copytree(REPO / "examples" / "region", tmp_path / "r")
    text = (tmp_path / "r" / "region.yaml").read_text(encoding="utf-8").replace("served_by: region", "served_by: own")
    (tmp_path / "r" / "region.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        region_offices(tmp_path / "r" / "region.yaml", [])
    assert "has no office served_by: region" in str(info.value) and "\n" not in str(info.value)
    region, served = region_offices(REPO / "examples" / "region" / "region.yaml", [])
    assert [cfg.office.id for _, cfg in served] == ["kr-central"] and region.file.region.id == "kryvyi-rih"
