"""Network reports for managers (issue 21): /reports/network sums the offices the account may see, puts
them side by side, and advises where desks should move, in five languages.

Two hours of a Wednesday morning are played through the real services: north has three passport desks
open for two visitors an hour (one would do), south one desk for twenty an hour (five are needed)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cherga.broker_bridge.contract import LANGUAGES, CounterAction
from cherga.server import auth
from cherga.server.analytics.i18n import catalog
from cherga.server.app import create_app
from cherga.server.service import OfficeService
from cherga.server.store import sqlite_url
from tests.region.network_setup import NAMES, write_region
from tests.server.helpers import Clock

PASSWORD = "manager-secret-1"
DESKS = {"north": ["c1", "c2", "c3"], "south": ["c1"]}
EVERY_MIN = {"north": 30, "south": 3}  # a passport ticket every so many minutes
VISIT_MIN = 10


def _play(services: dict[str, OfficeService], clock: Clock, minutes: int) -> dict[str, int]:
    issued = {o: 0 for o in services}
    started: dict[tuple[str, str], dt.datetime] = {}
    ids = iter(range(10**6))
    for office, svc in services.items():
        for c in DESKS[office]:
            auth.create_account(svc.store, username=f"{office}-{c}", role="operator", password=PASSWORD,
                                offices=[office])
            svc.counter_action(command_id=f"in-{office}-{c}", counter=c, action=CounterAction.SIGN_IN,
                               source="test", operator=f"{office}-{c}", authenticated=True)
    for minute in range(minutes):
        for office, svc in services.items():
            if minute % EVERY_MIN[office] == 0:
                svc.issue_ticket(command_id=f"t{next(ids)}", source="kiosk", service="passport")
                issued[office] += 1
            for c in DESKS[office]:
                state = svc.counter_state(c)
                if state.status == "serving" and clock.now - started[(office, c)] >= dt.timedelta(minutes=VISIT_MIN):
                    svc.counter_action(command_id=f"f{next(ids)}", counter=c, action=CounterAction.FINISH, source="test")
                    state = svc.counter_state(c)
                if state.status == "idle" and state.waiting:
                    svc.counter_action(command_id=f"n{next(ids)}", counter=c, action=CounterAction.NEXT, source="test")
                    svc.counter_action(command_id=f"s{next(ids)}", counter=c, action=CounterAction.START, source="test")
                    started[(office, c)] = clock.now
        clock.advance(60)
    return issued


def _played_region(folder: Path) -> tuple[FastAPI, Clock, dict[str, int]]:
    """The region's two served offices after two hours of a Wednesday morning, with a regional admin."""
    region = write_region(folder, passport_desks=3)
    clock = Clock()
    app = create_app(region.served_here, sqlite_url(folder / "cherga.db"), clock=clock, sweep_interval=None)
    app.state.region = region
    issued = _play(app.state.services, clock, 120)
    auth.create_account(app.state.store, username="regional", role="admin", password=PASSWORD)
    return app, clock, issued


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int]]]:
    app, _, issued = _played_region(tmp_path_factory.mktemp("network-reports"))
    store = app.state.store
    auth.create_account(store, username="north.manager", role="hall_manager", password=PASSWORD, offices=["north"])
    with TestClient(app) as c:
        yield c, issued


