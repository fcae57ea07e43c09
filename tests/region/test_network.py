"""The network's load and "the same service is faster at office X" (server/region/network.py): which
office a kiosk may name, and when it must name none."""

from __future__ import annotations

import datetime as dt

from cherga.broker_bridge.contract import NetworkLoad, ServiceLoad
from cherga.server.region.network import (
    STALE_AFTER,
    faster_at,
    network_load,
    office_reading,
    open_now,
    others,
    with_faster_at,
)
from cherga.server.siteconfig import SiteConfig
from tests.server.helpers import OPEN_TIME, demo_dict

NOW = OPEN_TIME  # a Wednesday, 10:00 in Kyiv: the demo office is open
NIGHT = dt.datetime(2026, 11, 25, 21, 0, tzinfo=dt.UTC)  # 23:00 in Kyiv: closed


def _office(office_id: str, name: str) -> SiteConfig:
    data = demo_dict()
    data["office"] = {**data["office"], "id": office_id, "names": {"uk": name, "en": name}}
    return SiteConfig.model_validate(data)


def _load(service: str, wait: int | None, *, open_: int = 1, waiting: int = 5, stopped: bool = False) -> ServiceLoad:
    return ServiceLoad(service=service, names={"uk": service}, waiting=waiting, counters_open=open_,
                       avg_wait_min=0.0, light="green", wait_min=wait, wait_max_min=None if wait is None else wait * 2,
                       calls_stopped=stopped or None)


def _network(*offices: tuple[str, list[ServiceLoad]], at: dt.datetime = NOW, now: dt.datetime = NOW) -> NetworkLoad:
    readings = [office_reading(_office(oid, f"ЦНАП {oid}"), {"uk": f"вул. {oid}, 1", "en": f"1 {oid} St"}, load,
                               updated_at=at, now=now) for oid, load in offices]
    return network_load("city", readings, now)


def test_a_much_shorter_wait_elsewhere_is_named_with_its_address_and_forecast() -> None:
    net = _network(("north", [_load("passport", 60)]), ("south", [_load("passport", 10)]),
                   ("east", [_load("passport", 20)]))
    found = faster_at("north", [_load("passport", 60)], net, NOW)
    assert set(found) == {"passport"}
    assert found["passport"].office == "south"  # the shortest of the two faster ones
    assert found["passport"].wait_min == 10 and found["passport"].wait_max_min == 20
    assert found["passport"].address["uk"] == "вул. south, 1"
    assert found["passport"].names["en"] == "ЦНАП south"


def test_a_small_saving_is_not_worth_the_trip() -> None:
    # 20 instead of 30 saves 10 min (< 15); 25 instead of 45 saves 20 but is more than half.
    net = _network(("south", [_load("passport", 20), _load("birth", 25)]))
    assert faster_at("north", [_load("passport", 30), _load("birth", 45)], net, NOW) == {}
    # 30 instead of 60: both margins hold
    assert set(faster_at("north", [_load("passport", 60)], _network(("south", [_load("passport", 30)])), NOW)) == {"passport"}


def test_no_desk_open_here_names_any_open_office_with_a_forecast() -> None:
    net = _network(("south", [_load("passport", 40)]))
    found = faster_at("north", [_load("passport", None, open_=0)], net, NOW)
    assert found["passport"].office == "south" and found["passport"].wait_min == 40


def test_closed_stale_or_appointment_only_offices_are_never_named() -> None:
    closed = _network(("south", [_load("passport", 5)]), now=NIGHT, at=NIGHT)
    assert closed.offices[0].open_now is False
    assert faster_at("north", [_load("passport", 90)], closed, NIGHT) == {}
    stale = _network(("south", [_load("passport", 5)]), at=NOW - STALE_AFTER - dt.timedelta(seconds=1))
    assert faster_at("north", [_load("passport", 90)], stale, NOW) == {}
    # notary is appointment-only in the demo office: its reading carries no forecast, so it is never named
    booked = _network(("south", [_load("notary", 5)]))
    assert booked.offices[0].services[0].wait_min is None
    assert faster_at("north", [_load("notary", 90)], booked, NOW) == {}
    # a forecast with no desk open there now (the predictor counts on one opening) is not a promise
    unstaffed = _network(("south", [_load("passport", 5, open_=0)]))
    assert faster_at("north", [_load("passport", 90)], unstaffed, NOW) == {}
    # and an appointment-only service here, or one whose calls stopped, gets no suggestion
    open_south = _network(("south", [_load("passport", 5)]))
    assert faster_at("north", [_load("passport", 90)], open_south, NOW, appointment_only=["passport"]) == {}
    assert faster_at("north", [_load("passport", 90, stopped=True)], open_south, NOW) == {}


def test_only_the_same_service_and_never_the_office_itself() -> None:
    net = _network(("north", [_load("passport", 1)]), ("south", [_load("birth", 1)]))
    assert faster_at("north", [_load("passport", 90)], net, NOW) == {}
    assert [o.office for o in others(net, "north").offices] == ["south"]


def test_with_faster_at_clears_an_old_suggestion_when_the_other_office_fills_up() -> None:
    own = [_load("passport", 60)]
    first = with_faster_at("north", own, _network(("south", [_load("passport", 10)])), NOW)
    assert first[0].faster_at is not None
    later = with_faster_at("north", first, _network(("south", [_load("passport", 55)])), NOW)
    assert later[0].faster_at is None


def test_open_now_follows_the_office_hours() -> None:
    cfg = _office("north", "ЦНАП")
    assert open_now(cfg, NOW) is True
    assert open_now(cfg, NIGHT) is False


def test_the_digest_of_a_thousand_office_network_fits_the_route_and_names_the_same_office() -> None:
    from cherga.broker_bridge.contract import MAX_REGION_PAYLOAD, NetworkOffice, NetworkService
    from cherga.server.region.network import digest

    services = [f"s{i}" for i in range(12)]
    offices = [NetworkOffice(office=f"o{n:04d}", names={"uk": f"ЦНАП {n}", "en": f"Office {n}"},
                             address={"uk": f"вул. Центральна, {n}", "en": f"{n} Central St"}, open_now=n % 10 != 0,
                             updated_at=NOW, services=[
                                 NetworkService(service=s, names={"uk": s}, waiting=(n * 7 + i) % 40, counters_open=n % 3,
                                                wait_min=(n * 13 + i * 5) % 90, wait_max_min=(n * 13 + i * 5) % 90 + 20)
                                 for i, s in enumerate(services)])
               for n in range(1000)]
    whole = network_load("country", offices, NOW)
    assert len(whole.to_bytes()) > MAX_REGION_PAYLOAD  # the whole network would not even fit the route
    own = [_load(s, 75) for s in services] + [_load("s0", None, open_=0)]
    for office in ("o0001", "o0500", "o0999"):
        small = digest(whole, office, NOW)
        assert len(small.to_bytes()) < MAX_REGION_PAYLOAD // 10
        assert office not in {o.office for o in small.offices}
        assert faster_at(office, own, small, NOW) == faster_at(office, own, whole, NOW)
        assert faster_at(office, own, small, NOW)  # and it does name offices
