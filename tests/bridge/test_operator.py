"""Who served a citizen is who is signed in at the counter, whatever name a pad's message carries."""

from __future__ import annotations

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge
from cherga.broker_bridge.contract import CounterCommand
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import command, sign_in


def _operators(service: OfficeService, office: str, kind: str) -> list[str | None]:
    return [e["operator"] for e in service.store.events(office) if e["kind"] == kind]


def test_a_pad_naming_another_operator_is_logged_as_the_one_signed_in(site: SiteConfig,
                                                                    service: OfficeService) -> None:
    office = site.office.id
    bridge = Bridge(service, "127.0.0.1", 1)  # not started: handle() is what paho would call
    sign_in(service, "c1")  # olena
    service.issue_ticket(command_id="t1", source="test", service="passport")
    topic = contract.topic("counter_command", office, counter="c1")
    for action in ("next", "start", "finish"):
        out = bridge.handle(topic, command(CounterCommand, "pad-c1", action=action, operator="admin").to_bytes())
        assert out.status == "applied", out
    assert _operators(service, office, "called") == ["olena"]
    assert _operators(service, office, "started") == ["olena"]
    assert _operators(service, office, "finished") == ["olena"]


def test_a_pad_cannot_put_a_name_on_a_counter_nobody_signed_in_at(site: SiteConfig, service: OfficeService) -> None:
    office = site.office.id
    bridge = Bridge(service, "127.0.0.1", 1)
    service.issue_ticket(command_id="t1", source="test", service="passport")
    out = bridge.handle(contract.topic("counter_command", office, counter="c2"),
                        command(CounterCommand, "pad-c2", action="next", operator="admin").to_bytes())
    assert out.status in ("applied", "answered_error")
    assert "admin" not in _operators(service, office, "called")
    assert service.counter_state("c2").operator != "admin"