def _bearer(client: TestClient, user: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _table(body: str, name: str) -> str:
    return body.split(f'data-table="{name}"')[1].split("</table>")[0]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_regional_account_sees_every_office_summed_side_by_side_and_the_advice(
        played: tuple[TestClient, dict[str, int]], lang: str) -> None:
    client, issued = played
    r = client.get(f"/reports/network?lang={lang}&from=2026-11-25&to=2026-11-25", headers=_bearer(client, "regional"))
    assert r.status_code == 200, r.text
    t = catalog(lang)
    side = _table(r.text, "offices_side_by_side")
    assert NAMES["north"][lang] in side and NAMES["south"][lang] in side
    rows = side.split("<tbody>")[1].split("</tr>")
    north_row = next(row for row in rows if NAMES["north"][lang] in row)
    assert f'<td class="int">{issued["north"]}</td>' in north_row  # the first count column: tickets issued
    summary = _table(r.text, "summary")
    assert f'<td class="int">{issued["north"] + issued["south"]}</td>' in summary  # summed over the offices
    rotation = r.text.split('id="t-rotation"')[1].split("</section>")[0]
    assert t["rotation_title"] in rotation and "<li>" in rotation
    line = rotation.split("<li>")[1].split("</li>")[0]
    # from the idle office to the short one, on Wednesday mornings, for the service both offer
    assert line.index(NAMES["north"][lang]) < line.index(NAMES["south"][lang])
    assert t["weekday_wed"] in line and "10:00–12:00" in line


def test_an_office_manager_sees_only_their_offices_and_no_move_to_advise(
        played: tuple[TestClient, dict[str, int]]) -> None:
    client, issued = played
    r = client.get("/reports/network?lang=en&from=2026-11-25&to=2026-11-25", headers=_bearer(client, "north.manager"))
    assert r.status_code == 200
    side = _table(r.text, "offices_side_by_side")
    assert NAMES["north"]["en"] in side and NAMES["south"]["en"] not in side
    assert f'<td class="int">{issued["north"]}</td>' in _table(r.text, "summary")
    assert catalog("en")["rotation_none"] in r.text
    # and the side-by-side table exports like any other
    csv = client.get("/reports/network/export.csv?table=offices_side_by_side&from=2026-11-25&to=2026-11-25&lang=en",
                     headers=_bearer(client, "north.manager"))
    assert csv.status_code == 200 and "North office" in csv.text and "South office" not in csv.text


def test_the_network_reports_want_a_manager_signed_in(played: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = played
    assert client.get("/reports/network", follow_redirects=False).status_code == 303  # the sign-in page first
    r = client.post("/api/v1/auth/login", json={"username": "north-c1", "password": PASSWORD})
    operator = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/reports/network", headers=operator).status_code == 403


def test_the_side_by_side_figures_are_the_ones_each_office_report_shows(
        played: tuple[TestClient, dict[str, int]]) -> None:
    """The side-by-side table (SQL over the events) and each office's own summary (the hourly cells) agree."""
    client, _ = played
    headers = _bearer(client, "regional")
    network = client.get("/reports/network?lang=en&from=2026-11-25&to=2026-11-25", headers=headers).text
    side = _table(network, "offices_side_by_side").split("<tbody>")[1]
    for office in ("north", "south"):
        own = client.get(f"/reports/{office}?lang=en&from=2026-11-25&to=2026-11-25&group=none&period=total",
                         headers=headers).text
        cells = _table(own, "summary").split("<tbody>")[1].split("</tr>")[0].split("<td")[1:]
        issued, served, no_show = (c.split(">")[1].split("<")[0] for c in cells[:3])
        row = next(r for r in side.split("</tr>") if NAMES[office]["en"] in r).split("<td")[2:5]
        assert [c.split(">")[1].split("<")[0] for c in row] == [issued, served, no_show], office


@pytest.fixture(scope="module")
def day_after(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, int]]]:
    """The same Wednesday morning, read on Thursday: the network report reads the day summaries."""
    app, clock, issued = _played_region(tmp_path_factory.mktemp("network-reports-closed"))
    clock.advance(24 * 3600)
    with TestClient(app) as c:
        yield c, issued


def _rows(body: str, name: str) -> list[list[str]]:
    rows = _table(body, name).split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
    return [[c.split(">", 1)[1].split("<")[0] for c in r.split("<td")[1:]] for r in rows if "<td" in r]


@pytest.mark.parametrize("query", ["period=total&group=service", "period=day&group=none",
                                   "period=total&group=office"])
def test_a_closed_days_network_report_is_the_offices_reports_summed(
        day_after: tuple[TestClient, dict[str, int]], query: str) -> None:
    """Read the next day, the network's tables come from the day summaries; every figure (counts, mean,
    median, 90th percentile and longest wait, visit lengths) equals the report over both offices' hourly
    cells (/reports/all), and its counts the two offices' own reports added up."""
    client, issued = day_after
    headers = _bearer(client, "regional")
    span = "from=2026-11-25&to=2026-11-25&lang=en"
    network = client.get(f"/reports/network?{span}&{query}", headers=headers)
    both = client.get(f"/reports/all?{span}&{query}", headers=headers)
    assert network.status_code == 200 and both.status_code == 200, network.text
    assert _rows(network.text, "summary") == _rows(both.text, "summary")
    own = [_rows(client.get(f"/reports/{o}?{span}&period=total&group=none", headers=headers).text, "summary")[0]
           for o in ("north", "south")]
    total = _rows(client.get(f"/reports/network?{span}&period=total&group=none", headers=headers).text, "summary")[0]
    assert [int(v) for v in total[:5]] == [int(a) + int(b) for a, b in zip(own[0][:5], own[1][:5], strict=True)]
    assert int(total[0]) == issued["north"] + issued["south"]


