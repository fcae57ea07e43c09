"""Draws a :class:`~kiosk.ui.state.View` with pygame(-ce), and turns touch and mouse into taps.

Text is set in the bundled DejaVu fonts (pygame's default font has no Kyrgyz Ң Ө Ү) and fitted
with real font metrics: wrapped at word boundaries into at most three lines, then shrunk, never
below :data:`MIN_LABEL_PX` (:data:`MIN_LARGE_PX` in large-text mode). :meth:`Renderer.draw`
returns what it drew (:class:`DrawnText`), so tests can check that every label sits inside its
button in every language.

Touch and mouse: SDL turns a finger into a ``FINGERDOWN`` *and* a synthesized mouse click
(``event.touch`` true); :func:`taps_from_event` keeps exactly one of them, so a finger tap is
one tap.
"""

from __future__ import annotations

import dataclasses
import functools
import os

import pygame
import qrcode

from cherga.firmware_host.fonts import font_path
from cherga.kiosk.ui.layout import Layout, Rect, layout
from cherga.kiosk.ui.state import Screen, View

MIN_LABEL_PX = 18
MIN_LARGE_PX = 26


@dataclasses.dataclass(frozen=True)
class Theme:
    background: tuple[int, int, int]
    text: tuple[int, int, int]
    button: tuple[int, int, int]
    button_text: tuple[int, int, int]
    nav: tuple[int, int, int]
    nav_text: tuple[int, int, int]
    confirm: tuple[int, int, int]
    mode_on: tuple[int, int, int]
    border: tuple[int, int, int]
    alert: tuple[int, int, int]


NORMAL = Theme((244, 246, 250), (20, 28, 40), (24, 86, 160), (255, 255, 255), (214, 222, 234), (20, 28, 40),
               (0, 122, 74), (255, 196, 0), (24, 86, 160), (190, 20, 20))
HIGH_CONTRAST = Theme((0, 0, 0), (255, 255, 255), (0, 0, 0), (255, 255, 0), (0, 0, 0), (255, 255, 255),
                      (0, 0, 0), (255, 255, 0), (255, 255, 0), (255, 80, 80))


@dataclasses.dataclass(frozen=True)
class DrawnText:
    """One piece of text on screen: which element, its lines, the box it had to fit, its size."""

    element: str  # a button id, or "title", "line:N", "big"
    text: str
    lines: tuple[str, ...]
    box: Rect  # where it had to fit
    used: Rect  # where it went
    size: int
    color: tuple[int, int, int]
    background: tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Frame:
    view: View
    layout: Layout
    texts: tuple[DrawnText, ...]

    def text_of(self, element: str) -> DrawnText:
        return next(t for t in self.texts if t.element == element)


@functools.lru_cache(maxsize=128)
def _font(size: int, bold: bool) -> pygame.font.Font:
    return pygame.font.Font(str(font_path(bold=bold)), size)


# A font outlives nothing: after pygame.quit() every cached one is dead ("font module quit since font
# created"), so a screen drawn after pygame starts again (a restarted UI, the next test) needs new ones.
def _forget_fonts() -> None:
    _font.cache_clear()
    pygame.register_quit(_forget_fonts)  # pygame drops its quit hooks once it has run them: stay for the next quit


pygame.register_quit(_forget_fonts)


def _wrap(value: str, fnt: pygame.font.Font, width: int) -> list[str] | None:
    lines: list[str] = []
    current = ""
    for word in value.split(" "):
        if not word:
            continue
        candidate = f"{current} {word}" if current else word
        if fnt.size(candidate)[0] <= width:
            current = candidate
            continue
        if fnt.size(word)[0] > width:
            return None  # a word wider than the box: shrink instead of breaking it
        if current:
            lines.append(current)
        current = word
    if current:
        lines.append(current)
    return lines


def fit(value: str, box_w: int, box_h: int, *, start: int, minimum: int, bold: bool,
        max_lines: int = 3) -> tuple[int, list[str]] | None:
    """The largest size ≤ ``start`` at which ``value`` fits the box in ``max_lines``; None if none."""
    size = start
    while size >= minimum:
        fnt = _font(size, bold)
        lines = _wrap(value, fnt, box_w)
        if lines is not None and len(lines) <= max_lines and len(lines) * fnt.get_linesize() <= box_h:
            return size, lines
        size -= 1 if size < 30 else 2
    return None


