"""Every kiosk screen in every language, drawn by pygame on the dummy video driver and checked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest

from cherga.broker_bridge.contract import LANGUAGES, NodeConfig
from cherga.kiosk.i18n import text
from cherga.kiosk.ui.layout import MIN_TARGET, hit
from cherga.kiosk.ui.render import (
    Renderer,
    taps_from_event,
)
from cherga.kiosk.ui.state import KioskState, QueueLoad, Screen
from tests.kiosk.conftest import (
    SIZES,
    FakeClock,
    demo_office_config,
    display_modes,
    is_bold,
    overflowing,
    pixels_show,
    ticket_info,
)

pytestmark = pytest.mark.usefixtures("pygame_headless")


def screens(office: NodeConfig, lang: str, *, low_reach: bool = False, large_text: bool = False
            ) -> Iterator[tuple[str, KioskState]]:
    """Walk a fresh kiosk to each screen in ``lang`` and yield it there."""
    clock = FakeClock()

    def fresh() -> KioskState:
        s = KioskState(office, clock=clock)
        if low_reach:
            clock.advance(1)
            s.press("mode:low_reach")
        if large_text:
            clock.advance(1)
            s.press("mode:large_text")
        return s

    def go(s: KioskState, *buttons: str) -> KioskState:
        for b in buttons:
            clock.advance(1)
            s.press(b)
        return s

    s = fresh()
    yield "language", s
    yield "services", go(fresh(), f"lang:{lang}")
    yield "services-page-2", go(fresh(), f"lang:{lang}", "page:next")
    yield "purpose", go(fresh(), f"lang:{lang}", "service:passport")
    yield "priority", go(fresh(), f"lang:{lang}", "service:passport", "purpose:submit")
    s = fresh()
    s.set_load({"passport": QueueLoad(31, 57, 84)})
    yield "confirm", go(s, f"lang:{lang}", "service:passport", "purpose:submit", "priority:none")
    s = go(fresh(), f"lang:{lang}", "appointment", "key:K", "key:7")
    yield "checkin", s
    yield "issuing", go(fresh(), f"lang:{lang}", "service:passport", "purpose:submit", "priority:none")
    s = go(fresh(), f"lang:{lang}")
    s.issued(ticket_info(language=lang, counter_number="7"), printed=True)
    yield "ticket", s
    s = go(fresh(), f"lang:{lang}")
    s.issued(ticket_info(language=lang), printed=False)
    yield "ticket-printer-fault", s
    s = go(fresh(), f"lang:{lang}")
    s.refused("daily_cap_reached")
    yield "message", s


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_screen_in_every_language_shows_its_words(lang: str, tmp_path: Path) -> None:
    office = demo_office_config()
    size = (1280, 800)
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    for name, state in screens(office, lang):
        view = state.view()
        frame = renderer.draw(surface, view)
        pygame.image.save(surface, str(tmp_path / f"{lang}-{name}.png"))
        assert frame.texts, name
        for drawn in frame.texts:
            assert pixels_show(surface, drawn, is_bold(frame, drawn.element)), (lang, name, drawn.element)
        # the words are the chosen language's words
        if name.startswith("services"):
            assert frame.text_of("title").text == text(lang, "choose_service")
            assert frame.text_of("appointment").text == text(lang, "appointment")
        if name == "purpose":
            assert frame.text_of("purpose:submit").text == text(lang, "purpose.submit")
        if name == "ticket-printer-fault":
            assert frame.text_of("title").text == text(lang, "printer_fault")
            assert frame.text_of("big").text == "A-012"
            assert frame.layout.qr is not None
            qx, qy, qw, qh = frame.layout.qr
            dark = sum(1 for px in range(qx, qx + qw, 4) for py in range(qy, qy + qh, 4)
                       if surface.get_at((px, py))[0] < 60)
            assert dark > 50  # a QR code, not an empty box
        if name == "message":
            assert frame.text_of("title").text == text(lang, "reason.daily_cap_reached")
    assert len(list(tmp_path.glob("*.png"))) == 11


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_label_overflows_its_button_in_any_language_or_mode(size: tuple[int, int]) -> None:
    office = demo_office_config()
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    problems: list[str] = []
    for lang, low_reach, large_text in display_modes(size):
        for name, state in screens(office, lang, low_reach=low_reach, large_text=large_text):
            frame = renderer.draw(surface, state.view())
            problems += [f"{lang} {name} low={low_reach} large={large_text}: "
                         f"{drawn.element} {drawn.text!r} size {drawn.size} in {drawn.box}"
                         for drawn in overflowing(frame, large_text)]
            for placed in frame.layout.buttons:
                if size != (800, 480) and min(placed.rect[2], placed.rect[3]) < MIN_TARGET:
                    problems.append(f"{lang} {name}: {placed.button.id} is a small target {placed.rect}")
    assert problems == []


def test_a_finger_tap_counts_once_and_a_mouse_click_works_too() -> None:
    size = (1280, 800)
    clock = FakeClock()
    state = KioskState(demo_office_config(), clock=clock)
    surface = pygame.Surface(size)
    frame = Renderer(size).draw(surface, state.view())
    x, y, w, h = frame.layout.rect_of("lang:ky")
    cx, cy = x + w // 2, y + h // 2
    finger = pygame.event.Event(pygame.FINGERDOWN, x=cx / size[0], y=cy / size[1], touch_id=1, finger_id=0,
                                dx=0.0, dy=0.0, pressure=1.0)
    synthesized = pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(cx, cy), button=1, touch=True)
    mouse = pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=(cx, cy), button=1, touch=False)
    taps = taps_from_event(finger, size) + taps_from_event(synthesized, size)
    assert len(taps) == 1 and hit(frame.layout, *taps[0]) == "lang:ky"
    assert [hit(frame.layout, *p) for p in taps_from_event(mouse, size)] == ["lang:ky"]
    clock.advance(1)
    state.press("lang:ky")
    assert state.view().screen is Screen.SERVICES
