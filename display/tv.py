"""The hall TV: draws a :class:`display.board.Picture` with pygame-ce.

:class:`TvRenderer` owns fonts, colours and geometry for one screen size and orientation
(1920×1080 or 1280×720, landscape or portrait: any size works, the layout is proportional). It is
a pure drawing step: ``draw(picture, surface)`` paints one frame and records where each call row
and label went (:attr:`TvRenderer.rows`), so tests can check pixels of the right place.

Fonts are the bundled DejaVu (:mod:`firmware_host.fonts`): pygame's default font drops Kyrgyz
Ң Ө Ү. Rendered text is cached, because on a Pi the glyph rasteriser, not the blit, is the cost.
Languages stand side by side at the same size (joined with " / ") or alternate, as the picture says.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from typing import Literal

from cherga.display.board import LoadRow, Picture
from cherga.display.messages import screen_text
from cherga.firmware_host.fonts import font_path

try:  # guarded so the model and the voice work on a machine without pygame (STYLE 8)
    import pygame
except ImportError:  # pragma: no cover - pygame-ce is in the display extra
    pygame = None  # type: ignore[assignment]

Color = tuple[int, int, int]
Orientation = Literal["landscape", "portrait"]

BACKGROUND: Color = (14, 22, 38)
PANEL: Color = (24, 36, 60)
ROW: Color = (30, 46, 76)
NEWEST: Color = (36, 92, 160)
BLINK: Color = (255, 196, 0)
TEXT: Color = (245, 247, 250)
TEXT_DARK: Color = (18, 18, 18)
MUTED: Color = (160, 175, 200)
OFFLINE: Color = (200, 40, 40)
LIGHTS: dict[str, Color] = {"green": (40, 180, 90), "yellow": (230, 200, 40), "orange": (240, 140, 30),
                            "red": (220, 50, 50)}

TEXT_CACHE_BYTES = 6 * 1024 * 1024
SIZES: dict[str, tuple[int, int]] = {"1080p": (1920, 1080), "720p": (1280, 720)}


def is_usable() -> bool:
    return pygame is not None


@dataclasses.dataclass(frozen=True)
class LoadGeometry:
    """Where a service's load line went: its forecast text (what it says, where, how large)."""

    service: str
    forecast: str
    forecast_rect: tuple[int, int, int, int] | None
    forecast_px: int
    forecast_color: Color


@dataclasses.dataclass(frozen=True)
class RowGeometry:
    """Where a call row was drawn: its background, its label and the colours used."""

    rect: tuple[int, int, int, int]
    label_rect: tuple[int, int, int, int]
    counter_rect: tuple[int, int, int, int]
    background: Color
    foreground: Color
    label_px: int


