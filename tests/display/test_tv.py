"""The hall TV on pygame's dummy video driver: the newest call is really on the screen."""

from __future__ import annotations

import os

import pygame
import pytest

from cherga.display.board import BoardSettings, HallBoard
from cherga.display.tv import BLINK, NEWEST, OFFLINE, ROW, RowGeometry, TvRenderer
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
