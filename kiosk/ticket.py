"""The paper ticket: a raster image drawn with Pillow and Cherga's bundled DejaVu fonts.

Kyrgyz Ң Ө Ү exist in no common printer code page (FACTS.md), so the ticket is always drawn as
pixels and printed as a raster; every letter of every language then prints the same way.

Layout, top to bottom: office name, the big number, service and purpose, people ahead, the
approximate wait (or "estimate unavailable"), the counter when known, date and time, a QR code
that opens the ticket's live status page, and the office's footer. Each line is printed in the
ticket's languages (the citizen's own first, then the office's ticket languages, e.g. ky + ru),
and the lines of one item share one font size so no language looks second-class. Every text is
fitted with real font metrics: wrapped at word boundaries, then shrunk, then (at the smallest
size) broken inside a word, so nothing is ever cut off at the paper's edge.

Example::

    rendered = render_ticket(ticket_info, node_config)
    rendered.image.save("ticket.png")   # what the paper will show
    printer.print_ticket(rendered)
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

import qrcode
from PIL import Image, ImageDraw, ImageFont

from cherga.broker_bridge.contract import NodeConfig, TicketInfo
from cherga.firmware_host.fonts import font_path
from cherga.kiosk.i18n import pick, text

PAPER_DOTS: dict[int, int] = {58: 384, 80: 576}  # printable dots at 203 dpi
DEFAULT_MAX_LANGUAGES = 2
NBSP = "\u00a0"

FontT = ImageFont.FreeTypeFont


@functools.lru_cache(maxsize=256)
def font(size: int, bold: bool = False, condensed: bool = False) -> FontT:
    """A bundled DejaVu face at ``size`` pixels (cached: the kiosk draws the same sizes all day)."""
    return ImageFont.truetype(str(font_path(bold=bold, condensed=condensed)), size)


@dataclasses.dataclass(frozen=True)
class TicketLayout:
    """How this office's tickets look; built from ``NodeConfig.ticket``.

    :param paper_mm: 58 or 80 (384 or 576 printable dots).
    :param languages: the office's ticket languages (e.g. ``("ky", "ru")``); empty means the
        citizen's language only.
    :param footer: per-language footer text.
    :param native_qr: send the QR as the printer's own ``GS ( k`` command (~65 bytes instead of
        ~900) instead of drawing it into the raster.
    :param max_languages: at most this many languages per line, to keep the ticket short.
    :param width_dots: printable width when the printer differs from the paper's usual (TM-T88: 512).
    """

    paper_mm: int = 80
    languages: tuple[str, ...] = ()
    footer: Mapping[str, str] = dataclasses.field(default_factory=dict)
    native_qr: bool = False
    max_languages: int = DEFAULT_MAX_LANGUAGES
    width_dots: int | None = None

    @property
    def dots(self) -> int:
        return self.width_dots or PAPER_DOTS.get(self.paper_mm, PAPER_DOTS[80])

    @classmethod
    def from_config(cls, ticket: Mapping[str, Any]) -> TicketLayout:
        footer = ticket.get("footer") or {}
        if isinstance(footer, str):
            footer = {"en": footer}
        return cls(
            paper_mm=int(ticket.get("paper_mm", 80)),
            languages=tuple(ticket.get("languages") or ()),
            footer=dict(footer),
            native_qr=bool(ticket.get("native_qr", False)),
            max_languages=int(ticket.get("max_languages", DEFAULT_MAX_LANGUAGES)),
            width_dots=int(ticket["dots"]) if ticket.get("dots") else None,
        )

    def languages_for(self, citizen: str) -> list[str]:
        """The citizen's language first, then the office's ticket languages."""
        langs = [citizen, *[lang for lang in self.languages if lang != citizen]]
        return langs[: max(1, self.max_languages)]


@dataclasses.dataclass(frozen=True)
class TextBlock:
    """One line of text drawn on the ticket, where it is, and how big (for tests and previews)."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom in ticket pixels
    size: int
    bold: bool
    condensed: bool
    lang: str | None
    item: str  # "office", "number", "service", ...


