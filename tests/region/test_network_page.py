"""The network load page and "faster at office X" (issue 21): what a citizen reads on /network, on an
office's own load page and in the hall state the kiosk draws from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES, NetworkLoad
from cherga.server.analytics.i18n import catalog
from tests.region.network_setup import ADDRESS, NAMES, east_hall, network_app
from tests.server.helpers import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    with TestClient(network_app(tmp_path, clock)) as c:
        yield c


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_network_page_lists_every_office_with_its_address_and_forecasts_in_each_language(
        client: TestClient, lang: str) -> None:
    r = client.get(f"/network?lang={lang}")
    assert r.status_code == 200
    body = r.text
    assert f'<html lang="{lang}">' in body
    assert catalog(lang)["network_title"] in body
    for office in ("north", "south", "east"):
        assert NAMES[office][lang] in body and ADDRESS[office][lang] in body
    north = body.split('data-office="north"')[1].split("</section>")[0]
    driver = north.split('data-service="driver"')[1].split("</tr>")[0]
    assert '<td class="waiting" data-label="' in driver and ">8</td>" in driver
    assert "passport" not in body or "data-service=\"passport\"" in body  # ids only as attributes, never as text
    east = body.split('data-office="east"')[1].split("</section>")[0]
    assert "≈ 35" in east  # the remote office's forecast from its hall state


def test_a_remote_office_not_heard_from_lately_shows_no_numbers_but_says_so(client: TestClient, clock: Clock) -> None:
    clock.advance(11 * 60)  # east's hall state is now 11 minutes old
    client.app.state.network.latest = None  # type: ignore[attr-defined]
    body = client.get("/network?lang=uk").text
    east = body.split('data-office="east"')[1].split("</section>")[0]
    assert catalog("uk")["network_no_data"] in east and "≈ 35" not in east


def test_network_json_is_the_network_load_the_offices_receive(client: TestClient) -> None:
    r = client.get("/network.json")
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    load = NetworkLoad.model_validate(r.json())
    assert [o.office for o in load.offices] == ["north", "south", "east"]
    north = {s.service: s for s in load.offices[0].services}
    assert north["driver"].waiting == 8 and north["driver"].counters_open == 1
    assert north["notary"].wait_min is None  # appointment only: nothing to recommend
    # the office with its own server got its copy, without itself
    link = client.app.state.region_link  # type: ignore[attr-defined]
    assert [o.office for o in link.published["east"].offices] == ["north", "south"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_long_queue_office_names_the_faster_office_on_its_load_page_and_hall_state(
        client: TestClient, lang: str) -> None:
    client.get("/network.json")  # the region reads every office and tells each the others' load
    hall = client.app.state.services["north"].hall_state()  # type: ignore[attr-defined]
    driver = {s.service: s for s in hall.load}["driver"]
    assert driver.faster_at is not None and driver.faster_at.office == "south"
    assert driver.wait_min is not None and driver.faster_at.wait_min <= driver.wait_min - 15
    body = client.get(f"/load/north?lang={lang}").text
    expected = catalog(lang)["faster_at"].format(office=NAMES["south"][lang], address=ADDRESS["south"][lang],
                                                 n=driver.faster_at.wait_min)
    assert expected in body
    feed = client.get("/load/north/feed.json").json()
    assert {s["service"]: s for s in feed["services"]}["driver"]["faster_at"]["office"] == "south"
    # south, with nobody waiting, is pointed nowhere
    south = client.get(f"/load/south?lang={lang}").text
    assert catalog(lang)["faster_at"].split("{")[0].strip() not in south.split("<tbody>")[1]


def test_when_the_faster_office_closes_its_desk_the_suggestion_goes(client: TestClient) -> None:
    from cherga.broker_bridge.contract import CounterAction

    client.get("/network.json")
    north = client.app.state.services["north"]  # type: ignore[attr-defined]
    assert {s.service: s for s in north.hall_state().load}["driver"].faster_at is not None
    client.app.state.services["south"].counter_action(  # type: ignore[attr-defined]
        command_id="south-out", counter="c9", action=CounterAction.SIGN_OUT, source="test")
    link = client.app.state.region_link  # type: ignore[attr-defined]
    link.states["east"] = east_hall(link.states["east"].updated_at, wait=90)  # and east is as full as north
    client.app.state.network.refresh()  # type: ignore[attr-defined]
    assert {s.service: s for s in north.hall_state().load}["driver"].faster_at is None
