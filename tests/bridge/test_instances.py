"""Two server processes serve one office through one broker: neither knocks the other off, and every
node command is applied and answered once.

Found from outside: two bridges shared one client id and took each other's session 18 times in 12 s,
refusing pad presses meanwhile. Each `cherga server --instance NAME` now has a client id (and, with
the generated broker config, a broker user) of its own, and node commands reach the instances
through one MQTT shared subscription, so each command goes to one of them.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.broker_bridge import broker_config, contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket
from cherga.server.core.tickets import TicketStatus
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import (
    Watcher,
    answer_to,
    command,
    make_service,
    site_config,
    start_provisioned_broker,
)
from tests.support.mosquitto import Broker

pytestmark = pytest.mark.mosquitto
PASSWORD = "server-secret"
TICKETS = 12


@pytest.fixture
def two_instances(tmp_path: Path) -> Iterator[tuple[Broker, SiteConfig, list[OfficeService], list[Bridge]]]:
    """The broker as provisioning configures it for two server instances; two services on one database."""
    site = site_config("twoproc")
    office = site.office.id
    workdir = tmp_path / "broker"
    workdir.mkdir()
    nodes = [broker_config.Node(n.id, n.role, n.counter) for n in site.nodes or []]
    users = [broker_config.username_for(office, "server"), broker_config.username_for(office, "server") + "-2"]
    creds = {broker_config.username_for(office, n.id): f"pw-{n.id}" for n in nodes}
    creds.update({u: PASSWORD for u in users})
    (workdir / "passwd").write_text(broker_config.render_password_file(creds))
    (workdir / "acl").write_text(broker_config.render_acl(office, nodes, users))
    broker = start_provisioned_broker(workdir)
    services = [make_service(site, tmp_path / "office.db") for _ in users]
    bridges: list[Bridge] = []
    try:
        for svc, user, name in zip(services, users, ("a", "b"), strict=True):
            bridges.append(start_bridge(svc, broker.host, broker.port, username=user, password=PASSWORD, instance=name))
        assert all(b.wait_connected(10) for b in bridges)
        yield broker, site, services, bridges
    finally:
        for b in bridges:
            b.stop()
        broker.stop()


def test_two_server_instances_keep_their_sessions_and_answer_each_command_once(
        two_instances: tuple[Broker, SiteConfig, list[OfficeService], list[Bridge]]) -> None:
    broker, site, services, bridges = two_instances
    office = site.office.id
    drops: list[str] = []
    for b in bridges:
        b.client.on_disconnect = lambda *a, name=b.instance: drops.append(str(name))  # type: ignore[misc]
    kiosk = Watcher(broker.host, broker.port, contract.topic("kiosk_response", office, node="k1"),
                    username=broker_config.username_for(office, "k1"), password="pw-k1")
    pad = Watcher(broker.host, broker.port, contract.topic("counter_response", office, counter="c1"),
                  username=broker_config.username_for(office, "pad-c1"), password="pw-pad-c1")
    try:
        ids = []
        for _ in range(TICKETS):
            issue = command(IssueTicket, "k1", service="passport")
            kiosk.publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
            answer = kiosk.wait_for(answer_to(issue.id))
            assert answer["status"] == "ok", answer
            ids.append(issue.id)
        presses = []
        for _ in range(TICKETS):
            nxt = command(CounterCommand, "pad-c1", action="next")
            pad.publish(contract.topic("counter_command", office, counter="c1"), nxt.to_bytes())
            answer = pad.wait_for(answer_to(nxt.id))
            assert answer["status"] == "ok", answer
            presses.append(nxt.id)
        # A press after all that: its answer comes after any duplicate of the earlier ones would have.
        last = command(CounterCommand, "pad-c1", action="finish")
        pad.publish(contract.topic("counter_command", office, counter="c1"), last.to_bytes())
        pad.wait_for(lambda t, d: d.get("id") == last.id)
        kiosk_answers = collections.Counter(d["id"] for d in kiosk.payloads(contract.topic("kiosk_response", office, node="k1")))
        pad_answers = collections.Counter(d["id"] for d in pad.payloads(contract.topic("counter_response", office, counter="c1")))
        assert [kiosk_answers[i] for i in ids] == [1] * TICKETS, "a kiosk request was answered twice"
        assert [pad_answers[i] for i in presses] == [1] * TICKETS, "a press was answered twice"
        assert drops == [], f"bridges lost the broker: {drops}"
        # Both instances took commands: the shared subscription spread them.
        assert all(b.metrics.applied > 0 for b in bridges), [b.metrics.as_dict() for b in bridges]
        tickets = services[0].store.tickets(office)
        assert len(tickets) == TICKETS
        assert sum(1 for r in tickets if r.ticket.status is TicketStatus.DONE) == TICKETS
    finally:
        kiosk.close()
        pad.close()
