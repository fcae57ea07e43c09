"""The upward event log end to end (issue 21), with real parts: two office Mosquittos bridged to a
regional Mosquitto (configs from `cherga region provision`), each office's uplink on its SQLite log,
and the region intake on PostgreSQL. No timed assertions: everything waits with wait_until."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import EventBatch, LoggedEvent, NetworkLoad, UploadAck
from cherga.server.db import schema
from cherga.server.region.eventlog import cursor_of
from cherga.server.region.intake import Intake
from cherga.server.region.uplink import Uplink
from tests.region.conftest import Office, RegionRig
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import wait_until


def region_events(rig: RegionRig, office: str) -> list[tuple[int, str, str | None]]:
    """(office seq, kind, ticket) of ``office``'s events the region holds, in the region's own order."""
    e = schema.events
    with rig.region_store.reading() as conn:
        rows = conn.execute(e.select().where(e.c.office == office).order_by(e.c.seq)).mappings().all()
    return [(r["origin_seq"], r["kind"], r["ticket_id"]) for r in rows]


def start_uplink(rig: RegionRig, office: Office, **kw: object) -> Uplink:
    return Uplink(office.store, office.id, "127.0.0.1", office.broker.port, username=office.uplink_user,
                  password=office.uplink_password, resend_after_s=2.0, poll_s=0.1, **kw).start()  # type: ignore[arg-type]


@contextlib.contextmanager
def intake_on(rig: RegionRig) -> Iterator[Intake]:
    intake = Intake(rig.region_store, list(rig.offices), "127.0.0.1", rig.region_broker.port,
                    username=rig.region_user, password=rig.region_password, tls=rig.region_tls).start()
    try:
        yield intake
    finally:
        intake.stop()


@contextlib.contextmanager
def uplinks(rig: RegionRig) -> Iterator[dict[str, Uplink]]:
    running = {o.id: start_uplink(rig, o) for o in rig.offices.values()}
    try:
        yield running
    finally:
        for u in running.values():
            u.stop()


def all_arrived(rig: RegionRig) -> bool:
    return all(region_events(rig, o.id) == o.own_events() for o in rig.offices.values())


@pytest.mark.parametrize("region_rig", [False, True], indirect=True, ids=["plain", "tls"])
def test_every_event_of_both_offices_arrives_once_and_in_order(region_rig: RegionRig) -> None:
    rig = region_rig
    with intake_on(rig) as intake, uplinks(rig):
        for o in rig.offices.values():
            o.day(30)
        wait_until(lambda: all_arrived(rig) or None, what="both offices' logs at the region")
        # more events while everything runs: they follow on
        for o in rig.offices.values():
            o.day(10)
        wait_until(lambda: all_arrived(rig) or None, what="the new events at the region")
        for o in rig.offices.values():
            held = region_events(rig, o.id)
            assert len(held) == len({seq for seq, _, _ in held}) > 60  # nothing twice
            assert cursor_of(rig.region_store, o.id) == o.own_events()[-1][0]
        # each office server's hall state goes up the broker bridge too, for the network pages
        from cherga.broker_bridge.bridge import start_bridge

        bridges = [start_bridge(o.service, "127.0.0.1", o.broker.port, username=f"{o.id}.server", password="pw-server")
                   for o in rig.offices.values()]
        try:
            halls = wait_until(lambda: intake.hall_states() if set(intake.hall_states()) == set(rig.offices) else None,
                               what="both halls at the region")
            north = rig.offices["kr-north"]
            waiting = {load.service: load.waiting for load in halls["kr-north"].load}
            assert waiting == {load.service: load.waiting for load in north.service.hall_state().load}
        finally:
            for b in bridges:
                b.stop()
        # and the region's word comes down the bridge: the network load for kr-north, retained at its broker
        north = rig.offices["kr-north"]
        load = NetworkLoad(region="kryvyi-rih", offices=[], at=dt.datetime.now(dt.UTC))
        intake.publish_network(north.id, load)
        server = _client(north.broker.port, f"{north.id}.server", "pw-server")
        got: list[bytes] = []
        server.on_message = lambda c, u, m: got.append(bytes(m.payload))
        try:
            subscribe_and_wait(server, contract.topic("region_network", north.id))
            wait_until(lambda: got or None, what="the network load at kr-north's broker")
            assert NetworkLoad.model_validate_json(got[-1]).region == "kryvyi-rih"
        finally:
            server.disconnect()
            server.loop_stop()


def _client(port: int, user: str, password: str) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user)
    c.username_pw_set(user, password)
    c.connect("127.0.0.1", port)
    c.loop_start()
    return c


def test_an_office_user_cannot_touch_another_offices_topics_on_the_regional_broker(region_rig: RegionRig) -> None:
    import yaml

    rig = region_rig
    north, mobile = "kr-north", "kr-mobile"
    secrets = yaml.safe_load((rig.files.broker_dir.parent / "secrets.yaml").read_text())
    # an office's credentials (as its bridge has them) in the hands of someone at kr-north
    intruder = _client(rig.region_broker.port, f"{north}.bridge", secrets[f"{north}.bridge"])
    seen: list[str] = []
    intruder.on_message = lambda c, u, m: seen.append(m.topic)
    watcher = _client(rig.region_broker.port, rig.region_user, rig.region_password)
    got: list[bytes] = []
    watcher.on_message = lambda c, u, m: got.append(bytes(m.payload))
    try:
        subscribe_and_wait(watcher, contract.topic("region_events", mobile), retained=False)
        # reading another office's topics: Mosquitto grants the subscription but delivers nothing of it
        subscribe_and_wait(intruder, f"cherga/v1/{mobile}/#", contract.topic("region_ack", north), retained=False)
        now = dt.datetime.now(dt.UTC)
        watcher.publish(contract.topic("region_ack", mobile), UploadAck(office=mobile, upto=1, at=now).to_bytes(),
                        qos=1).wait_for_publish(5)
        watcher.publish(contract.topic("region_ack", north), UploadAck(office=north, upto=1, at=now).to_bytes(),
                        qos=1).wait_for_publish(5)
        # its own office's ack comes; the other office's, published first, never does
        wait_until(lambda: contract.topic("region_ack", north) in seen or None, what="kr-north's own ack")
        # publishing a forged batch for the other office: dropped by the ACL, the region never sees it
        forged = EventBatch(office=mobile, after=0, sent_at=dt.datetime.now(dt.UTC), events=[
            LoggedEvent(seq=1, kind="issued", at=dt.datetime.now(dt.UTC))])
        intruder.publish(contract.topic("region_events", mobile), forged.to_bytes(), qos=1).wait_for_publish(5)
        # a marker on its own topic goes through, so when it is seen the forged one would have been too
        marker = EventBatch(office=north, after=0, sent_at=dt.datetime.now(dt.UTC), events=[
            LoggedEvent(seq=1, kind="marker", at=dt.datetime.now(dt.UTC))])
        subscribe_and_wait(watcher, contract.topic("region_events", north), retained=False)
        intruder.publish(contract.topic("region_events", north), marker.to_bytes(), qos=1).wait_for_publish(5)
        wait_until(lambda: any(json.loads(p)["events"][0]["kind"] == "marker" for p in got) or None,
                   what="the marker on kr-north's own topic")
        assert not any(json.loads(p)["office"] == mobile for p in got)
        assert not any(t.startswith(f"cherga/v1/{mobile}/") for t in seen)
    finally:
        for c in (intruder, watcher):
            c.disconnect()
            c.loop_stop()


def test_a_cut_bridge_for_a_day_loses_and_duplicates_nothing(region_rig: RegionRig) -> None:
    rig = region_rig
    with intake_on(rig), uplinks(rig):
        for o in rig.offices.values():
            o.day(10)
        wait_until(lambda: all_arrived(rig) or None, what="the morning at the region")
        rig.region_broker.stop()  # the link to the region is down: the offices work on
        for o in rig.offices.values():
            o.day(80)  # a day's worth: hundreds of events per office
        assert not all_arrived(rig)
        rig.region_broker.start()
        wait_until(lambda: all_arrived(rig) or None, what="the whole day at the region after the cut")
    for o in rig.offices.values():
        held = region_events(rig, o.id)
        assert len(held) > 150 and len(held) == len(set(held))


def test_an_uplink_restarted_midway_resumes_from_the_retained_ack(region_rig: RegionRig) -> None:
    rig = region_rig
    north = rig.offices["kr-north"]
    with intake_on(rig):
        first = start_uplink(rig, north)
        north.day(20)
        wait_until(lambda: region_events(rig, north.id) == north.own_events() or None, what="the first part")
        first.stop()
        north.day(20)
        # a new process: it knows nothing but the retained ack on its office broker
        second = start_uplink(rig, north)
        try:
            wait_until(lambda: region_events(rig, north.id) == north.own_events() or None, what="the rest")
            held = region_events(rig, north.id)
            assert len(held) == len(set(held))
            assert second.stats.events_sent == len(held) - len([e for e in held if e[0] <= first.acked])  # type: ignore[operator]
        finally:
            second.stop()


def test_a_forged_batch_with_a_gap_gets_gap_and_is_refilled(region_rig: RegionRig) -> None:
    rig = region_rig
    north = rig.offices["kr-north"]
    north.day(10)
    events = north.own_events()
    with intake_on(rig):
        # the forger speaks on the office broker as the uplink would (the ack comes back the same way)
        forger = _client(north.broker.port, north.uplink_user, north.uplink_password)
        acks: list[dict[str, object]] = []
        forger.on_message = lambda c, u, m: acks.append(json.loads(m.payload))
        try:
            subscribe_and_wait(forger, contract.topic("region_ack", north.id), retained=False)
            # a batch that starts in the middle of the log (the first five events never sent)
            tail = [LoggedEvent(seq=s, kind=k, ticket_id=t, at=dt.datetime.now(dt.UTC)) for s, k, t in events[5:]]
            forged = EventBatch(office=north.id, after=events[4][0], events=tail, sent_at=dt.datetime.now(dt.UTC))
            forger.publish(contract.topic("region_events", north.id), forged.to_bytes(), qos=1).wait_for_publish(5)
            ack = wait_until(lambda: acks[-1] if acks else None, what="the region's answer")
            assert ack["gap"] is True and ack["upto"] == 0
            assert region_events(rig, north.id) == []
        finally:
            forger.disconnect()
            forger.loop_stop()
        # the office's uplink reads the retained gap ack and refills from the start
        up = start_uplink(rig, north)
        try:
            wait_until(lambda: region_events(rig, north.id) == north.own_events() or None, what="the refill")
        finally:
            up.stop()


def test_the_push_tool_has_a_user_of_its_own_and_leaves_the_intake_connected(region_rig: RegionRig) -> None:
    import yaml

    rig = region_rig
    push = yaml.safe_load((rig.files.broker_dir / "push-credentials.yaml").read_text())
    with intake_on(rig) as intake:
        assert intake.wait_listening()
        pusher = _client(rig.region_broker.port, push["username"], push["password"])
        try:
            subscribe_and_wait(pusher, contract.topic("region_config", "kr-north"))
        finally:
            pusher.disconnect()
            pusher.loop_stop()
        # the same broker, a moment later: the intake was never knocked off its client id
        north = rig.offices["kr-north"]
        up = start_uplink(rig, north)
        try:
            north.day(3)
            wait_until(lambda: region_events(rig, north.id) == north.own_events() or None, what="kr-north's log")
        finally:
            up.stop()
        assert intake.stats.connected
    log = (rig.region_broker.workdir / "mosquitto.log").read_text(errors="replace")
    assert "already connected" not in log
