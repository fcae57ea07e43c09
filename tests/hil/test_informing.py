"""Hardware-in-the-loop: a service's information reaches a real kiosk node (issue 18).

The server's bridge publishes the kiosk's retained config built from examples/demo-office.yaml;
the kiosk process (pygame on the dummy driver, printer emulator) shows "what do I need?" with the
documents in the citizen's language, and "get a ticket" from there prints a ticket.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cherga.office import Office
from cherga.server.siteconfig import load_site_config
from tests.hil.scenario import printed_ticket, screenshot, wait_office

pytestmark = pytest.mark.slow
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-office.yaml"


@pytest.mark.emulated_only
def test_the_kiosk_node_shows_what_to_bring_in_kyrgyz_and_then_prints_the_ticket(
        office: Office, artifacts: Path) -> None:
    """GIVEN a whole office WHEN a citizen taps Kyrgyz, birth registration, "what do I need?"
    THEN the kiosk lists where to go and each document in Kyrgyz, and "get a ticket" prints one."""
    birth = load_site_config(DEMO).service("birth")
    assert birth.info is not None and birth.info.where is not None
    kiosk = office.node("kiosk-1")

    def tap(button: str) -> dict[str, Any]:
        kiosk.call("tap", button_id=button)
        time.sleep(0.4)  # a person's pace: the kiosk ignores taps closer than that
        view: dict[str, Any] = kiosk.call("view")
        return view

    wait_office(lambda: tap("lang:ky")["screen"] == "services", what="kiosk-1 taking the language tap")
    view = tap("service:birth")
    assert "info" in [b[0] for b in view["buttons"]], view["buttons"]
    view = tap("info")
    assert view["screen"] == "info"
    assert view["lines"][0] == f"Кайда: {birth.info.where.ky}"
    assert [f"• {d.ky}" for d in birth.info.documents] == view["lines"][1:1 + len(birth.info.documents)]
    screenshot(office, "kiosk-1", artifacts / "kiosk-info-ky.png")

    view = tap("take")
    if view["screen"] == "priority":
        view = tap("priority:none")
    ticket = printed_ticket(office, "kiosk-1", 1, artifacts)
    assert ticket is not None
    shown = wait_office(lambda: (v := kiosk.call("view"))["screen"] == "ticket" and v, what="the ticket on screen")
    assert shown["big"].startswith("D-")
