"""A Kryvyi Rih-shaped day in about two minutes, through the real processes.

Broker, server, a kiosk printing on the emulator and a hall display run as processes; the day's
visitors (generated from the Kryvyi Rih example's demand profile) arrive at four more kiosks and
the operators of every front-office counter work through the node runtime's MQTT sessions, at
the day's pace compressed about 550 times. At the end every ticket issued was called exactly once
(or ended as a no-show or cancelled), and none was lost.
"""

from __future__ import annotations

import collections
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cherga.broker_bridge.contract import CounterCommand, IssueTicket
from cherga.firmware_host.config import BrokerOptions, NodeConfig
from cherga.firmware_host.session import NodeSession
from cherga.office import Layout, Office
from cherga.server import auth
from cherga.server.sim.workload import demand_beside, generate
from cherga.server.siteconfig import load_site_config
from cherga.server.store import Store
from tests.hil.scenario import take_ticket

pytestmark = pytest.mark.slow
KRYVYI_RIH = Path(__file__).resolve().parents[2] / "examples" / "kryvyi-rih.yaml"
DAY_S = 75.0  # wall-clock seconds the day's arrivals take
VIRTUAL_KIOSKS = [f"vkiosk-{i}" for i in range(1, 5)]


def _session(office: Office, node: str, role: str, counter: str | None, workdir: Path) -> NodeSession:
    cfg = NodeConfig(node=node, role=role, office=office.office_id, counter=counter,  # type: ignore[arg-type]
                     broker=BrokerOptions(host="127.0.0.1", port=office.broker_port, keepalive_s=10),
                     data_dir=workdir / node)
    session = NodeSession(cfg)
    session.start()
    return session