def test_a_closed_days_network_report_gives_the_same_advice(day_after: tuple[TestClient, dict[str, int]]) -> None:
    client, _ = day_after
    r = client.get("/reports/network?lang=uk&from=2026-11-25&to=2026-11-25", headers=_bearer(client, "regional"))
    rotation = r.text.split('id="t-rotation"')[1].split("</section>")[0]
    line = rotation.split("<li>")[1].split("</li>")[0]
    assert line.index(NAMES["north"]["uk"]) < line.index(NAMES["south"]["uk"])
    assert catalog("uk")["weekday_wed"] in line and "10:00–12:00" in line
    # hours of the day come from the hourly cells (the summaries have none): still there
    hourly = client.get("/reports/network?lang=uk&from=2026-11-25&to=2026-11-25&period=hour_of_day",
                        headers=_bearer(client, "regional"))
    assert hourly.status_code == 200 and "10:00" in _table(hourly.text, "summary")


def test_an_office_log_arriving_the_day_after_counts_in_the_folded_day(
        day_after: tuple[TestClient, dict[str, int]]) -> None:
    """East (own server) uploads Wednesday's tickets on Thursday in two parts, the second after Wednesday
    was folded: the network report counts both (the late event is newer than the day's fold head)."""
    from cherga.broker_bridge.contract import LoggedEvent
    from cherga.server.region.eventlog import store_batch

    client, _ = day_after
    app = client.app
    store = app.state.store  # type: ignore[attr-defined]
    now = app.state.clock()  # type: ignore[attr-defined]
    wednesday = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)

    def upload(seq: int) -> None:
        event = LoggedEvent(seq=seq, kind="issued", ticket_id=f"east-{seq}", service="passport",
                            at=wednesday + dt.timedelta(minutes=seq), data={"origin": "walk_in"})
        store_batch(store, "east", seq - 1, [event], now)

    def east_issued() -> int:
        r = client.get("/reports/network?lang=en&from=2026-11-25&to=2026-11-25", headers=_bearer(client, "regional"))
        assert r.status_code == 200, r.text
        return int(next(row for row in _rows(r.text, "offices_side_by_side") if row[0] == NAMES["east"]["en"])[1])

    upload(1)
    assert east_issued() == 1  # folds Wednesday for east
    upload(2)
    assert east_issued() == 2


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_manager_of_an_office_with_its_own_server_reads_the_network_reports_here(
        played: tuple[TestClient, dict[str, int]], lang: str) -> None:
    """East runs its own server; its manager signs in on the region server, reads the network reports for
    east (and no other office), and the operator panel here says in their language why it is not theirs."""
    client, _ = played
    store = client.app.state.store  # type: ignore[attr-defined]
    user = f"east.manager.{lang}"
    auth.create_account(store, username=user, role="hall_manager", password=PASSWORD, offices=["east"])
    client.cookies.clear()
    r = client.post(f"/reports/signin?lang={lang}", data={"username": user, "password": PASSWORD, "next": "/reports"},
                    headers={"Accept-Language": lang}, follow_redirects=True)
    assert r.status_code == 200, r.text
    assert str(r.url).split("?")[0].endswith("/reports/network")  # not an office served here: the network's
    side = _table(r.text, "offices_side_by_side")
    assert NAMES["east"][lang] in side and NAMES["north"][lang] not in side
    api = client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert api.status_code == 200, api.text  # a token for the reports' API
    headers = {"Authorization": f"Bearer {api.json()['token']}"}
    assert client.get("/reports/network?lang=en", headers=headers).status_code == 200
    assert client.get("/reports/north?lang=en", headers=headers).status_code == 403
    client.cookies.clear()
    panel = client.post("/panel/signin", data={"username": user, "password": PASSWORD, "lang": lang,
                                              "office": "north", "counter": "none"})
    assert panel.status_code == 403
    from cherga.server.panel.i18n import catalog as panel_catalog
    assert panel_catalog(lang)["error_office_remote"] in html.unescape(panel.text)


