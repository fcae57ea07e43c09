"""Back home, the bus's day goes to the region exactly once, and its booking conflict shows (issue 21).

Real parts throughout: the region's PostgreSQL and Mosquitto from `cherga region provision`'s files
(``region_rig``), the region intake, and the kit itself (``cherga mobile run --region-bridge``: its
Mosquitto bridged to the region, the server with its uplink). Before it leaves, the bus copies the
home office's bookings out of the region's database (``cherga mobile load-bookings``). All day the
regional broker is out of reach; a kiosk over the kit's broker issues tickets and checks a citizen in
under a home booking code; the power goes at the village. At home the kit is powered on again: the
region then holds the bus's log once and in order, still once after another ``kill -9`` and restart,
and ``cherga region conflicts`` on the region's database names the booking served on the bus.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml

from cherga.broker_bridge import contract
from cherga.server.db import schema
from cherga.server.region.intake import Intake
from cherga.server.service import OfficeService
from cherga.server.siteconfig import load_site_config
from cherga.server.store import Store, sqlite_url
from tests.region.conftest import RegionRig
from tests.support.mosquitto import free_port
from tests.support.wait import wait_until

ALL_DAY = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ENV = {**os.environ, "CHERGA_LOG_LEVEL": "WARNING"}


def _round_the_clock(src: Path, dst: Path, **extra: Any) -> Path:
    data = yaml.safe_load(src.read_text(encoding="utf-8"))
    data["hours"] = {"days": ALL_DAY, "breaks": []}
    for s in data["services"]:
        s.pop("daily_cap", None)
    data["closing"] = {"warn_walk_ins": False}
    data.update(extra)
    dst.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dst


class Kiosk:
    """The kiosk's side of the kit's broker: each request resent under its id until answered."""

    def __init__(self, port: int) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sim-k1-{uuid.uuid4().hex[:6]}")
        self.client.on_connect = lambda c, *_: c.subscribe(contract.topic("kiosk_response", "kr-mobile", node="k1"), qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        reply = json.loads(msg.payload)
        with self.cond:
            self.answers[reply["id"]] = reply
            self.cond.notify_all()

    def ask(self, route: str, cmd: contract.Command, timeout: float = 90.0) -> dict[str, Any]:
        cid = cmd.id
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
        with self.cond:
            while cid not in self.answers:
                assert dt.datetime.now(dt.UTC) < deadline, f"no answer to {cid}"
                if self.client.is_connected():
                    self.client.publish(contract.topic(route, "kr-mobile", node="k1"), cmd.to_bytes(), qos=1)
                self.cond.wait(1.0)
            return self.answers.pop(cid)

    def issue(self, n: int) -> dict[str, Any]:
        cmd = contract.IssueTicket(id=f"k1-{n}", node="k1", ts=dt.datetime.now(dt.UTC), service="passport")
        reply = self.ask("kiosk_issue", cmd)
        assert reply["status"] == "ok", reply
        return dict(reply["ticket"])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _region_log(store: Store, office: str) -> list[tuple[int, str]]:
    e = schema.events
    with store.reading() as conn:
        rows = conn.execute(e.select().where(e.c.office == office).order_by(e.c.seq)).mappings().all()
    return [(r["origin_seq"], r["kind"]) for r in rows]


def _book_at_home(rig: RegionRig, config: Path) -> str:
    """A citizen books a passport slot at the central office (served by the region: its bookings are
    in the region's database), the first free one from now."""
    home = OfficeService(load_site_config(config), rig.region_store)
    today = home.now().astimezone(home.config.office.tz).date()
    for day in (today, today + dt.timedelta(days=1)):
        slots = home.free_slots("passport", day)
        if slots:
            return home.book_appointment(service="passport", slot=slots[0].start, source="web")
    raise AssertionError("no free slot at the central office today or tomorrow")


@pytest.mark.slow
@pytest.mark.mosquitto
@pytest.mark.postgres
def test_back_home_the_buss_day_reaches_the_region_once_and_its_conflict_is_reported(
        region_rig: RegionRig, tmp_path: Path) -> None:
    rig = region_rig
    src = tmp_path / "region-src"
    home_cfg = _round_the_clock(src / "kr-central.yaml", tmp_path / "kr-central-open.yaml")
    kit_cfg = _round_the_clock(src / "kr-mobile.yaml", tmp_path / "kr-mobile.yaml",
                               nodes=[{"id": "k1", "role": "kiosk"}], appointments={"per_slot": 0})
    office_files = rig.files.office_dirs["kr-mobile"]
    code = _book_at_home(rig, home_cfg)

    # Before it leaves: the home office's bookings onto the bus (from the region's database).
    kit_db = sqlite_url(tmp_path / "kit" / "cherga.db")
    loaded = subprocess.run([sys.executable, "-m", "cherga", "mobile", "load-bookings", "-c", str(kit_cfg),
                             "--home", str(home_cfg), "--home-db", rig.region_store.url, "--db", kit_db, "--days", "2"],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert loaded.returncode == 0 and "1 booking(s) of kr-central copied onto kr-mobile" in loaded.stdout, loaded.stderr

    port, broker_port = free_port(), free_port()
    argv = [sys.executable, "-m", "cherga", "mobile", "run", "-c", str(kit_cfg), "--home", str(home_cfg),
            "--workdir", str(tmp_path / "kit"), "--host", "127.0.0.1", "--port", str(port),
            "--broker-port", str(broker_port), "--region-bridge", str(office_files / "bridge.conf"),
            "--uplink-credentials", str(office_files / "uplink-credentials.yaml")]
    log = tmp_path / "kit.log"

    def start_kit() -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(argv, env=ENV, stdout=out, stderr=subprocess.STDOUT)

    def power_cut(kit: subprocess.Popen[bytes]) -> None:
        os.kill(kit.pid, signal.SIGKILL)  # the kit's parts go with it
        kit.wait(10)

    # The day in the village: the region is out of reach. (The rig's own stand-in broker of kr-mobile
    # goes too: the kit's bridge is the one that speaks for the bus, under the same client id.)
    rig.offices["kr-mobile"].broker.stop()
    rig.region_broker.stop()
    kit = start_kit()
    kiosk = Kiosk(broker_port)
    try:
        labels = [kiosk.issue(n)["label"] for n in range(8)]
        checkin = kiosk.ask("kiosk_checkin", contract.CheckIn(id="k1-c", node="k1", ts=dt.datetime.now(dt.UTC),
                                                              code=code))
        assert checkin["status"] == "ok", checkin
        labels.append(checkin["ticket"]["label"])
    finally:
        kiosk.close()
        power_cut(kit)
    assert _region_log(rig.region_store, "kr-mobile") == []

    # Home: the region is there; the kit is powered on again.
    kit_store = Store(kit_db, migrate=False)
    day = [(e["seq"], e["kind"]) for e in kit_store.events("kr-mobile")]
    assert len(day) >= 9 and [k for _, k in day].count("issued") == 9
    rig.region_broker.start()
    intake = Intake(rig.region_store, ["kr-north", "kr-mobile"], "127.0.0.1", rig.region_broker.port,
                    username=rig.region_user, password=rig.region_password).start()
    try:
        kit = start_kit()
        try:
            wait_until(lambda: len(_region_log(rig.region_store, "kr-mobile")) >= len(day), timeout=90,
                       what=lambda: f"the bus's day in the region:\n{log.read_text(errors='replace')[-2000:]}")
            assert _region_log(rig.region_store, "kr-mobile") == day  # once, in order, the office's own seq
        finally:
            power_cut(kit)
        # Powered on once more (the retained ack says how far the region holds the log): nothing again.
        kit = start_kit()
        kiosk = Kiosk(broker_port)
        try:
            kiosk.issue(100)
            day = [(e["seq"], e["kind"]) for e in kit_store.events("kr-mobile")]
            wait_until(lambda: len(_region_log(rig.region_store, "kr-mobile")) >= len(day), timeout=90,
                       what="the evening ticket in the region")
            assert _region_log(rig.region_store, "kr-mobile") == day
        finally:
            kiosk.close()
            kit.send_signal(signal.SIGTERM)
            kit.wait(30)
    finally:
        intake.stop()
        kit_store.close()
    assert len(labels) == len(set(labels)) and all(850 <= int(label[2:]) <= 919 for label in labels)

    out = subprocess.run([sys.executable, "-m", "cherga", "region", "conflicts", "--db", rig.region_store.url],
                         capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 1, out.stderr
    (line,) = out.stdout.splitlines()
    assert line.startswith(f"{code} (booked at kr-central") and f"kr-mobile: checked in as {labels[-1]}" in line
