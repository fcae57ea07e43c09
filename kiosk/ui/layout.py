"""Where things go on the kiosk screen: pure geometry from a :class:`~kiosk.ui.state.View` and a size.

No pygame here, so hit-testing and the low-reach rule can be tested without a display.

* Low-reach mode puts *everything* (title, choices, navigation, mode switches) in the lower half
  of the screen, within reach from a wheelchair or for a child (on a panel under 720 px tall:
  the lower 360 px).
* Large-text mode uses one column of choices and taller buttons (the state machine also pages
  fewer services at a time).
* Touch targets are never smaller than :data:`MIN_TARGET` pixels in either direction.
"""

from __future__ import annotations

import dataclasses
import math

from cherga.kiosk.ui.state import Button, Screen, View

Rect = tuple[int, int, int, int]  # x, y, width, height
MIN_TARGET = 56  # px: about 9 mm on a 15" 1080p panel, above the usual 7-9 mm touch guidance
# Height of one text line at the renderer's smallest sizes (18 px, 26 px in large-text mode).
LINE, LINE_LARGE = 22, 32


def room(view: View, lines: int) -> int:
    """Pixels for ``lines`` lines of the smallest text of this view's mode, with padding."""
    return lines * (LINE_LARGE if view.large_text else LINE) + 20


@dataclasses.dataclass(frozen=True)
class Placed:
    button: Button
    rect: Rect


@dataclasses.dataclass(frozen=True)
class Layout:
    size: tuple[int, int]
    area: Rect  # everything is inside this (the lower half in low-reach mode)
    title: Rect
    lines: Rect
    big: Rect | None
    qr: Rect | None
    buttons: tuple[Placed, ...]

    def rect_of(self, button_id: str) -> Rect:
        return next(p.rect for p in self.buttons if p.button.id == button_id)


def _row(items: list[Button], x: int, y: int, w: int, h: int, gap: int) -> list[Placed]:
    if not items:
        return []
    shares = [2 if b.wide else 1 for b in items]
    unit = (w - gap * (len(items) - 1)) / sum(shares)
    out, cx = [], float(x)
    for b, share in zip(items, shares, strict=True):
        out.append(Placed(b, (int(cx), y, int(unit * share), h)))
        cx += unit * share + gap
    return out


def _grid(items: list[Button], x: int, y: int, w: int, h: int, cols: int, gap: int,
          max_row_h: int) -> list[Placed]:
    if not items:
        return []
    rows = math.ceil(len(items) / cols)
    cell_w = (w - gap * (cols - 1)) // cols
    cell_h = min(max_row_h, (h - gap * (rows - 1)) // rows)
    return [Placed(b, (x + (i % cols) * (cell_w + gap), y + (i // cols) * (cell_h + gap), cell_w, cell_h))
            for i, b in enumerate(items)]


def layout(view: View, size: tuple[int, int]) -> Layout:
    """Place ``view``'s title, lines, number and buttons on a screen of ``size`` pixels."""
    width, height = size
    narrow = width < 1000  # long words ("Предварительная запись") need two lines on a narrow panel
    # Low reach: the lower half; on a small screen (under 720 px) the lower 360 px, which is
    # already the lower three quarters of a 480 px panel, so the keypad stays touchable.
    top = max(0, min(height // 2, height - 360)) if view.low_reach else 0
    area: Rect = (0, top, width, height - top)
    ah = area[3]
    m = max(8, min(width, height) // 60)
    gap = m
    x, inner_w = m, width - 2 * m
    y = top + m
    bottom = top + ah - m

    modes = [b for b in view.buttons if b.kind == "mode"]
    navs = [b for b in view.buttons if b.kind in ("nav", "confirm")]
    keys = [b for b in view.buttons if b.kind == "key"]
    choices = [b for b in view.buttons if b.kind == "choice"]
    placed: list[Placed] = []

    # The mode switches share the navigation row on the keypad, and in low-reach mode when the
    # row has room (half the height is precious); otherwise they get a row of their own.
    row_shares = sum(2 if b.wide else 1 for b in navs) + len(modes)
    share_row = view.screen in (Screen.CHECKIN, Screen.CONTACT) or (view.low_reach and row_shares <= 4)
    if modes and not share_row:
        mode_h = max(MIN_TARGET, ah // 12)
        mode_w = min(inner_w, max(480, width // 2))  # small switches in the corner, out of the way
        placed += _row(modes, x + inner_w - mode_w, bottom - mode_h, mode_w, mode_h, gap)
        bottom -= mode_h + gap
    row = navs + (modes if share_row else [])
    if row:
        nav_h = max(MIN_TARGET, room(view, 2 if narrow else 1), ah // (7 if view.large_text else 9))
        if view.screen is Screen.TICKET:
            nav_h = max(MIN_TARGET, ah // 8)
        placed += _row(row, x, bottom - nav_h, inner_w, nav_h, gap)
        bottom -= nav_h + gap

    title_h = max(room(view, 2 if narrow else 1), ah // (7 if view.large_text and not view.low_reach else 9))
    if view.screen in (Screen.ISSUING, Screen.MESSAGE):
        title_h = max(title_h, (bottom - y) // 2)
    title: Rect = (x, y, inner_w, title_h)
    y += title_h + gap // 2

    big: Rect | None = None
    qr: Rect | None = None
    if view.big is not None:
        big_h = (bottom - y) // 2 if view.screen is Screen.TICKET else max(40, ah // 10)
        if view.qr:
            side = min(bottom - y, inner_w // 3)
            qr = (x + inner_w - side, y, side, side)
            big = (x, y, inner_w - side - gap, big_h)
        else:
            big = (x, y, inner_w, big_h)
        y += big_h + gap // 2

    line_h = max(room(view, 1) - 10, ah // (12 if view.large_text else 16))
    choice_cols = 1 if (view.large_text and not view.low_reach) or len(choices) <= 2 else 2
    if view.screen in (Screen.INFO, Screen.NOTIFY) and view.lines:
        # Text to read (documents, where to go; what a notification is for): its lines share the room
        # left, up to two text lines each, so a long line wraps instead of shrinking below the minimum.
        # The choices below keep a finger's height each.
        two = 2 * (LINE_LARGE if view.large_text else LINE) + 16
        left = bottom - y - math.ceil(len(choices) / choice_cols) * (MIN_TARGET + gap)
        line_h = max(line_h, min(two, left // len(view.lines)))
    lines_w = inner_w - (qr[2] + gap if qr else 0)
    lines: Rect = (x, y, lines_w, line_h * len(view.lines))
    y += lines[3] + (gap if view.lines else 0)

    if keys:
        cols = 12 if width >= height else 8
        placed += _grid(keys, x, y, inner_w, bottom - y, cols=cols, gap=gap // 2, max_row_h=ah // 6)
    if choices:
        max_row = max(MIN_TARGET, ah // (4 if view.large_text else 5))
        if view.screen is Screen.CONSENT:
            max_row = bottom - y  # the tick box carries the whole consent text: it gets the room there is
        placed += _grid(choices, x, y, inner_w, bottom - y, cols=choice_cols, gap=gap, max_row_h=max_row)
    return Layout(size, area, title, lines, big, qr, tuple(placed))


def hit(lay: Layout, px: int, py: int) -> str | None:
    """The id of the button under the point, if any."""
    for p in lay.buttons:
        x, y, w, h = p.rect
        if x <= px < x + w and y <= py < y + h:
            return p.button.id
    return None