@dataclasses.dataclass
class RenderedTicket:
    """A drawn ticket.

    ``pieces`` is what the printer sends in order: 1-bit images, and (with ``native_qr``) the QR
    content as a ``str`` for the printer's own QR command. ``image`` is the whole ticket as the
    citizen will see it (with the QR drawn in), for the screen, previews and tests.
    """

    pieces: list[Image.Image | str]
    blocks: list[TextBlock]
    width: int
    qr_url: str | None
    qr_box: tuple[int, int, int, int] | None
    image: Image.Image

    def blocks_of(self, item: str) -> list[TextBlock]:
        return [b for b in self.blocks if b.item == item]


# --- text fitting --------------------------------------------------------------------------------

def _wrap(words_text: str, fnt: FontT, width: int, hard: bool) -> list[str] | None:
    """Greedy word wrap by real glyph widths; ``None`` if a single word is too wide (unless hard)."""
    lines: list[str] = []
    current = ""
    # split on plain spaces only: a no-break space keeps "≈ 25 min" together
    for word in [w for w in re.split(r"[ \t\n]+", words_text) if w]:
        candidate = f"{current} {word}" if current else word
        if fnt.getlength(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if fnt.getlength(word) <= width:
            current = word
            continue
        if not hard:
            return None
        piece = ""
        for ch in word:  # break inside the word: only at the smallest size, as a last resort
            if fnt.getlength(piece + ch) > width and piece:
                lines.append(piece)
                piece = ch
            else:
                piece += ch
        current = piece
    if current:
        lines.append(current)
    return lines


def fit_text(
    value: str, *, width: int, max_size: int, min_size: int, max_lines: int,
    bold: bool = False, condensed: bool = False,
) -> tuple[int, list[str]]:
    """The largest size (≤ ``max_size``) at which ``value`` wraps into ``max_lines`` within ``width``.

    At ``min_size`` words are broken as a last resort, so the result always fits the width.
    """
    size = max_size
    while size >= min_size:
        lines = _wrap(value, font(size, bold, condensed), width, hard=False)
        if lines is not None and len(lines) <= max_lines:
            return size, lines
        size -= 1 if size <= 24 else 2
    lines = _wrap(value, font(min_size, bold, condensed), width, hard=True) or [""]
    return min_size, lines


# --- drawing ------------------------------------------------------------------------------------

class _Canvas:
    """A tall white strip we draw down, cropped to the used height at the end."""

    def __init__(self, width: int, margin: int) -> None:
        self.width = width
        self.margin = margin
        self.image = Image.new("L", (width, 4000), 255)
        self.draw = ImageDraw.Draw(self.image)
        self.y = margin
        self.blocks: list[TextBlock] = []

    @property
    def inner(self) -> int:
        return self.width - 2 * self.margin

    def gap(self, dots: int) -> None:
        self.y += dots

    def rule(self) -> None:
        self.y += 6
        self.draw.line([(self.margin, self.y), (self.width - self.margin, self.y)], fill=0, width=2)
        self.y += 10

    def lines(self, item: str, lang: str | None, lines: Sequence[str], size: int,
              bold: bool = False, condensed: bool = False) -> None:
        fnt = font(size, bold, condensed)
        ascent, descent = fnt.getmetrics()
        for line in lines:
            w = fnt.getlength(line)
            x = int((self.width - w) / 2)
            self.draw.text((x, self.y), line, font=fnt, fill=0)
            self.blocks.append(TextBlock(line, (x, self.y, x + int(round(w)), self.y + ascent + descent),
                                         size, bold, condensed, lang, item))
            self.y += ascent + descent + max(2, size // 8)

    def multilang(self, item: str, texts: Sequence[tuple[str | None, str]], *, max_size: int,
                  min_size: int, max_lines: int, bold: bool = False, condensed: bool = False) -> None:
        """Draw one item in several languages at one shared size (the smallest that fits all)."""
        texts = [(lang, t) for lang, t in texts if t]
        if not texts:
            return
        size = min(fit_text(t, width=self.inner, max_size=max_size, min_size=min_size,
                            max_lines=max_lines, bold=bold, condensed=condensed)[0] for _, t in texts)
        seen: set[str] = set()
        for lang, t in texts:
            if t in seen:  # "Талон" is "Талон" in four languages: print it once
                continue
            seen.add(t)
            _, lines = fit_text(t, width=self.inner, max_size=size, min_size=min(size, min_size),
                                max_lines=max_lines, bold=bold, condensed=condensed)
            self.lines(item, lang, lines, size, bold, condensed)

    def paste(self, im: Image.Image) -> tuple[int, int, int, int]:
        x = (self.width - im.width) // 2
        self.image.paste(im, (x, self.y))
        box = (x, self.y, x + im.width, self.y + im.height)
        self.y += im.height
        return box

    def crop(self, top: int, bottom: int) -> Image.Image:
        part = self.image.crop((0, top, self.width, bottom))
        return part.convert("1", dither=Image.Dither.NONE)


def qr_image(url: str, target_px: int) -> Image.Image:
    """The status-page QR as a crisp 1-bit image about ``target_px`` wide (whole-dot modules)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, box_size=1)
    code.add_data(url)
    code.make(fit=True)
    modules = code.modules_count + 2 * code.border
    code.box_size = max(2, target_px // modules)
    img = code.make_image(fill_color="black", back_color="white")
    return img.get_image().convert("L")


def native_qr_size(url: str, target_px: int) -> int:
    """The ``GS ( k`` module size (1-16 dots) giving about ``target_px`` for ``url``."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    code.add_data(url)
    code.make(fit=True)
    return max(1, min(16, target_px // code.modules_count))


def _local_time(ts: dt.datetime, timezone: str) -> dt.datetime:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=dt.UTC)
    try:
        return ts.astimezone(zoneinfo.ZoneInfo(timezone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return ts


def render_ticket(ticket: TicketInfo, config: NodeConfig, layout: TicketLayout | None = None) -> RenderedTicket:
    """Draw ``ticket`` for the office in ``config`` (names, timezone, footer, paper width)."""
    layout = layout or TicketLayout.from_config(config.ticket)
    width = layout.dots
    s = width / 576  # every size below is for 80 mm paper, scaled for 58 mm
    c = _Canvas(width, margin=max(8, int(12 * s)))
    langs = layout.languages_for(ticket.language)
    service = next((sv for sv in config.services if sv.id == ticket.service), None)
    service_names: Mapping[Any, str] = service.names if service else {}
    category = next((cat for cat in config.categories if cat.id == ticket.priority), None)

    def each(fn: Any) -> list[tuple[str | None, str]]:
        return [(lang, fn(lang)) for lang in langs]

    office_names: Mapping[Any, str] = config.office_names
    c.multilang("office", each(lambda lang: pick(office_names, lang)),
                max_size=int(30 * s), min_size=int(18 * s), max_lines=2, bold=True)
    c.rule()
    c.multilang("title", each(lambda lang: text(lang, "ticket")), max_size=int(26 * s), min_size=int(18 * s),
                max_lines=1)
    c.multilang("number", [(None, ticket.label)], max_size=int(170 * s), min_size=int(48 * s),
                max_lines=1, bold=True, condensed=True)
    c.multilang("service", each(lambda lang: pick(service_names, lang) if service_names else ticket.service),
                max_size=int(32 * s), min_size=int(18 * s), max_lines=3, bold=True)
    c.multilang("purpose", each(lambda lang: text(lang, f"purpose.{ticket.purpose}")),
                max_size=int(28 * s), min_size=int(18 * s), max_lines=2)
    if category is not None:
        cat_names: Mapping[Any, str] = category.names
        c.multilang("priority", each(lambda lang: f"{text(lang, 'priority')}: {pick(cat_names, lang)}"),
                    max_size=int(26 * s), min_size=int(16 * s), max_lines=2)
    c.rule()
    if ticket.people_ahead is not None:
        c.multilang("people_ahead", each(lambda lang: text(lang, "people_ahead", n=ticket.people_ahead)),
                    max_size=int(30 * s), min_size=int(18 * s), max_lines=2)
    if ticket.wait_min is None:
        c.multilang("wait", each(lambda lang: text(lang, "estimate_unavailable")),
                    max_size=int(28 * s), min_size=int(16 * s), max_lines=2)
    else:
        minutes, most = ticket.wait_min, ticket.wait_max_min

        def wait_line(lang: str) -> str:
            # The range: "≈ 12 min, at most 25" (the point and the forecast's upper bound); each half
            # kept on one line so a number never parts from its unit.
            if most is None or most <= minutes:
                return f"{text(lang, 'estimated_wait')}: {text(lang, 'wait_minutes', n=minutes).replace(' ', NBSP)}"
            point, _, bound = text(lang, "wait_range_minutes", n=minutes, m=most).partition(", ")
            return f"{text(lang, 'estimated_wait')}: {point.replace(' ', NBSP)}, {bound.replace(' ', NBSP)}"
        c.multilang("wait", each(wait_line), max_size=int(28 * s), min_size=int(16 * s), max_lines=2)
    if ticket.counter_number:
        number = ticket.counter_number
        c.multilang("counter", each(lambda lang: text(lang, "window", n=number)),
                    max_size=int(34 * s), min_size=int(20 * s), max_lines=1, bold=True)
    c.multilang("please_wait", each(lambda lang: text(lang, "please_wait")),
                max_size=int(26 * s), min_size=int(16 * s), max_lines=2)
    issued = _local_time(ticket.issued_at, config.timezone)
    c.multilang("datetime", [(None, issued.strftime("%d.%m.%Y  %H:%M"))], max_size=int(26 * s),
                min_size=int(16 * s), max_lines=1)

    pieces: list[Image.Image | str] = []
    qr_box = None
    if ticket.status_url:
        c.gap(int(10 * s))
        target = int(width * 0.45)
        qr = qr_image(ticket.status_url, target)
        if layout.native_qr:
            pieces.append(c.crop(0, c.y))
            pieces.append(ticket.status_url)
            top_of_tail = c.y
            qr_box = c.paste(qr)  # drawn only in the preview; the printer draws its own
            c.y = top_of_tail + qr.height
            tail_start = c.y
        else:
            qr_box = c.paste(qr)
            tail_start = 0
        c.multilang("scan", each(lambda lang: text(lang, "scan_to_follow")),
                    max_size=int(22 * s), min_size=int(14 * s), max_lines=2)
    else:
        tail_start = 0
    footer = dict(layout.footer)
    if footer:
        c.rule()
        c.multilang("footer", each(lambda lang: pick(footer, lang)),
                    max_size=int(24 * s), min_size=int(14 * s), max_lines=2)
    bottom = c.y + c.margin
    if layout.native_qr and ticket.status_url:
        pieces.append(c.crop(tail_start, bottom))
    else:
        pieces.append(c.crop(0, bottom))
    return RenderedTicket(pieces=pieces, blocks=c.blocks, width=width, qr_url=ticket.status_url,
                          qr_box=qr_box, image=c.crop(0, bottom))


def render_text(value: str, size: int, bold: bool = False, condensed: bool = False) -> Image.Image:
    """``value`` alone, drawn exactly as the ticket draws a line (for comparisons in tests)."""
    fnt = font(size, bold, condensed)
    ascent, descent = fnt.getmetrics()
    w = int(round(fnt.getlength(value)))
    im = Image.new("L", (w, ascent + descent), 255)
    ImageDraw.Draw(im).text((0, 0), value, font=fnt, fill=0)
    return im.convert("1", dither=Image.Dither.NONE)
