"""A small network for the network page tests: two offices this server runs (north, south) and one with
its own server (east) whose hall state the region link holds; north's driver-licence queue is long,
south's desk for it is free."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from fastapi import FastAPI

from cherga.broker_bridge.contract import CounterAction, HallState, ServiceLoad
from cherga.server import auth
from cherga.server.app import create_app
from cherga.server.region.regionfile import Region, load_region
from cherga.server.store import sqlite_url
from tests.server.helpers import Clock, demo_dict

NAMES = {"north": {"uk": "ЦНАП Північний", "ru": "ЦПАУ Северный", "ky": "Түндүк борбору", "kk": "Солтүстік орталығы",
                   "en": "North office"},
         "south": {"uk": "ЦНАП Південний", "ru": "ЦПАУ Южный", "ky": "Түштүк борбору", "kk": "Оңтүстік орталығы",
                   "en": "South office"},
         "east": {"uk": "ЦНАП Східний", "ru": "ЦПАУ Восточный", "ky": "Чыгыш борбору", "kk": "Шығыс орталығы",
                  "en": "East office"}}
ADDRESS = {"north": {"uk": "вул. Соборна, 1", "ru": "ул. Соборная, 1", "ky": "Соборная көч., 1",
                     "kk": "Соборная к-сі, 1", "en": "1 Soborna St"},
           "south": {"uk": "просп. Миру, 25", "ru": "просп. Мира, 25", "ky": "Тынчтык пр., 25",
                     "kk": "Бейбітшілік даңғ., 25", "en": "25 Myru Ave"},
           "east": {"uk": "вул. Східна, 7", "ru": "ул. Восточная, 7", "ky": "Чыгыш көч., 7", "kk": "Шығыс к-сі, 7",
                    "en": "7 Skhidna St"}}


PINS = {"north": "1234", "south": "5678"}


class RegionLink:
    """What the region's intake exposes to the pages: the newest hall state of each remote office."""

    def __init__(self) -> None:
        self.states: dict[str, HallState] = {}
        self.published: dict[str, Any] = {}

    def hall_states(self) -> dict[str, HallState]:
        return dict(self.states)

    def publish_network(self, office: str, load: Any) -> None:
        self.published[office] = load


def write_region(folder: Path, *, passport_desks: int = 0) -> Region:
    """The three offices' configs and the region file in ``folder``; with ``passport_desks``, that many of
    counters c1..c3 serve passports only (a desk idle all hour then counts whole for passports)."""
    offices = []
    for oid, served in (("north", "region"), ("south", "region"), ("east", "own")):
        data = demo_dict()
        data["office"] = {**data["office"], "id": oid, "names": NAMES[oid]}
        for counter in data["counters"][:passport_desks]:
            counter["services"] = ["passport"]
        if passport_desks:
            data["counters"].append({"id": "c11", "number": "11", "services": ["foreign-passport"]})
        (folder / f"{oid}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        offices.append({"id": oid, "config": f"{oid}.yaml", "served_by": served, "address": ADDRESS[oid]})
    region = {"region": {"id": "city", "names": {"uk": "Місто", "ru": "Город", "ky": "Шаар", "kk": "Қала", "en": "City"}},
              "offices": offices}
    (folder / "region.yaml").write_text(yaml.safe_dump(region, allow_unicode=True), encoding="utf-8")
    return load_region(folder / "region.yaml")


def east_hall(at: dt.datetime, wait: int = 35) -> HallState:
    load = ServiceLoad(service="driver", names={"uk": "Водійське посвідчення"}, waiting=4, counters_open=1,
                       avg_wait_min=10.0, light="yellow", wait_min=wait, wait_max_min=wait + 20)
    return HallState(office="east", office_names=NAMES["east"], languages=["uk"], calls=[], load=[load],  # type: ignore[arg-type]
                     updated_at=at)


def network_app(folder: Path, clock: Clock) -> FastAPI:
    """North: counter 9 (the only desk for driver licences) open with eight waiting; south: counter 9 open, nobody waiting."""
    region = write_region(folder)
    app = create_app(region.served_here, sqlite_url(folder / "cherga.db"), clock=clock, sweep_interval=None)
    app.state.region = region
    link = RegionLink()
    link.states["east"] = east_hall(clock.now)
    app.state.region_link = link
    for office in ("north", "south"):
        svc = app.state.services[office]
        auth.create_account(app.state.store, username=f"{office}.op", role="operator", pin=PINS[office],
                            offices=[office])
        svc.counter_action(command_id=f"{office}-in", counter="c9", action=CounterAction.SIGN_IN, source="test",
                           pin=PINS[office])
    for i in range(8):
        app.state.services["north"].issue_ticket(command_id=f"n{i}", source="kiosk", service="driver")
    return app
