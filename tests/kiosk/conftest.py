"""Kiosk fixtures: the demo office as a kiosk sees it, a controllable clock, a printer emulator; and
what the screen tests share: the display modes a panel offers and the checks of what was drawn."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest
import yaml

from cherga.broker_bridge.contract import (
    LANGUAGES,
    BundleInfo,
    CategoryInfo,
    NodeConfig,
    ServiceInfo,
    TicketInfo,
)
from cherga.kiosk.emulator import EscPosEmulator
from cherga.kiosk.printer import PrinterConfig, TicketPrinter
from cherga.kiosk.ui.render import MIN_LABEL_PX, MIN_LARGE_PX, DrawnText, Frame, _font

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-office.yaml"


def demo_office_config(node: str = "kiosk-1", **ticket: object) -> NodeConfig:
    """The kiosk's slice of examples/demo-office.yaml, built the way the server would send it."""
    y = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    office = y["office"]
    return NodeConfig(
        node=node, role="kiosk", office=office["id"], office_names=office["names"],
        languages=office["languages"], timezone=office["timezone"], public_url=office["public_url"],
        services=[ServiceInfo(id=s["id"], prefix=s["prefix"], names=s["names"],
                              purposes=s.get("purposes", ["consult", "submit", "collect"]),
                              appointment_only=s.get("appointment_only", False)) for s in y["services"]],
        bundles=[BundleInfo(id=b["id"], names=b["names"], services=b["services"]) for b in y["bundles"]],
        categories=[CategoryInfo(id=c["id"], names=c["names"]) for c in y["priority_categories"]],
        offline_range=(900, 999),
        ticket={"paper_mm": 80, "footer": y["ticket"]["footer"], **ticket},
    )


def ticket_info(**fields: object) -> TicketInfo:
    base: dict[str, object] = dict(
        ticket_id="t-1", label="A-012", prefix="A", number=12, service="passport", purpose="submit",
        status="waiting", issued_at=dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC), language="ky",
        people_ahead=7, wait_min=25, status_url="http://127.0.0.1:8000/t/demo/Q7xK2pLm",
    )
    base.update(fields)
    return TicketInfo.model_validate(base)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


SIZES = [(1280, 800), (1080, 1920), (800, 480)]  # the touch panels a kiosk screen is drawn for


def display_modes(size: tuple[int, int]) -> Iterator[tuple[str, bool, bool]]:
    """(language, low reach, large text): every way a citizen may set up the screen on a panel of
    ``size``. Large text needs a panel of 1024x600 or more (docs/kiosk.md)."""
    for lang in LANGUAGES:
        for low in (False, True):
            for large in (False, True):
                if large and size == (800, 480):
                    continue
                yield lang, low, large


def overflowing(frame: Frame, large: bool) -> list[DrawnText]:
    """The labels of ``frame`` that leave their box or are drawn smaller than the mode allows."""
    minimum = MIN_LARGE_PX if large else MIN_LABEL_PX
    out = []
    for drawn in frame.texts:
        bx, by, bw, bh = drawn.box
        ux, uy, uw, uh = drawn.used
        fits = bx <= ux and ux + uw <= bx + bw and by <= uy and uy + uh <= by + bh
        if not fits or drawn.size < minimum:
            out.append(drawn)
    return out


def pixels_show(surface: pygame.Surface, drawn: DrawnText, bold: bool) -> bool:
    """Does the screen at ``drawn``'s place show exactly its text, drawn afresh?"""
    fnt = _font(drawn.size, bold)
    x, _, w, _ = drawn.box
    for i, line in enumerate(drawn.lines):
        expected = fnt.render(line, True, drawn.color, drawn.background)
        lx = x + (w - expected.get_width()) // 2
        rect = pygame.Rect(lx, drawn.used[1] + i * fnt.get_linesize(), expected.get_width(), expected.get_height())
        rect = rect.clip(surface.get_rect())
        got = surface.subsurface(rect)
        if pygame.image.tobytes(got, "RGB") != pygame.image.tobytes(expected.subsurface(
                pygame.Rect(0, 0, rect.width, rect.height)), "RGB"):
            return False
    return True


def is_bold(frame: Frame, element: str) -> bool:
    placed = next((p for p in frame.layout.buttons if p.button.id == element), None)
    return placed is None and element in ("title", "big") or (placed is not None and placed.button.kind != "mode")


@pytest.fixture(scope="module")
def pygame_headless() -> Iterator[None]:
    """pygame on the dummy video driver for one test module (a module asks with ``usefixtures``)."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    pygame.display.init()
    pygame.font.init()
    yield
    pygame.quit()


@pytest.fixture
def office() -> NodeConfig:
    return demo_office_config()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[EscPosEmulator]:
    with EscPosEmulator(out_dir=tmp_path / "printed") as emu:
        yield emu


@pytest.fixture
def serial_printer(emulator: EscPosEmulator) -> Iterator[TicketPrinter]:
    """A real python-escpos Serial printer writing to the emulator's pseudo-terminal."""
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=emulator.path, timeout=0.3))
    yield printer
    printer.close()
