"""Enrollment over MQTT: a provisioned node proves its card's one-time token to the server."""

from __future__ import annotations

from broker_bridge import contract
from broker_bridge.broker_config import Node, node_reads, node_writes, render_acl

OFFICE = "demo"


def test_a_node_may_publish_only_its_own_enroll_topic_and_read_only_its_own_answer() -> None:
    for node in (Node("kiosk-1", "kiosk"), Node("pad-1", "pad", counter="c1"), Node("hall-1", "display")):
        writes = node_writes(OFFICE, node)
        reads = node_reads(OFFICE, node)
        assert contract.topic("node_enroll", OFFICE, node=node.id) in writes
        assert contract.topic("node_enroll_response", OFFICE, node=node.id) in reads
        assert not any(t.endswith("/enroll") and f"/node/{node.id}/" not in t for t in writes)
        assert not any("enroll" in t and f"/node/{node.id}/" not in t for t in reads)
    acl = render_acl(OFFICE, [Node("kiosk-1", "kiosk"), Node("hall-1", "display")], "server")
    assert f"topic write {contract.ROOT}/{OFFICE}/node/kiosk-1/enroll" in acl
    assert f"topic read {contract.ROOT}/{OFFICE}/node/hall-1/enroll/response" in acl
    assert "node/+/enroll" not in acl
