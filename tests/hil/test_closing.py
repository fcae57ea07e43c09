"""Closing time end to end (issue 20): the real kiosk process, the real bridge over Mosquitto and the
real server, with ``closing.warn_walk_ins``. A walk-in the forecast says will not be seen before the
service closes is told so on the kiosk in their language before anything prints, with the earliest
free booking; "take a ticket anyway" prints it.

The office's hours are made from the wall clock: open since an hour ago, closing 20 minutes from
now, in a time zone where that is all within today.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from cherga.kiosk.i18n import text
from cherga.office import Office
from tests.hil.scenario import printed_ticket, take_ticket, wait_office

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ZONES = ("UTC", "Asia/Bishkek", "America/New_York", "Asia/Tokyo", "Europe/Kyiv")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def closing_soon(tmp: Path) -> tuple[Path, str]:
    """The demo office closing 20 minutes from now (HH:MM, office time), driving licences taking 45
    minutes a visit on their one desk: the first walk-in is seen at once, the second not before closing."""
    now = dt.datetime.now(dt.UTC)
    zone = next(z for z in ZONES if 2 <= now.astimezone(ZoneInfo(z)).hour <= 21)
    local = now.astimezone(ZoneInfo(zone))
    opened = (local - dt.timedelta(hours=1)).strftime("%H:%M")
    closes = (local + dt.timedelta(minutes=20)).strftime("%H:%M")
    data: dict[str, Any] = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    data["office"]["timezone"] = zone
    data["hours"] = {"days": dict.fromkeys(DAYS, [{"start": opened, "end": closes}]), "breaks": []}
    for s in data["services"]:
        s.pop("hours", None)
        s.pop("daily_cap", None)
        if s["id"] == "driver":
            s["mean_service_min"] = 45
    data.pop("closing", None)  # the default: walk-ins are warned
    path = tmp / "closing-soon.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path, closes


def ask_for_a_ticket(office: Office, service: str) -> dict[str, Any]:
    """A citizen on kiosk-1 taps through to ``service`` (Ukrainian) and waits for the kiosk's answer,
    whatever screen it is (take_ticket waits for a ticket or a refusal only)."""
    k = office.node("kiosk-1")

    def tap(button: str) -> dict[str, Any]:
        k.call("tap", button_id=button)
        time.sleep(0.4)  # a person's pace: the kiosk ignores taps closer than that
        view: dict[str, Any] = k.call("view")
        return view

    def at_start() -> bool:
        screen = k.call("view")["screen"]
        if screen == "ticket":
            tap("done")  # the previous citizen walked away with their ticket
        return screen in ("language", "services")

    wait_office(at_start, what="kiosk-1 back at its start screen")
    view = wait_office(lambda: (v := tap("lang:uk"))["screen"] == "services" and v, what="the language tap")
    while f"service:{service}" not in [b[0] for b in view["buttons"]]:
        assert "page:next" in [b[0] for b in view["buttons"]], f"{service} is not offered: {view['buttons']}"
        view = tap("page:next")
    view = tap(f"service:{service}")
    if view["screen"] == "purpose":
        view = tap(view["buttons"][0][0])
    if view["screen"] == "priority":
        view = tap("priority:none")
    answered: dict[str, Any] = wait_office(lambda: (v := k.call("view"))["screen"] != "issuing" and v,
                                           what="the kiosk's answer")
    return answered


def test_a_walk_in_past_closing_is_asked_on_the_kiosk_and_may_take_a_ticket_anyway(
        office_factory: Callable[..., Office], artifacts: Path, tmp_path: Path) -> None:
    """GIVEN an office closing in 20 minutes whose one driver-licence desk takes 45 minutes a visit
    WHEN a first citizen takes a driver-licence ticket, then a second one
    THEN the first prints; the second sees, in Ukrainian, that the service closes at HH:MM and a new
    ticket will likely not be called today, with "take a ticket anyway" — nothing printed — and tapping
    it prints the ticket."""
    config, closes = closing_soon(tmp_path)
    with office_factory(config, always_open=False) as office:
        first = take_ticket(office, "kiosk-1", "driver", lang="uk")
        assert first["screen"] == "ticket" and first["big"] == "L-001"
        printed_ticket(office, "kiosk-1", 1, artifacts)

        asked = ask_for_a_ticket(office, "driver")
        kiosk = office.node("kiosk-1")
        assert asked["screen"] == "closing", asked
        assert asked["title"] == text("uk", "reason.not_before_closing", closing=closes)
        assert asked["lines"][0] == "Посвідчення водія"
        assert any(line.startswith("Найближчий вільний попередній запис: ") for line in asked["lines"][1:])
        buttons = [b[0] for b in asked["buttons"]]
        assert "anyway" in buttons and "back" in buttons
        assert (text("uk", "take_anyway")) in [b[1] for b in asked["buttons"]]
        time.sleep(1.0)
        assert len(office.printers["kiosk-1"].tickets) == 1  # nothing printed for the question
        kiosk.call("screenshot", path=str(artifacts / "kiosk-closing.png"))

        kiosk.call("tap", button_id="anyway")
        shown = wait_office(lambda: (v := kiosk.call("view"))["screen"] == "ticket" and v,
                            what="the insisted ticket on the kiosk's screen")
        assert shown["big"] == "L-002"
        printed_ticket(office, "kiosk-1", 2, artifacts)
