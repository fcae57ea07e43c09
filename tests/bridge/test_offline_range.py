"""A kiosk hands over offline tickets only from the slice of the offline range its node config gave it."""

from __future__ import annotations

from cherga.broker_bridge import contract
from cherga.broker_bridge.bridge import Bridge
from cherga.broker_bridge.contract import OfflineTicket
from cherga.broker_bridge.nodeconfig import offline_range
from cherga.server.service import OfficeService
from cherga.server.siteconfig import SiteConfig
from tests.bridge.conftest import command


def test_a_kiosk_cannot_hand_over_a_number_from_another_kiosks_range(site: SiteConfig, service: OfficeService) -> None:
    bridge = Bridge(service, "127.0.0.1", 1)  # not started: handle() is what paho would call
    office = site.office.id
    k1, k2 = offline_range(site, "k1"), offline_range(site, "k2")
    assert k1 is not None and k2 is not None and k1 != k2
    theirs = command(OfflineTicket, "k1", service="passport", number=k2[0], issued_at=service.now())
    out = bridge.handle(contract.topic("kiosk_offline", office, node="k1"), theirs.to_bytes())
    assert (out.status, out.reason) == ("answered_error", "number_not_yours")
    assert service.store.tickets(office) == [], "the other kiosk's number must stay free for it"

    own = command(OfflineTicket, "k2", service="passport", number=k2[0], issued_at=service.now())
    assert bridge.handle(contract.topic("kiosk_offline", office, node="k2"), own.to_bytes()).status == "applied"
    assert [t.ticket.number for t in service.store.tickets(office)] == [k2[0]]