class TvRenderer:
    """Draws pictures onto a surface of ``size``.

    :param size: screen size in pixels, e.g. ``(1920, 1080)``; portrait when taller than wide.
    """

    def __init__(self, size: tuple[int, int] = (1920, 1080)) -> None:
        if pygame is None:
            raise RuntimeError("pygame-ce is not installed: pip install 'cherga[display]'")
        if not pygame.font.get_init():
            pygame.font.init()
        self.size = size
        self.orientation: Orientation = "portrait" if size[1] > size[0] else "landscape"
        self._fonts: dict[tuple[int, bool], pygame.font.Font] = {}
        self._text_cache: OrderedDict[tuple[str, int, bool, Color], pygame.Surface] = OrderedDict()
        self._text_bytes = 0
        self.rows: list[RowGeometry] = []
        self.load_rows: list[LoadGeometry] = []
        self.book_rects: list[tuple[str, tuple[int, int, int, int], int]] = []  # "please book" lines: text, rect, px
        self.offline_rect: tuple[int, int, int, int] | None = None
        self._ticker_x = 0.0

    # --- text ---------------------------------------------------------------------------------

    def font(self, px: int, bold: bool = False) -> pygame.font.Font:
        key = (px, bold)
        if key not in self._fonts:
            self._fonts[key] = pygame.font.Font(str(font_path(bold=bold)), px)
        return self._fonts[key]

    def text(self, s: str, px: int, color: Color, bold: bool = False) -> pygame.Surface:
        key = (s, px, bold, color)
        surf = self._text_cache.get(key)
        if surf is not None:
            self._text_cache.move_to_end(key)
            return surf
        surf = self.font(px, bold).render(s, True, color)
        self._text_cache[key] = surf
        self._text_bytes += surf.get_width() * surf.get_height() * surf.get_bytesize()
        # Large call labels are ~0.3 MB each: keep the cache to a few MB (the Pi has little RAM).
        while self._text_bytes > TEXT_CACHE_BYTES and len(self._text_cache) > 1:
            _, old = self._text_cache.popitem(last=False)
            self._text_bytes -= old.get_width() * old.get_height() * old.get_bytesize()
        return surf

    def _fit(self, s: str, px: int, width: int, bold: bool = False) -> int:
        """The largest size ≤ ``px`` at which ``s`` fits ``width`` (side-by-side text stays one size)."""
        while px > 10 and self.font(px, bold).size(s)[0] > width:
            px = int(px * 0.9)
        return px

    # --- frame --------------------------------------------------------------------------------

    def draw(self, picture: Picture, surface: pygame.Surface | None = None, t: float = 0.0) -> pygame.Surface:
        """Paint one frame of ``picture``; ``t`` (seconds) only moves the ticker."""
        w, h = self.size
        if surface is None:
            surface = pygame.Surface(self.size)
        surface.fill(BACKGROUND)
        unit = min(w, h)
        top_h, ticker_h = int(h * 0.09), int(h * 0.07)
        self._draw_top(surface, picture, pygame.Rect(0, 0, w, top_h), unit)
        body = pygame.Rect(0, top_h, w, h - top_h - ticker_h)
        if self.orientation == "landscape":
            calls = pygame.Rect(body.x, body.y, int(w * 0.62), body.h)
            load = pygame.Rect(calls.right, body.y, w - calls.right, body.h)
        else:
            calls = pygame.Rect(body.x, body.y, w, int(body.h * 0.62))
            load = pygame.Rect(body.x, calls.bottom, w, body.h - calls.h)
        self._draw_calls(surface, picture, calls.inflate(-unit // 40, -unit // 40), unit)
        self._draw_load(surface, picture, load.inflate(-unit // 40, -unit // 40), unit)
        self._draw_ticker(surface, picture, pygame.Rect(0, h - ticker_h, w, ticker_h), t)
        return surface

    def _joined(self, picture: Picture, key: str) -> str:
        return " / ".join(screen_text(lang, key) for lang in picture.languages)

    def _draw_top(self, surface: pygame.Surface, picture: Picture, rect: pygame.Rect, unit: int) -> None:
        surface.fill(PANEL, rect)
        pad = unit // 40
        clock = self.text(picture.clock, int(rect.h * 0.6), TEXT, bold=True)
        clock_rect = clock.get_rect(midright=(rect.right - pad, rect.centery))
        surface.blit(clock, clock_rect)
        right = clock_rect.left - pad
        self.offline_rect = None
        if picture.offline:
            # Small and in the corner: the last picture stays readable under it.
            mark = self.text(self._joined(picture, "no_connection"), int(rect.h * 0.3), TEXT, bold=True)
            box = mark.get_rect().inflate(pad, pad // 2)
            box.midright = (right, rect.centery)
            pygame.draw.rect(surface, OFFLINE, box, border_radius=pad // 3)
            surface.blit(mark, mark.get_rect(center=box.center))
            self.offline_rect = (box.x, box.y, box.w, box.h)
            right = box.left - pad
        name_w = right - rect.x - pad
        px = self._fit(picture.office_name, int(rect.h * 0.42), name_w, bold=True)
        name = self.text(picture.office_name, px, TEXT, bold=True)
        surface.blit(name, name.get_rect(midleft=(rect.x + pad, rect.centery)))

    def _draw_calls(self, surface: pygame.Surface, picture: Picture, rect: pygame.Rect, unit: int) -> None:
        n = max(len(picture.rows), 1)
        slots = max(n, 4)
        head_h = int(rect.h * 0.12)
        pad = unit // 60
        col = int(rect.w * 0.58)
        head_px = self._fit(self._joined(picture, "ticket"), int(head_h * 0.5), col - 2 * pad)
        for key, x in (("ticket", rect.x + pad), ("window", rect.x + col + pad)):
            surf = self.text(self._joined(picture, key), head_px, MUTED)
            surface.blit(surf, surf.get_rect(midleft=(x, rect.y + head_h // 2)))
        row_h = (rect.h - head_h) // slots
        self.rows = []
        for i, row in enumerate(picture.rows):
            r = pygame.Rect(rect.x, rect.y + head_h + i * row_h, rect.w, row_h - pad)
            if row.blinking and row.blink_on:
                bg, fg = BLINK, TEXT_DARK
            elif row.newest:
                bg, fg = NEWEST, TEXT
            else:
                bg, fg = ROW, TEXT
            pygame.draw.rect(surface, bg, r, border_radius=pad)
            px = int(r.h * (0.62 if row.newest else 0.5))
            label = self.text(row.label, px, fg, bold=True)
            label_rect = label.get_rect(midleft=(r.x + 2 * pad, r.centery))
            surface.blit(label, label_rect)
            arrow = self.text("→", px, fg, bold=True)
            surface.blit(arrow, arrow.get_rect(midright=(r.x + col - pad, r.centery)))
            number = self.text(row.counter_number, px, fg, bold=True)
            number_rect = number.get_rect(midleft=(r.x + col + pad, r.centery))
            surface.blit(number, number_rect)
            self.rows.append(RowGeometry((r.x, r.y, r.w, r.h), (label_rect.x, label_rect.y, label_rect.w, label_rect.h),
                                         (number_rect.x, number_rect.y, number_rect.w, number_rect.h), bg, fg, px))
        if picture.queued:  # calls waiting for their 7 s turn: "+2" under the rows
            more = self.text(f"+{picture.queued}", int(row_h * 0.3), MUTED, bold=True)
            surface.blit(more, more.get_rect(bottomright=(rect.right - pad, rect.bottom)))

    def forecast_text(self, picture: Picture, item: LoadRow) -> str:
        """The load line's second row: "≈ 12 min, at most 25" in each shown language (the forecast the
        ticket prints), "no more calls today" past the last call (the panel's foot asks them to book), or
        nothing without an estimate."""
        if item.calls_stopped:
            return self._joined(picture, "calls_stopped")
        if item.wait_min is None:
            return ""
        n, most = item.wait_min, item.wait_max_min
        if most is not None and most > n:
            return " / ".join(screen_text(lang, "wait_range_minutes").format(n=n, m=most) for lang in picture.languages)
        return " / ".join(screen_text(lang, "wait_minutes").format(n=n) for lang in picture.languages)

    def _draw_load(self, surface: pygame.Surface, picture: Picture, rect: pygame.Rect, unit: int) -> None:
        surface.fill(PANEL, rect)
        self.load_rows = []
        pad = unit // 60
        head_h = int(min(rect.h * 0.1, unit * 0.08))
        head = self.text(self._joined(picture, "waiting"), self._fit(self._joined(picture, "waiting"),
                         int(head_h * 0.55), rect.w - 2 * pad), MUTED)
        surface.blit(head, head.get_rect(midleft=(rect.x + pad, rect.y + head_h // 2)))
        items = picture.load
        self.book_rects = []
        if not items:
            return
        if any(item.calls_stopped for item in items):
            # Past the last call: at the panel's foot, once, one language a line, those waiting are asked to book.
            line_h = int(min(rect.h * 0.07, unit * 0.05))
            lines = [screen_text(lang, "calls_stopped_book") for lang in picture.languages]
            foot = rect.bottom - pad - line_h * len(lines)
            book_px = min(self._fit(line, int(line_h * 0.8), rect.w - 2 * pad, bold=True) for line in lines)
            for k, line in enumerate(lines):
                surf = self.text(line, book_px, BLINK, bold=True)
                r = surf.get_rect(midleft=(rect.x + pad, foot + k * line_h + line_h // 2))
                surface.blit(surf, r)
                self.book_rects.append((line, (r.x, r.y, r.w, r.h), book_px))
            rect = pygame.Rect(rect.x, rect.y, rect.w, foot - pad - rect.y)
        # Each service takes two rows: its name and count, then the forecast under the name.
        block_h = max(min((rect.h - head_h) // len(items), int(unit * 0.11)), 20)
        px = int(block_h * 0.3)
        shown = items[: max((rect.h - head_h) // block_h, 1)]
        names = [" / ".join(item.names.get(lang) or item.service for lang in picture.languages) for item in shown]
        avail = rect.w - 5 * pad - px - self.font(px, True).size("000")[0]
        name_px = min(self._fit(name, px, avail) for name in names)  # one size for every line
        forecasts = [self.forecast_text(picture, item) for item in shown]
        wide = rect.w - 3 * pad - px
        # one size for every forecast too, never larger than the names (14 px at the least on a 720p TV)
        fc_px = min([self._fit(f, int(block_h * 0.26), wide) for f in forecasts if f] or [0])
        fc_px = max(min(fc_px, name_px), 14) if fc_px else 0
        for i, item in enumerate(shown):
            top = rect.y + head_h + i * block_h
            y = top + int(block_h * 0.32)
            pygame.draw.circle(surface, LIGHTS.get(item.light, MUTED), (rect.x + pad + px // 2, y), px // 3)
            count = self.text(str(item.waiting), px, TEXT, bold=True)
            surface.blit(count, count.get_rect(midright=(rect.right - pad, y)))
            label = self.text(names[i], name_px, TEXT)
            surface.blit(label, label.get_rect(midleft=(rect.x + 2 * pad + px, y)))
            where = None
            color = BLINK if item.calls_stopped else MUTED
            if forecasts[i]:
                fc = self.text(forecasts[i], fc_px, color)
                fc_rect = fc.get_rect(midleft=(rect.x + 2 * pad + px, top + int(block_h * 0.74)))
                surface.blit(fc, fc_rect)
                where = (fc_rect.x, fc_rect.y, fc_rect.w, fc_rect.h)
            self.load_rows.append(LoadGeometry(item.service, forecasts[i], where, fc_px, color))

    def _draw_ticker(self, surface: pygame.Surface, picture: Picture, rect: pygame.Rect, t: float) -> None:
        surface.fill(PANEL, rect)
        if not picture.ticker:
            return
        text = self.text(picture.ticker, int(rect.h * 0.5), TEXT)
        span = text.get_width() + rect.w
        speed = rect.h * 2.0  # pixels per second: about two ticker heights a second reads well
        x = rect.x + rect.h // 2 - (t * speed) % span
        if x + text.get_width() < rect.x:
            x += span
        surface.set_clip(rect)
        surface.blit(text, text.get_rect(midleft=(int(x), rect.centery)))
        surface.set_clip(None)


def open_window(size: tuple[int, int] | None = None, fullscreen: bool = True) -> pygame.Surface:
    """The display surface: the whole screen on a Pi (kmsdrm), a window on a desktop, a dummy in tests."""
    if pygame is None:
        raise RuntimeError("pygame-ce is not installed: pip install 'cherga[display]'")
    pygame.display.init()
    if size is None:
        info = pygame.display.Info()
        size = (info.current_w, info.current_h) if info.current_w > 0 else SIZES["1080p"]
    dummy = os.environ.get("SDL_VIDEODRIVER") == "dummy"
    flags = pygame.FULLSCREEN if fullscreen and not dummy else 0
    pygame.mouse.set_visible(False)
    return pygame.display.set_mode(size, flags)
