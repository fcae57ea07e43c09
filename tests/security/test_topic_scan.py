"""An outsider's scan of the office broker (issue 23, "Done when": every topic).

A real Mosquitto runs the generated password file and ACL. Every node tries to publish on every
topic of the contract, bound to itself and to a neighbour; the server publishes on every topic, and
every node listens to the whole office. What gets through is checked against the contract's own
rule (a route's ``publisher``; a node speaks only as itself and, for a pad, for its own counter),
not against the ACL generator: the broker must enforce what the contract says. A stranger without
a password gets no connection at all.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.broker_config import Node, render_acl, render_password_file, username_for
from tests.support.mosquitto import Broker, running_broker
from tests.support.mqtt import subscribe_and_wait
from tests.support.wait import WAIT_S, wait_until

pytestmark = pytest.mark.mosquitto

OFFICE = "scan-office"
NODES = [Node("kiosk-1", "kiosk"), Node("kiosk-2", "kiosk"), Node("pad-1", "pad", counter="c1"),
         Node("pad-2", "pad", counter="c2"), Node("display-1", "display")]
SERVER = "server"
PASSWORD = {SERVER: "server-secret", **{username_for(OFFICE, n.id): f"{n.id}-secret" for n in NODES}}


class Listener:
    def __init__(self, broker: Broker, user: str | None, password: str | None) -> None:
        self.received: list[str] = []
        self.connected = threading.Event()
        self.refused = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: mqtt.ReasonCode,
                    props: object) -> None:
        self.refused = reason.is_failure
        self.connected.set()

    def ok(self) -> bool:
        assert self.connected.wait(WAIT_S), "no CONNACK"
        return not self.refused


@contextmanager
def connected(broker: Broker, user: str | None, password: str | None = None) -> Iterator[Listener]:
    c = Listener(broker, user, password)
    try:
        yield c
    finally:
        c.client.loop_stop()
        c.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    work = tmp_path / "mosq"
    work.mkdir()
    (work / "passwd").write_text(render_password_file(PASSWORD))
    (work / "acl").write_text(render_acl(OFFICE, NODES, SERVER))
    with running_broker(work, extra=f"allow_anonymous false\npassword_file {work / 'passwd'}\n"
                                    f"acl_file {work / 'acl'}") as b:
        yield b


def _bindings(route: contract.Route) -> list[dict[str, str]]:
    """The route's params bound to each node and counter of the office (own and neighbours')."""
    out: list[dict[str, str]] = [{}]
    for param in route.params:
        values = [n.id for n in NODES] if param == "node" else ["c1", "c2"]
        out = [{**b, param: v} for b in out for v in values]
    return out


def _every_topic() -> list[tuple[contract.Route, dict[str, str], str]]:
    return [(r, b, contract.topic(r.name, OFFICE, **b)) for r in contract.ROUTES.values() for b in _bindings(r)]


def _may_publish(node: Node, route: contract.Route, binding: dict[str, str]) -> bool:
    """The contract's rule: the route is one this role (or any node, about itself) publishes, and it
    names nobody but the node itself and, for a pad, its own counter."""
    if route.publisher not in ("node", node.role):
        return False
    return binding.get("node", node.id) == node.id and binding.get("counter", node.counter) == node.counter


def test_a_stranger_without_a_password_gets_no_connection(broker: Broker) -> None:
    with connected(broker, None) as anonymous, connected(broker, "server", "guess") as guess:
        assert not anonymous.ok() and not guess.ok()


def test_every_node_publishes_only_what_the_contract_lets_it_say_as_itself(broker: Broker) -> None:
    with connected(broker, SERVER, PASSWORD[SERVER]) as server:
        assert server.ok()
        subscribe_and_wait(server.client, f"{contract.ROOT}/{OFFICE}/#")
        wrong = []
        for node in NODES:
            user = username_for(OFFICE, node.id)
            with connected(broker, user, PASSWORD[user]) as n:
                assert n.ok()
                server.received.clear()
                for _, _, t in _every_topic():
                    n.client.publish(t, b"{}", qos=1)
                # One client's messages arrive in order: once its own status is in, nothing else is coming.
                sentinel = contract.topic("node_status", OFFICE, node=node.id)
                n.client.publish(sentinel, b"sentinel", qos=1).wait_for_publish(WAIT_S)
                # The sentinel's topic is also among every topic: its second arrival is the last message.
                wait_until(lambda s=sentinel: server.received.count(s) >= 2,  # type: ignore[misc]
                           what=f"{node.id}'s last message")
                arrived = set(server.received)
                for route, binding, t in _every_topic():
                    if (t in arrived) != _may_publish(node, route, binding):
                        wrong.append(f"{node.id} {'got through' if t in arrived else 'was stopped'} on {route.name} {binding}")
        assert not wrong, wrong


def test_nothing_addressed_to_another_node_or_to_the_region_reaches_a_node(broker: Broker) -> None:
    users = {n.id: username_for(OFFICE, n.id) for n in NODES}
    with ExitStack() as stack:
        server = stack.enter_context(connected(broker, SERVER, PASSWORD[SERVER]))
        nodes = {nid: stack.enter_context(connected(broker, u, PASSWORD[u])) for nid, u in users.items()}
        assert server.ok() and all(n.ok() for n in nodes.values())
        for n in nodes.values():
            subscribe_and_wait(n.client, f"{contract.ROOT}/#")
        for _, _, t in _every_topic():
            server.client.publish(t, b"{}", qos=1)
        sentinel = contract.topic("server_status", OFFICE)
        server.client.publish(sentinel, b"sentinel", qos=1).wait_for_publish(WAIT_S)
        for nid, n in nodes.items():
            wait_until(lambda n=n: sentinel in n.received, what=f"{nid} hears the server")  # type: ignore[misc]
        leaks = []
        for node in NODES:
            got = set(nodes[node.id].received)
            assert contract.topic("node_config", OFFICE, node=node.id) in got, "a node must hear its own config"
            for route, binding, t in _every_topic():
                foreign = binding.get("node", node.id) != node.id or route.pattern.startswith("region/")
                if t in got and foreign:
                    leaks.append(f"{node.id} heard {route.name} {binding}")
        assert not leaks, leaks
