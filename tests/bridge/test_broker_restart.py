"""Mosquitto restarts in the middle of traffic: no action lost, none applied twice.

Real parts end to end: the node runtime's sessions (kiosk and pad), Mosquitto with persistence,
the bridge, OfficeService on SQLite. Each node does what a role does: on ``Offline`` or
``RequestTimeout`` it waits for the connection and resends the *same* command (same id).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cherga.broker_bridge.bridge import start_bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket, Reply
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.outbox import Outbox
from cherga.firmware_host.session import NodeSession
from tests.bridge.conftest import make_service, sign_in, site_config
from tests.support.mosquitto import Broker
from tests.support.node import until_answered
from tests.support.wait import WAIT_S, wait_until

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


def _session(broker: Broker, office: str, node: str, role: str, counter: str | None = None) -> NodeSession:
    cfg = NodeConfig.model_validate({"node": node, "role": role, "office": office, "counter": counter,
                                     "broker": {"host": broker.host, "port": broker.port, "keepalive_s": 5}})
    return NodeSession(cfg, outbox=Outbox(":memory:"), reconnect_delays=(0.1, 0.5))


def test_a_broker_restart_mid_traffic_loses_no_action_and_duplicates_none(fresh_mosquitto: Broker, tmp_path: Path) -> None:
    site = site_config("restart")
    office = site.office.id
    service = make_service(site, tmp_path / "office.db")
    sign_in(service, "c1")
    bridge = start_bridge(service, fresh_mosquitto.host, fresh_mosquitto.port)
    kiosk = _session(fresh_mosquitto, office, "k1", "kiosk")
    pad = _session(fresh_mosquitto, office, "pad-c1", "pad", "c1")
    kiosk.start()
    pad.start()
    assert kiosk.wait_connected(WAIT_S) and pad.wait_connected(WAIT_S)

    issued: list[Reply] = []
    called: list[Reply] = []
    resends: list[int] = []
    n_tickets = n_calls = 80

    def kiosk_work() -> None:
        for _ in range(n_tickets):
            cmd = kiosk.command(IssueTicket, service="passport")
            issued.append(until_answered(kiosk, "kiosk_issue", cmd, per_try=1.5, resends=resends))
            time.sleep(0.01)

    def pad_work() -> None:
        for _ in range(n_calls):
            cmd = pad.command(CounterCommand, action="next")
            called.append(until_answered(pad, "counter_command", cmd, per_try=1.5, resends=resends))
            time.sleep(0.012)

    workers = [threading.Thread(target=kiosk_work), threading.Thread(target=pad_work)]
    for t in workers:
        t.start()
    try:
        wait_until(lambda: len(issued) >= n_tickets // 3, what="a third of the tickets issued")
        fresh_mosquitto.restart(down_s=0.7)  # mid-traffic
        for t in workers:
            t.join(120)
    finally:
        kiosk.close()
        pad.close()
        bridge.stop()

    assert resends, "the restart should have interrupted some requests (else the test proves nothing)"
    assert len(issued) == n_tickets and all(r.status == "ok" for r in issued)
    tickets = service.store.tickets(office)
    assert len(tickets) == n_tickets, "each kiosk request made exactly one ticket"
    assert sorted(t.ticket.number for t in tickets) == list(range(1, n_tickets + 1))
    ok_calls = [r for r in called if r.status == "ok"]
    assert ok_calls, "the pad called somebody"
    called_ids = [r.ticket.ticket_id for r in ok_calls if r.ticket]
    assert len(called_ids) == len(set(called_ids)), "no ticket was called twice"
    call_events = [e for e in service.store.events(office) if e["kind"] == "called"]
    assert len(call_events) == len(ok_calls), "each answered next was applied exactly once"
