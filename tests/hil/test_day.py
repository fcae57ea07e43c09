"""A Kryvyi Rih-shaped day in a minute or two, through the real processes.

Broker, server, a kiosk printing on the emulator and a hall display run as processes; the day's
visitors (generated from the Kryvyi Rih example's demand profile) arrive at four more kiosks and
the operators of the front-office counters work through the node runtime's MQTT sessions, at the
day's pace compressed several hundred times. At the end every ticket issued was called exactly once
(or ended as a no-show or cancelled), and none was lost.

By default (``CHERGA_SOAK=quick``) a short-staffed day: a third of the visitors, a quarter of the
counters (every service still staffed). ``CHERGA_SOAK=full`` runs the whole day at all 100 counters.
Nothing here assumes a speed: the arrivals are paced by the clock but every request waits for its
answer, however slow a loaded machine is, and the day ends when the last visitor has been served.
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
from tests.support.node import ANSWER_S, until_answered
from tests.support.soak import soak_size

# Only a bound for a hung run: the day itself takes one to three minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
KRYVYI_RIH = Path(__file__).resolve().parents[2] / "examples" / "kryvyi-rih.yaml"
DAY_S = soak_size(40.0, 75.0)  # wall-clock seconds the day's arrivals take
LOAD = soak_size(0.3, 1.0)  # the share of the example's demand that comes
STAFFED = soak_size(4, 1)  # every STAFFED-th front-office counter is open
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
    visitors = generate(site, demand_beside(KRYVYI_RIH), seed=11, load=LOAD)
    assert len(visitors) > soak_size(400, 1000)  # a real day's worth, not a toy
    every = [c for c in site.counters if not c.back_office]
    front = every[::STAFFED]
    for service in site.services:  # nobody's service goes unstaffed
        if not any(s.id == service.id for c in front for s in c.services):
            front.append(next(c for c in every if any(s.id == service.id for s in c.services)))
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
            assert s.wait_connected(ANSWER_S)

        def sign_in(cid: str) -> str:
            pad = pads[cid]
            cmd = pad.command(CounterCommand, action="sign_in", pin=pins[cid])  # PIN only, as on the keypad
            return until_answered(pad, "counter_command", cmd).status

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
                reply = until_answered(kiosk, "kiosk_issue", cmd)
                with lock:
                    if reply.status == "ok" and reply.ticket:
                        issued.append(reply.ticket.ticket_id)
                    else:
                        refused[reply.error.key if reply.error else reply.status] += 1

        def operator(cid: str, pad: NodeSession, rng: random.Random) -> None:
            mean = {s.id: s.mean_service_min * 60 for s in site.services}
            while True:
                # A "next" answered late is refused as stale (the operator would press again): so do we.
                reply = until_answered(pad, "counter_command", pad.command(CounterCommand, action="next"))
                if reply.status == "empty" or reply.ticket is None:
                    stale = reply.error is not None and reply.error.key == "stale_command"
                    if stop.is_set() and not stale:
                        return
                    time.sleep(0.5)
                    continue
                visit = mean.get(reply.ticket.service, 600) * rng.lognormvariate(0, 0.4)
                time.sleep(visit / squeeze)

        shares = [list(range(i, len(visitors), len(kiosks))) for i in range(len(kiosks))]
        errors: list[BaseException] = []

        def reporting(work: Callable[..., None]) -> Callable[..., None]:
            def run(*args: object) -> None:
                try:
                    work(*args)
                except BaseException as exc:  # reported by the test, not lost in a thread
                    errors.append(exc)
            return run

        threads = [threading.Thread(target=reporting(arrivals), args=(k, sh))
                   for k, sh in zip(kiosks, shares, strict=True)]
        threads += [threading.Thread(target=reporting(operator), args=(cid, pad, random.Random(cid)))
                    for cid, pad in pads.items()]
        for t in threads:
            t.start()
        # A citizen at the real kiosk process, mid-day, gets a printed ticket among the crowd.
        time.sleep(DAY_S / 2)
        printed = take_ticket(office, "kiosk-1", site.services[0].id)
        assert printed["screen"] == "ticket", printed
        for t in threads:  # arrivals end when the last visitor has a ticket; operators when the hall is empty
            if t is threads[len(kiosks)]:
                stop.set()
            t.join()
        assert not errors, errors[:3]
        # The last visitor at each counter is finished too.
        for pad in pads.values():
            until_answered(pad, "counter_command", pad.command(CounterCommand, action="finish"))
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
