"""The hall TV on pygame's dummy video driver: the newest call is really on the screen."""

from __future__ import annotations

import os

import pygame
import pytest

from cherga.broker_bridge.contract import HallState, ServiceLoad
from cherga.display.board import BoardSettings, HallBoard
from cherga.display.tv import BLINK, NEWEST, OFFLINE, PANEL, ROW, LoadGeometry, RowGeometry, TvRenderer
from cherga.firmware_host.fonts import font_path

from .conftest import at, call, entry, state

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
SIZES = [(1920, 1080), (1280, 720), (1080, 1920), (720, 1280)]


def board_with_new_call() -> HallBoard:
    board = HallBoard(BoardSettings(blink_s=6, blink_period_s=1.0))
    board.apply_state(state(entry("A-005", "5"), entry("A-004", "4")), at(0))
    board.apply_call(call("B-017", "7", 10), at(10))
    return board


def region_bytes(surface: pygame.Surface, rect: tuple[int, int, int, int]) -> bytes:
    return pygame.image.tobytes(surface.subsurface(pygame.Rect(rect)), "RGB")


def expected_label(row: RowGeometry, text: str) -> bytes:
    """The label drawn on its own with the bundled bold font, to compare with the screenshot region."""
    glyphs = pygame.font.Font(str(font_path(bold=True)), row.label_px).render(text, True, row.foreground)
    expected = pygame.Surface(row.label_rect[2:])
    expected.fill(row.background)
    expected.blit(glyphs, (0, 0))
    return pygame.image.tobytes(expected, "RGB")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_newest_call_is_drawn_large_in_the_top_row_at_every_screen_size(size: tuple[int, int]) -> None:
    renderer = TvRenderer(size)
    screen = renderer.draw(board_with_new_call().picture(at(10.1)))
    assert screen.get_size() == size
    top = renderer.rows[0]
    shot = region_bytes(screen, top.label_rect)
    assert shot == expected_label(top, "B-017")
    assert shot != expected_label(top, "B-018")
    # the counter number sits on the same row, to the right of the label
    number = renderer.rows[0].counter_rect
    assert number[0] > top.label_rect[0] and abs(number[1] + number[3] / 2 - (top.rect[1] + top.rect[3] / 2)) < 3
    # the newest row is taller in type than the older rows
    assert top.label_rect[3] > renderer.rows[1].label_rect[3]


