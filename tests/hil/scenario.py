"""Scenario steps the HIL tests share: what a citizen, an operator and the hall do, and what they see."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image, ImageChops, ImageStat
from pyzbar.pyzbar import decode as decode_qr

from cherga.office import Office
from tests.support.wait import WAIT_S, wait_until

T = TypeVar("T")
#: what a node's control socket or the server's API raise while it is not up (again) yet
NOT_UP_YET = (OSError, RuntimeError)


def wait_office(predicate: Callable[[], T | None], timeout: float = WAIT_S, *,
                what: str | Callable[[], str]) -> T:
    """:func:`~tests.support.wait.wait_until` on the office's processes: one not up yet counts as "not yet"."""
    return wait_until(predicate, timeout, what=what, ignoring=NOT_UP_YET)


def take_ticket(office: Office, kiosk: str, service: str, *, lang: str = "uk", purpose: str | None = None,
                priority: str = "none") -> dict[str, Any]:
    """A citizen taps language → service → purpose → priority; returns the kiosk's view after it."""
    k = office.node(kiosk)
    before = len(k.call("issued"))

    def tap(button: str) -> dict[str, Any]:
        k.call("tap", button_id=button)
        time.sleep(0.4)  # a person's pace: the kiosk ignores taps closer than that (double-tap guard)
        view: dict[str, Any] = k.call("view")
        return view

    # The previous citizen's ticket may still be on screen: they walked away with it.
    def dismissed() -> bool:
        current = k.call("view")
        if current and current["screen"] in ("ticket", "message"):
            tap("done" if current["screen"] == "ticket" else "back")
            return False
        return True

    wait_office(dismissed, what=f"{kiosk} back at its start screen")
    # The first tap waits for the kiosk to have its office config and to take taps (a fresh
    # screen ignores taps for a moment, like a person's accidental double touch).
    view = wait_office(lambda: (v := tap(f"lang:{lang}"))["screen"] != "language" and v,
                       what=f"{kiosk} taking the language tap")
    while f"service:{service}" not in [b[0] for b in view["buttons"]]:
        if "page:next" not in [b[0] for b in view["buttons"]]:
            raise AssertionError(f"service {service} not offered on the kiosk: {view['buttons']}")
        view = tap("page:next")
    view = tap(f"service:{service}")
    if view["screen"] == "purpose":
        view = tap(f"purpose:{purpose}" if purpose else view["buttons"][0][0])
    if view["screen"] == "priority":
        view = tap(f"priority:{priority}")
    if view["screen"] == "confirm":
        view = tap("confirm")
    # The kiosk counts the ticket issued when the server answers, and shows it once it is printed:
    # on a busy machine the two are seconds apart, so wait for the screen the citizen sees.
    def shown() -> dict[str, Any] | None:
        view: dict[str, Any] = k.call("view")
        if view["screen"] == "message" or (view["screen"] == "ticket" and len(k.call("issued")) > before):
            return view
        return None

    return wait_office(shown, what=f"a ticket on {kiosk}'s screen")


def printed_ticket(office: Office, kiosk: str, count: int, artifacts: Path | None = None) -> Any:
    """The ``count``-th ticket out of ``kiosk``'s printer (waits for it); saved to the artefacts."""
    tickets = office.printers[kiosk].wait_for_tickets(count, timeout=WAIT_S)
    ticket = tickets[count - 1]
    if artifacts is not None:
        ticket.image.save(artifacts / f"{kiosk}-ticket-{count}.png")
    return ticket


def qr_payloads(image: Image.Image) -> list[str]:
    return [r.data.decode() for r in decode_qr(image.convert("L"))]


def sign_in(office: Office, pad: str, pin: str) -> None:
    office.node(pad).call("keys", keys=f"{pin}#")
    wait_office(lambda: office.node(pad).call("view")["leds"]["idle"] == "on", what=f"{pad} signed in")


def press(office: Office, pad: str, button: str) -> dict[str, Any]:
    office.node(pad).call("press", button=button)
    time.sleep(0.3)
    view: dict[str, Any] = office.node(pad).call("view")
    return view


def screenshot(office: Office, node: str, path: Path) -> Image.Image:
    office.node(node).call("screenshot", path=str(path))
    return Image.open(path).convert("RGB")


def differs(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute pixel difference (0..255): how much a screen changed."""
    diff = ImageChops.difference(a.convert("L"), b.convert("L"))
    return float(ImageStat.Stat(diff).mean[0])


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