def test_the_network_reports_list_bookings_two_offices_acted_on(played: tuple[TestClient, dict[str, int]]) -> None:
    """East (own server, uploading its log) checked in and served a booking made at north: the regional
    account reads the conflict in five languages with east's ticket; north's manager reads it with east as
    "another office" and no ticket label; south's manager, whose office it does not touch, reads none."""
    from cherga.broker_bridge.contract import LoggedEvent
    from cherga.server.region.eventlog import cursor_of, store_batch

    client, _ = played
    app = client.app
    store = app.state.store  # type: ignore[attr-defined]
    at = dt.datetime(2026, 11, 25, 9, 5, tzinfo=dt.UTC)
    after = cursor_of(store, "east")
    events = [LoggedEvent(seq=after + 1, kind="issued", ticket_id="east-t1", service="passport", at=at,
                          data={"appointment": "K7Q2", "booked_at": "north", "slot": "2026-11-25T09:00:00+00:00",
                                "label": "П-007", "origin": "appointment"}),
              LoggedEvent(seq=after + 2, kind="called", ticket_id="east-t1", service="passport", counter="c1",
                          at=at + dt.timedelta(minutes=2), data={"waited_s": 120}),
              LoggedEvent(seq=after + 3, kind="finished", ticket_id="east-t1", service="passport", counter="c1",
                          at=at + dt.timedelta(minutes=12))]
    store_batch(store, "east", after, events, at)
    span = "from=2026-11-25&to=2026-11-25"
    for lang in LANGUAGES:
        t = catalog(lang)
        r = client.get(f"/reports/network?lang={lang}&{span}", headers=_bearer(client, "regional"))
        section = html.unescape(r.text.split('id="t-conflicts"')[1].split("</section>")[0])
        assert t["conflicts_title"] in section
        line = section.split("<li>")[1].split("</li>")[0]
        assert "K7Q2" in line and "П-007" in line and NAMES["east"][lang] in line and NAMES["north"][lang] in line
        assert t["conflict_outcome_served"] in line
    r = client.get(f"/reports/network?lang=en&{span}", headers=_bearer(client, "north.manager"))
    line = html.unescape(r.text.split('id="t-conflicts"')[1].split("</section>")[0]).split("<li>")[1]
    assert "K7Q2" in line and catalog("en")["conflict_other_office"] in line
    assert "П-007" not in line and NAMES["east"]["en"] not in line
    auth.create_account(store, username="south.manager", role="hall_manager", password=PASSWORD, offices=["south"])
    r = client.get(f"/reports/network?lang=en&{span}", headers=_bearer(client, "south.manager"))
    assert catalog("en")["conflicts_none"] in r.text and "K7Q2" not in r.text


def test_the_closed_days_are_folded_in_the_background_once_a_day(tmp_path: Path) -> None:
    """The network watch folds yesterday (and the week before) of every office of the region once a UTC
    day; the network report then has nothing left to fold."""
    from sqlalchemy import select

    from cherga.server.analytics.store import refresh_network
    from cherga.server.db import schema
    from cherga.server.region.pages import NetworkWatch

    region = write_region(tmp_path, passport_desks=3)
    clock = Clock()
    app = create_app(region.served_here, sqlite_url(tmp_path / "cherga.db"), clock=clock, sweep_interval=None)
    app.state.region = region
    issued = _play(app.state.services, clock, 30)
    clock.advance(24 * 3600)
    watch = NetworkWatch(app)
    assert watch.fold_closed_days() == 3 * 7  # north, south and east (nothing sent), a week each
    assert watch.fold_closed_days() == 0  # once a day
    store = app.state.store
    with store.reading() as conn:
        folded = set(conn.execute(select(schema.analytics_days.c.office, schema.analytics_days.c.day)).all())
    assert ("north", dt.date(2026, 11, 25)) in folded and ("east", dt.date(2026, 11, 25)) in folded
    zones = {o: cfg.office.tz for o, cfg in region.configs.items()}
    day = dt.date(2026, 11, 25)
    assert refresh_network(store, zones, day, {o: day for o in zones}) == 0
    r = TestClient(app)
    auth.create_account(store, username="regional", role="admin", password=PASSWORD)
    page = r.get("/reports/network?lang=en&from=2026-11-25&to=2026-11-25&group=none&period=total",
                 headers=_bearer(r, "regional"))
    assert int(_rows(page.text, "summary")[0][0]) == issued["north"] + issued["south"]