def test_a_kryvyi_rih_day_in_two_minutes_calls_every_ticket_exactly_once(
        office_factory: Callable[..., Office], artifacts: Path) -> None:
    site = load_site_config(KRYVYI_RIH)
    visitors = generate(site, demand_beside(KRYVYI_RIH), seed=11, load=1.0)
    assert len(visitors) > 1000  # a real day's worth, not a toy
    front = [c for c in site.counters if not c.back_office]
    pins = {c.id: f"{5000 + i}" for i, c in enumerate(front)}
    opening = visitors[0].arrival_s
    span = visitors[-1].arrival_s - opening
    squeeze = span / DAY_S

    def create_operators(office: Office) -> None:
        store = Store(office.db_url)
        for c in front:
            auth.create_account(store, username=f"op-{c.id}", role="operator", pin=pins[c.id],
                                display_name=f"Operator {c.number}")
        store.close()

    virtual = [{"id": k, "role": "kiosk"} for k in VIRTUAL_KIOSKS]
    virtual += [{"id": f"vpad-{c.id}", "role": "pad", "counter": c.id} for c in front]
    layout = Layout(kiosks=["kiosk-1"], displays=["display-1"], pads={})
    with office_factory(KRYVYI_RIH, layout=layout, virtual_nodes=virtual, before_server=create_operators) as office:
        sessions_dir = artifacts / "virtual-nodes"
        kiosks = [_session(office, k, "kiosk", None, sessions_dir) for k in VIRTUAL_KIOSKS]
        pads = {c.id: _session(office, f"vpad-{c.id}", "pad", c.id, sessions_dir) for c in front}
        for s in [*kiosks, *pads.values()]:
            assert s.wait_connected(15)
        def sign_in(cid: str) -> str:
            pad = pads[cid]
            cmd = pad.command(CounterCommand, action="sign_in", pin=pins[cid])  # PIN only, as on the keypad
            return pad.request("counter_command", cmd, timeout=30).status

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(sign_in, pads)) == {"ok"}

        issued: list[str] = []  # ticket ids the server acknowledged
        refused: collections.Counter[str] = collections.Counter()
        lock = threading.Lock()
        stop = threading.Event()
        start = time.monotonic()

        def arrivals(kiosk: NodeSession, share: list[int]) -> None:
            for i in share:
                v = visitors[i]
                delay = start + (v.arrival_s - opening) / squeeze - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                cmd = kiosk.command(IssueTicket, service=v.service, purpose=v.purpose, priority=v.priority,
                                    language="uk")
                for _ in range(3):  # a lost reply is retried with the same id: applied once
                    try:
                        reply = kiosk.request("kiosk_issue", cmd, timeout=10)
                        break
                    except Exception:
                        continue
                else:
                    raise AssertionError(f"kiosk request {cmd.id} never answered")
                with lock:
                    if reply.status == "ok" and reply.ticket:
                        issued.append(reply.ticket.ticket_id)
                    else:
                        refused[reply.error.key if reply.error else reply.status] += 1

        def operator(cid: str, pad: NodeSession, rng: random.Random) -> None:
            mean = {s.id: s.mean_service_min * 60 for s in site.services}
            while True:
                reply = pad.request("counter_command", pad.command(CounterCommand, action="next"), timeout=15)
                if reply.status == "empty" or reply.ticket is None:
                    if stop.is_set():
                        return
                    time.sleep(0.2)
                    continue
                visit = mean.get(reply.ticket.service, 600) * rng.lognormvariate(0, 0.4)
                time.sleep(visit / squeeze)

        shares = [list(range(i, len(visitors), len(kiosks))) for i in range(len(kiosks))]
        threads = [threading.Thread(target=arrivals, args=(k, sh)) for k, sh in zip(kiosks, shares, strict=True)]
        threads += [threading.Thread(target=operator, args=(cid, pad, random.Random(cid)))
                    for cid, pad in pads.items()]
        for t in threads:
            t.start()
        # A citizen at the real kiosk process, mid-day, gets a printed ticket among the crowd.
        time.sleep(DAY_S / 2)
        printed = take_ticket(office, "kiosk-1", site.services[0].id)
        assert printed["screen"] == "ticket", printed
        for t in threads[: len(kiosks)]:
            t.join(DAY_S + 60)
        stop.set()
        for t in threads[len(kiosks):]:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "the day did not finish"
        # The last visitor at each counter is finished too.
        for pad in pads.values():
            pad.request("counter_command", pad.command(CounterCommand, action="finish"), timeout=15)
        display_calls = office.node("display-1").call("calls")
        elapsed = time.monotonic() - start
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(lambda s: s.stop(), [*kiosks, *pads.values()]))

    db = sqlite3.connect(office.workdir / "cherga.db")
    statuses = dict(db.execute("SELECT id, status FROM tickets").fetchall())
    calls = collections.Counter(tid for (tid,) in db.execute("SELECT ticket_id FROM events WHERE kind = 'called'"))
    (artifacts / "day-summary.txt").write_text(
        f"visitors {len(visitors)} issued {len(issued)} refused {dict(refused)} tickets {len(statuses)} "
        f"elapsed {elapsed:.0f}s statuses {collections.Counter(statuses.values())}\n")
    assert len(issued) + sum(refused.values()) == len(visitors)
    assert len(issued) > 0.95 * len(visitors), refused
    assert set(issued) <= set(statuses), "an acknowledged ticket is missing from the store"
    assert len(set(issued)) == len(issued), "one request got two tickets"
    unfinished = {t: s for t, s in statuses.items() if s not in ("done", "no_show", "cancelled")}
    assert not unfinished, f"{len(unfinished)} tickets never finished: {list(unfinished.items())[:5]}"
    twice = {t: n for t, n in calls.items() if n != 1}
    assert not twice, f"tickets called more than once: {list(twice.items())[:5]}"
    never = [t for t, s in statuses.items() if s == "done" and calls[t] == 0]
    assert not never, "a ticket was finished without being called"
    assert display_calls, "the hall display showed none of the day's calls"
