"""A counter button that reaches the server late (a QoS 1 resend after a reconnect) was shown to the
operator as failed: it must not call anybody now. Ratings may arrive late from the outbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from cherga.broker_bridge import bridge as bridge_module
from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge
from cherga.broker_bridge.contract import CounterCommand, IssueTicket, Telemetry
from cherga.server.service import OfficeService
from tests.bridge.conftest import make_service, sign_in, site_config

OFFICE = "demo"


def _bridge(tmp_path: Path) -> tuple[Bridge, OfficeService]:
    site = site_config(OFFICE)
    service = make_service(site, tmp_path / "office.db")
    sign_in(service, "c1")
    return Bridge(service, "127.0.0.1", 1, config=site), service


def _send(bridge: Bridge, route: str, msg: contract.Payload, **params: str) -> str:
    return bridge.handle(contract.topic(route, OFFICE, **params), msg.to_bytes()).status


def _next(sent_at: dt.datetime) -> CounterCommand:
    return CounterCommand(id=f"n{sent_at.timestamp():.0f}", node="pad-c1", ts=sent_at, action="next")


def test_a_next_pressed_a_minute_ago_calls_nobody(tmp_path: Path) -> None:
    bridge, service = _bridge(tmp_path)
    now = dt.datetime.now(dt.UTC)
    _send(bridge, "kiosk_issue", IssueTicket(id="i1", node="k1", ts=now, service="passport"), node="k1")
    assert _send(bridge, "counter_command", _next(now - dt.timedelta(seconds=60)), counter="c1") == "answered_error"
    assert bridge.metrics.service_errors["stale_command"] == 1
    assert [t.label for t in service.waiting_list("c1")] == ["A-001"]
    assert _send(bridge, "counter_command", _next(now), counter="c1") == "applied"
    assert service.waiting_list("c1") == []


def test_a_pad_whose_clock_is_off_is_judged_by_its_heartbeat(tmp_path: Path) -> None:
    """A Pi without NTP may be hours off: its heartbeats tell the skew, fresh presses still work."""
    bridge, service = _bridge(tmp_path)
    now = dt.datetime.now(dt.UTC)
    pad_clock = now - dt.timedelta(hours=3)
    _send(bridge, "node_telemetry", Telemetry(node="pad-c1", role="pad", ts=pad_clock, uptime_s=5), node="pad-c1")
    _send(bridge, "kiosk_issue", IssueTicket(id="i1", node="k1", ts=now, service="passport"), node="k1")
    assert _send(bridge, "counter_command", _next(pad_clock - dt.timedelta(seconds=40)), counter="c1") == "answered_error"
    assert _send(bridge, "counter_command", _next(pad_clock + dt.timedelta(seconds=1)), counter="c1") == "applied"


def test_a_late_rating_from_the_outbox_still_counts(tmp_path: Path) -> None:
    bridge, service = _bridge(tmp_path)
    now = dt.datetime.now(dt.UTC)
    _send(bridge, "kiosk_issue", IssueTicket(id="i1", node="k1", ts=now, service="passport"), node="k1")
    _send(bridge, "counter_command", _next(now), counter="c1")
    finished = service.counter_action(command_id="f1", counter="c1", action=contract.CounterAction.FINISH,
                                      source="test")
    rated = finished.counter.rateable_ticket
    assert rated
    late = CounterCommand(id="r1", node="pad-c1", ts=now - dt.timedelta(minutes=30), action="rate",
                          ticket_id=rated, score=1)
    assert _send(bridge, "counter_command", late, counter="c1") == "applied"


class _RecordingBridge(Bridge):
    """The real bridge; the replies it would publish are kept for the test to read."""

    replies: list[contract.Reply]

    def _reply(self, decoded, reply):  # type: ignore[no-untyped-def]
        self.replies.append(reply)


def test_a_next_resent_late_after_it_was_applied_gets_its_first_answer(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract promises a resend of an applied command its first answer; staleness only stops new presses."""
    site = site_config(OFFICE)
    service = make_service(site, tmp_path / "office.db")
    sign_in(service, "c1")
    bridge = _RecordingBridge(service, "127.0.0.1", 1, config=site)
    bridge.replies = []
    pressed = dt.datetime.now(dt.UTC)
    for i in range(2):
        _send(bridge, "kiosk_issue", IssueTicket(id=f"i{i}", node="k1", ts=pressed, service="passport"), node="k1")
    press = _next(pressed)
    assert _send(bridge, "counter_command", press, counter="c1") == "applied"
    monkeypatch.setattr(bridge_module, "_utcnow", lambda: pressed + dt.timedelta(seconds=16.5))
    assert _send(bridge, "counter_command", press, counter="c1") == "applied"
    first, again = bridge.replies[-2:]
    assert again == first and again.ticket is not None and again.ticket.label == "A-001"
    assert [t.label for t in service.waiting_list("c1")] == ["A-002"]  # nobody else was called
    assert bridge.metrics.service_errors["stale_command"] == 0