def test_the_newest_row_blinks_between_highlight_colours_and_then_stays_blue() -> None:
    board = board_with_new_call()
    renderer = TvRenderer((1280, 720))

    def row_colour(seconds: float, i: int = 0) -> tuple[int, int, int]:
        screen = renderer.draw(board.picture(at(seconds)))
        x, y, w, h = renderer.rows[i].rect
        return tuple(screen.get_at((x + w - 8, y + h // 2)))[:3]  # type: ignore[return-value]

    assert row_colour(10.1) == BLINK
    assert row_colour(10.6) == NEWEST
    assert row_colour(11.1) == BLINK
    assert row_colour(17.0) == NEWEST  # blinking is over
    assert row_colour(17.0, 1) == ROW


def test_no_connection_mark_is_drawn_only_when_the_broker_is_gone() -> None:
    board = board_with_new_call()
    renderer = TvRenderer((1920, 1080))
    renderer.draw(board.picture(at(11)))
    assert renderer.offline_rect is None
    board.set_connected(False, at(11))
    screen = renderer.draw(board.picture(at(15)))
    assert renderer.offline_rect is not None
    x, y, w, h = renderer.offline_rect
    assert tuple(screen.get_at((x + 2, y + h // 2)))[:3] == OFFLINE
    # the calls are still there under it
    assert region_bytes(screen, renderer.rows[0].label_rect) == expected_label(renderer.rows[0], "B-017")


def test_kyrgyz_and_kazakh_letters_are_drawn_with_real_glyphs() -> None:
    renderer = TvRenderer((1280, 720))
    font = renderer.font(40)
    missing = font.render("\ufffe", True, (255, 255, 255))  # a code point no font has: the "tofu" box
    for letter in "ҢӨҮӘҒҚҰҺІЇҐЄ":
        glyph = font.render(letter, True, (255, 255, 255))
        assert pygame.image.tobytes(glyph, "RGBA") != pygame.image.tobytes(missing, "RGBA"), letter


def _state_with_load(*load: ServiceLoad) -> HallState:
    return state(entry("A-005", "5")).model_copy(update={"load": list(load)})


def _drawn_text(surface: pygame.Surface, geo: LoadGeometry) -> bytes:
    assert geo.forecast_rect is not None
    return region_bytes(surface, geo.forecast_rect)


def _expected_text(geo: LoadGeometry, text: str, background: tuple[int, int, int]) -> bytes:
    assert geo.forecast_rect is not None
    glyphs = pygame.font.Font(str(font_path()), geo.forecast_px).render(text, True, geo.forecast_color)
    expected = pygame.Surface(geo.forecast_rect[2:])
    expected.fill(background)
    expected.blit(glyphs, (0, 0))
    return pygame.image.tobytes(expected, "RGB")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_each_service_shows_the_forecast_a_ticket_taken_now_would_print(size: tuple[int, int]) -> None:
    """GIVEN the server's hall state: passport ≈ 12 min, at most 25; birth by the point alone; land no estimate
    WHEN the TV draws it with Ukrainian and English side by side
    THEN each line's forecast is on the screen in the glossary's words, and never the waiting time so far."""
    hall = _state_with_load(
        ServiceLoad(service="passport", names={"uk": "Паспорт", "en": "Passport"}, waiting=7, counters_open=2,
                    avg_wait_min=41.0, light="red", wait_min=12, wait_max_min=25),
        ServiceLoad(service="birth", names={"uk": "Народження", "en": "Birth"}, waiting=1, counters_open=1,
                    avg_wait_min=2.0, light="green", wait_min=3, wait_max_min=3),
        ServiceLoad(service="land", names={"uk": "Земля", "en": "Land"}, waiting=0, counters_open=0,
                    avg_wait_min=0.0, light="green"))
    board = HallBoard(BoardSettings(layout="side_by_side"))
    board.apply_state(hall, at(0))
    renderer = TvRenderer(size)
    screen = renderer.draw(board.picture(at(1)))
    rows = {geo.service: geo for geo in renderer.load_rows}
    assert rows["passport"].forecast == "≈ 12 хв, не більше 25 / ≈ 12 min, at most 25"
    assert rows["birth"].forecast == "≈ 3 хв / ≈ 3 min"  # no wider bound: the point alone
    assert rows["land"].forecast == "" and rows["land"].forecast_rect is None
    assert "41" not in rows["passport"].forecast
    shot = _drawn_text(screen, rows["passport"])
    assert shot == _expected_text(rows["passport"], rows["passport"].forecast, PANEL)
    assert shot != _expected_text(rows["passport"], "≈ 41 хв / ≈ 41 min", PANEL)
    x, _, w, _ = rows["passport"].forecast_rect  # type: ignore[misc]
    assert x + w <= size[0]  # on the screen, not cut at its edge


def test_past_the_last_call_the_hall_is_asked_to_book_instead() -> None:
    hall = _state_with_load(ServiceLoad(service="passport", names={"uk": "Паспорт", "ky": "Паспорт"}, waiting=4,
                                        counters_open=1, avg_wait_min=30.0, light="orange", calls_stopped=True))
    hall = hall.model_copy(update={"languages": ["ky"]})
    board = HallBoard(BoardSettings())
    board.apply_state(hall, at(0))
    renderer = TvRenderer((1280, 720))
    screen = renderer.draw(board.picture(at(1)))
    geo = renderer.load_rows[0]
    assert geo.forecast == "Бүгүнкү чакыруулар бүттү"
    assert geo.forecast_color == BLINK
    assert _drawn_text(screen, geo) == _expected_text(geo, geo.forecast, PANEL)
    [(line, rect, px)] = renderer.book_rects  # once, at the foot of the panel
    assert line == "Дагы күтүп жаткандар: алдын ала жазылыңыз"
    glyphs = pygame.font.Font(str(font_path(bold=True)), px).render(line, True, BLINK)
    expected = pygame.Surface(rect[2:])
    expected.fill(PANEL)
    expected.blit(glyphs, (0, 0))
    assert region_bytes(screen, rect) == pygame.image.tobytes(expected, "RGB")
    assert rect[0] + rect[2] <= 1280 and rect[1] > geo.forecast_rect[1]  # type: ignore[index]
