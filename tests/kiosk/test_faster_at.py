"""The kiosk names a faster office of the network (issue 21): when the hall state says the same service is
clearly quicker elsewhere, the question screen before the ticket reads "Faster at <office>, <address>:
≈ N min" in the kiosk's language, drawn whole on every panel size (Kyrgyz and Kazakh letters too)."""

from __future__ import annotations

import pygame
import pytest

from cherga.broker_bridge.contract import LANGUAGES, FasterAt, HallState, ServiceLoad
from cherga.kiosk.i18n import text
from cherga.kiosk.ui.render import MIN_LABEL_PX, Renderer, _font
from cherga.kiosk.ui.state import KioskState, QueueLoad, Screen
from tests.kiosk.conftest import SIZES, FakeClock, demo_office_config, pixels_show

pytestmark = pytest.mark.usefixtures("pygame_headless")

SOUTH = FasterAt(office="south",
                 names={"uk": "ЦНАП Південний", "ru": "ЦПАУ Южный", "ky": "Түштүк борбору", "kk": "Оңтүстік орталығы",
                        "en": "South office"},
                 address={"uk": "просп. Миру, 25", "ru": "просп. Мира, 25", "ky": "Тынчтык пр., 25",
                          "kk": "Бейбітшілік даңғ., 25", "en": "25 Myru Ave"},
                 wait_min=12, wait_max_min=20)


def _at_question(lang: str, load: QueueLoad) -> KioskState:
    clock = FakeClock()
    s = KioskState(demo_office_config(), clock=clock)
    s.set_load({"passport": load})
    for b in (f"lang:{lang}", "service:passport", "purpose:submit", "priority:none"):
        clock.advance(1)
        s.press(b)
    return s


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_faster_office_is_named_before_the_ticket_even_when_the_queue_is_short(lang: str) -> None:
    s = _at_question(lang, QueueLoad(4, 55, 80, SOUTH))  # four ahead, but 55 min against 12 at south
    view = s.view()
    assert view.screen is Screen.CONFIRM
    expected = text(lang, "faster_at", office=SOUTH.names[lang], address=SOUTH.address[lang], n=12)  # type: ignore[index]
    assert expected in view.lines
    assert "south" not in " ".join(view.lines)  # the office's name, never its id


def test_without_a_faster_office_a_short_queue_issues_at_once() -> None:
    s = _at_question("uk", QueueLoad(4, 55, 80))
    assert s.screen is not Screen.CONFIRM
    assert not any("Швидше" in line for line in s.view().lines)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_faster_office_line_is_drawn_whole_in_every_language(size: tuple[int, int]) -> None:
    surface = pygame.Surface(size)
    renderer = Renderer(size)
    for lang in LANGUAGES:
        view = _at_question(lang, QueueLoad(31, 57, 84, SOUTH)).view()
        frame = renderer.draw(surface, view)
        drawn = [d for d in frame.texts if d.text.startswith(text(lang, "faster_at").split("{")[0].strip())]
        assert len(drawn) == 1, (lang, [d.text for d in frame.texts])
        line = drawn[0]
        bx, by, bw, bh = line.box
        ux, uy, uw, uh = line.used
        assert bx <= ux and ux + uw <= bx + bw and by <= uy and uy + uh <= by + bh, (lang, line)
        assert line.size >= MIN_LABEL_PX, (lang, line.size)
        assert pixels_show(surface, line, False), lang  # every letter drawn (Ү, Ң, Ө, Қ, Ә...) by the bundled font
        if lang in ("ky", "kk"):  # the font has the glyphs (a missing one has no metrics)
            letters = [ch for ch in line.text if ch in "үңөқәғұі"]
            assert letters and all(m is not None for m in _font(line.size, False).metrics("".join(letters)))


def test_the_kiosk_role_reads_faster_at_from_the_hall_state() -> None:
    from cherga.kiosk.role import KioskRole

    load = ServiceLoad(service="passport", names={"uk": "Паспорт"}, waiting=3, counters_open=1, avg_wait_min=5,
                       light="orange", wait_min=50, wait_max_min=70, faster_at=SOUTH)
    hall = HallState(office="demo", office_names={"uk": "ЦНАП"}, languages=["uk"], calls=[], load=[load],
                     updated_at=FakeClock()())  # type: ignore[arg-type]
    role = KioskRole.__new__(KioskRole)  # only the hall-state handler: no node, no printer
    import threading

    role.lock = threading.RLock()
    role.state = None
    role._on_hall_state(hall)
    assert role._load["passport"].faster == SOUTH