class Renderer:
    """Draws views on a pygame surface (the real screen, or an off-screen surface in tests)."""

    def __init__(self, size: tuple[int, int]) -> None:
        if not pygame.font.get_init():
            pygame.font.init()
        self.size = size

    def theme(self, view: View) -> Theme:
        return HIGH_CONTRAST if view.large_text else NORMAL

    def _text(self, surface: pygame.Surface, out: list[DrawnText], element: str, value: str, box: Rect, *,
              start: int, minimum: int, bold: bool, color: tuple[int, int, int],
              background: tuple[int, int, int], max_lines: int = 3, pad: int = 8,
              icon: str | None = None) -> None:
        x, y, w, h = box
        iw, ih = max(1, w - 2 * pad), max(1, h - 2 * pad)
        fitted = fit(value, iw, ih, start=start, minimum=minimum, bold=bold, max_lines=max_lines)
        if fitted is None and icon:  # a narrow button: its symbol instead of squeezed words
            value = icon
            fitted = fit(value, iw, ih, start=start, minimum=minimum, bold=bold, max_lines=1)
        if fitted is None:  # draw it anyway at the minimum, clipped; the label-fit test catches this
            size, lines = minimum, [value]
        else:
            size, lines = fitted
        fnt = _font(size, bold)
        line_h = fnt.get_linesize()
        total_h = line_h * len(lines)
        ty = y + (h - total_h) // 2
        left, right = x + w, x
        clip = surface.get_clip()
        surface.set_clip(pygame.Rect(box))
        for i, line in enumerate(lines):
            img = fnt.render(line, True, color, background)
            lx = x + (w - img.get_width()) // 2
            surface.blit(img, (lx, ty + i * line_h))
            left, right = min(left, lx), max(right, lx + img.get_width())
        surface.set_clip(clip)
        out.append(DrawnText(element, value, tuple(lines), box, (left, ty, right - left, total_h), size,
                             color, background))

    def draw(self, surface: pygame.Surface, view: View) -> Frame:
        lay = layout(view, surface.get_size())
        theme = self.theme(view)
        scale = 1.35 if view.large_text else 1.0
        minimum = MIN_LARGE_PX if view.large_text else MIN_LABEL_PX
        surface.fill(theme.background)
        out: list[DrawnText] = []
        if view.low_reach:  # a quiet band on top says "look down"
            pygame.draw.rect(surface, theme.nav, pygame.Rect(0, 0, lay.size[0], lay.area[1]))
        title_color = theme.alert if view.alert else theme.text
        self._text(surface, out, "title", view.title, lay.title, start=int(lay.title[3] * 0.42 * scale),
                   minimum=minimum, bold=True, color=title_color, background=theme.background, max_lines=3)
        if view.big is not None and lay.big is not None:
            self._text(surface, out, "big", view.big, lay.big, start=int(lay.big[3] * 0.8), minimum=minimum,
                       bold=True, color=title_color, background=theme.background, max_lines=1)
        if view.lines:
            lx, ly, lw, lh = lay.lines
            each = lh // len(view.lines)
            for i, line in enumerate(view.lines):
                self._text(surface, out, f"line:{i}", line, (lx, ly + i * each, lw, each),
                           start=int(each * 0.6), minimum=minimum, bold=False, color=theme.text,
                           background=theme.background, max_lines=2, pad=2)
        if view.qr and lay.qr is not None:
            surface.blit(self._qr_surface(view.qr, lay.qr[2]), lay.qr[:2])
        for placed in lay.buttons:
            b = placed.button
            rect = pygame.Rect(placed.rect)
            if b.kind == "choice" or b.kind == "key":
                fill, fg = theme.button, theme.button_text
            elif b.kind == "confirm":
                fill, fg = theme.confirm, theme.button_text
            elif b.kind == "mode" and b.active:
                fill, fg = theme.mode_on, (0, 0, 0)
            else:
                fill, fg = theme.nav, theme.nav_text
            pygame.draw.rect(surface, fill, rect, border_radius=12)
            pygame.draw.rect(surface, theme.border, rect, width=3, border_radius=12)
            start = int(min(rect.height * 0.36, 44) * scale) if b.kind != "mode" else int(rect.height * 0.38 * scale)
            # The consent's tick box says the whole consent: a paragraph, not a label.
            lines = 6 if view.screen is Screen.CONSENT and b.kind == "choice" else 3
            self._text(surface, out, b.id, b.label, placed.rect, start=max(start, minimum), minimum=minimum,
                       bold=b.kind != "mode", color=fg, background=fill, pad=10, icon=b.icon, max_lines=lines)
        return Frame(view, lay, tuple(out))

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _qr_surface(url: str, side: int) -> pygame.Surface:
        code = qrcode.QRCode(border=2, box_size=1)
        code.add_data(url)
        code.make(fit=True)
        img = code.make_image().get_image().convert("RGB")
        box = max(1, side // img.width)
        img = img.resize((img.width * box, img.height * box))
        return pygame.image.frombytes(img.tobytes(), img.size, "RGB")


def taps_from_event(event: pygame.event.Event, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Screen points tapped by ``event``: a finger or a mouse button, never both for one touch."""
    if event.type == pygame.FINGERDOWN:
        return [(int(event.x * size[0]), int(event.y * size[1]))]
    if event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
        if getattr(event, "touch", False):
            return []  # SDL's mouse copy of a finger already handled as FINGERDOWN
        return [tuple(event.pos)]  # type: ignore[list-item]
    return []


def open_display(size: tuple[int, int] | None = None, fullscreen: bool = True) -> pygame.Surface:
    """The kiosk's screen: kmsdrm on a Pi without X, the dummy driver in tests (SDL_VIDEODRIVER)."""
    pygame.display.init()
    pygame.font.init()
    if size is None:
        info = pygame.display.Info()
        size = (info.current_w or 1280, info.current_h or 800)
    flags = pygame.FULLSCREEN if fullscreen and os.environ.get("SDL_VIDEODRIVER") != "dummy" else 0
    surface = pygame.display.set_mode(size, flags)
    pygame.display.set_caption("Cherga kiosk")
    pygame.mouse.set_visible(os.environ.get("SDL_VIDEODRIVER") == "dummy")
    return surface

