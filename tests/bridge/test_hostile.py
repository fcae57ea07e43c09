"""Malformed and hostile payloads: the bridge refuses each with a reason and never falls over.

Most of the 10,000 go straight into the bridge's message handler (the same function paho calls);
a few thousand more go over a real Mosquitto to the running bridge.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge, start_bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import Watcher, command, make_service, sign_in, site_config
from tests.support.mosquitto import Broker
from tests.support.wait import wait_until

REASONS = {"unknown_topic", "too_large", "bad_encoding", "bad_json", "bad_schema", "unsupported_version", "wrong_office",
           "not_accepted", "node_mismatch", "unknown_node", "wrong_role", "unknown_counter", "not_your_counter"}
OFFICE = "demo"
IDS = ["k1", "k2", "d1", "pad-c1", "pad-c2", "c1", "c2", "c9", "ghost", "K1", "", "a/b", "+", "#", "x" * 60, "пад"]
TS = "2026-03-04T08:00:00Z"
VALID: dict[str, dict[str, Any]] = {
    "kiosk_issue": {"v": 1, "id": "i1", "node": "k1", "ts": TS, "service": "passport"},
    "kiosk_checkin": {"v": 1, "id": "c1", "node": "k1", "ts": TS, "code": "ABC-123"},
    "kiosk_offline": {"v": 1, "id": "o1", "node": "k1", "ts": TS, "service": "passport", "number": 950, "issued_at": TS},
    "counter_command": {"v": 1, "id": "n1", "node": "pad-c1", "ts": TS, "action": "next"},
    "node_status": {"v": 1, "node": "k1", "role": "kiosk", "state": "online"},
    "node_telemetry": {"v": 1, "node": "k1", "role": "kiosk", "ts": TS, "uptime_s": 5},
    "node_alert": {"v": 1, "node": "k1", "ts": TS, "kind": "paper_out"},
    "hall_state": {"v": 1, "office": OFFICE, "office_names": {"uk": "x"}, "languages": ["uk"], "calls": [], "updated_at": TS},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def topics(draw: st.DrawFn) -> str:
    # Mostly well-formed topics, so most messages get past routing and test the deeper checks.
    kind = draw(st.sampled_from([0, 1, 2, 2, 2, 2, 2, 3, 3, 4]))
    if kind == 0:
        return draw(st.text(max_size=80))
    if kind == 1:  # another office's or a made-up subtree
        return f"cherga/v{draw(st.integers(0, 3))}/{draw(st.sampled_from([OFFICE, 'other', 'Demo', '']))}/" + draw(st.text(max_size=30))
    route = contract.ROUTES[draw(st.sampled_from(sorted(contract.ROUTES)))]
    params = {p: draw(st.sampled_from(IDS)) for p in route.params}
    if kind == 2:  # the right node for its own topic, mostly
        params = {p: {"node": "k1", "counter": "c1"}[p] for p in route.params}
    office = OFFICE if kind != 4 else draw(st.sampled_from(["other", OFFICE]))
    return f"{contract.ROOT}/{office}/" + route.pattern.format(**params)


@st.composite
def payloads(draw: st.DrawFn, topic_name: str) -> bytes:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    if kind == 2:
        return json.dumps(draw(json_values)).encode()
    if kind == 3:  # absurd nesting or size
        return draw(st.sampled_from([b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 5000 + b"1" + b"}" * 5000,
                                     json.dumps({"v": 1, "pad": "x" * 70_000}).encode()]))
    # a valid payload for some route, then damaged
    base = dict(VALID[draw(st.sampled_from(sorted(VALID)))])
    try:
        route = contract.match(topic_name)[0].name
        base = dict(VALID.get(route, base))
    except contract.ContractError:
        pass
    base["id"] = f"h{draw(st.integers(0, 10**9))}" if "id" in base else base.get("id")
    base = {k: v for k, v in base.items() if v is not None}
    for _ in range(draw(st.integers(0 if kind == 6 else 1, 3))):
        op = draw(st.integers(0, 3))
        key = draw(st.sampled_from(sorted(base) + ["extra", "v"]))
        if op == 0:
            base.pop(key, None)
        elif op == 1:
            base[key] = draw(json_values)
        elif op == 2:
            base["v"] = draw(st.sampled_from([0, 2, "1", None, 1.5, 99]))
        else:
            base["node"] = draw(st.sampled_from(IDS))
    return json.dumps(base, allow_nan=True).encode()


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes]:
    topic_name = draw(topics())
    return topic_name, draw(payloads(topic_name))


@pytest.fixture(scope="module")
def fuzz_bridge(tmp_path_factory: pytest.TempPathFactory) -> tuple[Bridge, OfficeService]:
    site = site_config(OFFICE)
    service = make_service(site, tmp_path_factory.mktemp("fuzz") / "office.db")
    sign_in(service, "c1")
    # Built but not started: handle() is exactly what paho's on_message calls.
    return Bridge(service, "127.0.0.1", 1, config=site), service


@settings(max_examples=10_000, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(msg=messages())
def test_ten_thousand_hostile_messages_are_each_refused_with_a_reason_or_handled(
        fuzz_bridge: tuple[Bridge, OfficeService], msg: tuple[str, bytes]) -> None:
    bridge, _ = fuzz_bridge
    outcome = bridge.handle(*msg)
    assert outcome.status != "failed", f"the bridge failed on {msg!r}: {outcome}"
    if outcome.status == "refused":
        assert outcome.reason in REASONS and outcome.message


def test_after_the_storm_the_office_still_works(fuzz_bridge: tuple[Bridge, OfficeService]) -> None:
    bridge, service = fuzz_bridge
    assert bridge.metrics.internal_errors == 0
    assert bridge.metrics.received >= 10_000
    assert sum(bridge.metrics.refused.values()) > 5_000
    issued = bridge.handle(contract.topic("kiosk_issue", OFFICE, node="k2"),
                           command(IssueTicket, "k2", service="foreign-passport").to_bytes())
    assert issued.status == "applied"
    called = bridge.handle(contract.topic("counter_command", OFFICE, counter="c1"),
                           command(CounterCommand, "pad-c1", action="next").to_bytes())
    assert called.status in ("applied", "answered_error")


def _hostile_over_the_wire(rng: random.Random, office: str) -> tuple[str, bytes]:
    route = rng.choice(["kiosk_issue", "kiosk_checkin", "kiosk_offline", "counter_command", "node_status",
                        "node_telemetry", "node_alert"])
    params = {p: rng.choice(["k1", "pad-c1", "c1", "ghost", "c9", "d1"]) for p in contract.ROUTES[route].params}
    topic_name = f"{contract.ROOT}/{office}/" + contract.ROUTES[route].pattern.format(**params)
    base = dict(VALID[route])
    roll = rng.random()
    if roll < 0.15:
        return topic_name, rng.randbytes(rng.randint(0, 120))
    if roll < 0.25:
        return topic_name, b'{"v": 1, "id": "x", "node": "k1", ts: }'
    if roll < 0.35:
        base["v"] = rng.choice([0, 2, 7])
    elif roll < 0.6:
        base.pop(rng.choice(sorted(base)))
    elif roll < 0.85:
        base[rng.choice(sorted(base))] = rng.choice([None, -1, 1e308, "∞", [], {"$gt": ""}, "x" * 300])
    else:
        base["node"] = rng.choice(["ghost", "k2", "d1", "pad-c2"])
        base["v"] = 1
    if "id" in base:
        base["id"] = f"w{rng.getrandbits(40)}"
    return topic_name, json.dumps(base).encode()


@pytest.mark.mosquitto
def test_three_thousand_hostile_messages_over_the_broker_leave_the_bridge_answering(
        mosquitto: Broker, tmp_path: Path) -> None:
    site: SiteConfig = site_config(f"h{random.randrange(10**8)}")
    office = site.office.id
    service = make_service(site, tmp_path / "office.db")
    bridge = start_bridge(service, mosquitto.host, mosquitto.port)
    w = Watcher(mosquitto.host, mosquitto.port, contract.subscription("kiosk_response", office, node="k1"))
    try:
        rng = random.Random(4)
        n = 3000
        for i in range(n):
            topic_name, payload = _hostile_over_the_wire(rng, office)
            info = w.client.publish(topic_name, payload, qos=1)
            if i % 500 == 499:
                info.wait_for_publish(10)
        wait_until(lambda: bridge.metrics.received >= n, 120, what=f"all {n} messages at the bridge")
        m = bridge.metrics
        assert m.received == n
        assert m.internal_errors == 0
        assert sum(m.refused.values()) > n // 2
        assert set(m.refused) <= REASONS
        # ... and a real kiosk is still served.
        issue = command(IssueTicket, "k1", service="passport")
        w.publish(contract.topic("kiosk_issue", office, node="k1"), issue.to_bytes())
        assert w.wait_for(lambda t, d: d.get("id") == issue.id, timeout=10)["status"] == "ok"
    finally:
        w.close()
        bridge.stop()


