"""Report tables out of the server: CSV, XLSX (openpyxl), and charts as inline SVG (matplotlib).

Every :class:`~server.analytics.report.Table` exports the same way; headers are the column labels
in the reader's language and values are shown with :class:`Labels` (service names instead of
ids, counter numbers instead of ids). Numbers stay numbers in XLSX, so a manager can sum them.
Charts are drawn server-side (no CDN, no JavaScript) and embedded in the page as SVG text.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import html
import io
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from cherga.server.analytics.i18n import text
from cherga.server.analytics.report import Table

_LABELLED = ("service", "counter", "office", "territory")


@dataclasses.dataclass(frozen=True, slots=True)
class Labels:
    """How ids read in one language: ``names[dimension][id]``."""

    lang: str = "en"
    names: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)

    def value(self, key: str, value: Any) -> Any:
        if value is None:
            return "—" if key in _LABELLED or key == "operator" else None
        if key in _LABELLED:
            names = self.names.get(key, {})
            if key == "service" and "+" in str(value):  # a pool of services sharing desks (staffing)
                return " + ".join(names.get(part, part) for part in str(value).split("+"))
            return names.get(str(value), value)
        return value

    def header(self, table: Table) -> list[str]:
        return [text(self.lang, c.key) for c in table.columns]

    def rows(self, table: Table) -> list[list[Any]]:
        keys = [c.key for c in table.columns]
        return [[self.value(k, v) for k, v in zip(keys, row, strict=True)] for row in table.rows]


def to_csv(table: Table, labels: Labels) -> str:
    """One table as CSV (UTF-8 text; the route adds a BOM so spreadsheet programs read Cyrillic)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(labels.header(table))
    for row in labels.rows(table):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_xlsx(tables: Sequence[Table], labels: Labels, *, title: str = "") -> bytes:
    """Every table on its own sheet: a title line, the header, then the rows."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    for table in tables:
        sheet = book.create_sheet(table.name[:31])
        sheet.append([f"{title} — {text(labels.lang, table.name)}" if title else text(labels.lang, table.name)])
        sheet["A1"].font = Font(bold=True, size=12)
        sheet.append(labels.header(table))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in labels.rows(table):
            sheet.append(row)
        for i, column in enumerate(table.columns, start=1):
            width = max([len(str(text(labels.lang, column.key)))] + [len(str(r[i - 1])) for r in table.rows[:200]])
            sheet.column_dimensions[get_column_letter(i)].width = min(40, max(8, width + 2))
            if column.kind in ("min", "hours", "float", "pct"):
                for (cell,) in sheet.iter_rows(min_row=3, min_col=i, max_col=i):
                    cell.number_format = "0.0#"
        sheet.freeze_panes = "A3"
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


# --- charts ---------------------------------------------------------------------------------------
#
# Chart text must read at 14 px or more wherever the page is shown. An SVG scaled to its column shrinks
# its text with it (a 7.5-inch figure at 9 pt in a 420 px column read at about 8 px), so each chart is
# drawn at the width it is shown at: 1 SVG unit = 1 CSS pixel, text in CSS pixels, and the page never
# scales it up or down. Two widths: WIDE for desks (the charts' column is at least that wide there) and
# NARROW for phones and paper; the page shows one of the two by a media query (analytics.css).

_COLOURS = ("#1f5fa8", "#e08a1e", "#3a9a4a", "#c0392b")
TEXT_PX = 15  # every text in a chart: ticks, legend, target label
WIDE = (600, 280)  # CSS pixels: width, height
NARROW = (330, 300)
_MAX_TICKS = {WIDE: 14, NARROW: 6}  # labels on the x axis before every n-th is skipped


def _svg(fig: Any, title: str) -> str:
    buf = io.StringIO()
    # No tight bbox: the figure keeps exactly the size it was made for. No metadata: no date, nothing a
    # screen reader could stumble on.
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog: the SVG goes inline in HTML
    # width/height in pt would make the browser scale by 4/3; in px, 1 unit (1 pt in matplotlib) = 1 px.
    head, rest = svg.split(">", 1)
    head = re.sub(r'(width|height)="([\d.]+)pt"', r'\1="\2"', head)
    label = html.escape(title, quote=True)
    return f'{head} role="img" aria-label="{label}" class="chart-svg">{rest}'


def _figure(title: str, size: tuple[int, int]) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": TEXT_PX,
                         "svg.hashsalt": "cherga"})
    fig, ax = plt.subplots(figsize=(size[0] / 72, size[1] / 72), layout="constrained")
    # No title inside: the page writes it above the chart (a caption wraps, reads and translates as text);
    # the SVG carries it as its accessible name.
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _ticks(ax: Any, labels: Sequence[str], size: tuple[int, int]) -> None:
    most = _MAX_TICKS.get(size, 14)
    step = max(1, -(-len(labels) // most))
    shown = range(0, len(labels), step)
    turn = len(shown) > (8 if size == WIDE else 4)
    ax.set_xticks(list(shown))
    ax.set_xticklabels([labels[i] for i in shown], rotation=45 if turn else 0, ha="right" if turn else "center",
                       rotation_mode="anchor" if turn else "default")


def _legend(fig: Any, size: tuple[int, int]) -> None:
    # Outside the plot, under the title (the layout makes room): inside, text this large would cover bars.
    # One entry a line on a narrow chart, where two side by side would not fit.
    fig.legend(loc="outside upper left", frameon=False, fontsize=TEXT_PX, ncols=2 if size[0] >= 500 else 1,
               handlelength=1.2, columnspacing=1.0, borderaxespad=0.2)


_Series = tuple[tuple[str, tuple[float | None, ...]], ...]
_DRAWING = threading.Lock()  # pyplot keeps global state: one drawing at a time (routes run in a thread pool)


def _frozen(series: Mapping[str, Sequence[float | None]]) -> _Series:
    return tuple((name, tuple(values)) for name, values in series.items())


def bar_chart(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]],
              *, size: tuple[int, int] = WIDE) -> str:
    """Grouped bars, one group per category (e.g. issued and served per day), ``size`` CSS pixels."""
    with _DRAWING:
        return _bar_chart(title, tuple(categories), _frozen(series), size)


def line_chart(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]],
               *, limit: float | None = None, limit_label: str = "", size: tuple[int, int] = WIDE) -> str:
    """Lines over categories (e.g. mean and 90 % wait per day), with an optional target line."""
    with _DRAWING:
        return _line_chart(title, tuple(categories), _frozen(series), limit, limit_label, size)


# Drawing takes a few hundred milliseconds per chart; a report of past days is asked for again and again
# (another language, another table's CSV link, a reload) with the same numbers: drawn once each.
@functools.lru_cache(maxsize=256)
def _bar_chart(title: str, categories: tuple[str, ...], series: _Series, size: tuple[int, int]) -> str:
    fig, ax = _figure(title, size)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series):
        xs = [x + (i - (n - 1) / 2) * width for x in range(len(categories))]
        ax.bar(xs, [v or 0 for v in values], width=width, label=name, color=_COLOURS[i % len(_COLOURS)])
    _ticks(ax, categories, size)
    _legend(fig, size)
    return _svg(fig, title)


@functools.lru_cache(maxsize=256)
def _line_chart(title: str, categories: tuple[str, ...], series: _Series, limit: float | None, limit_label: str,
                size: tuple[int, int]) -> str:
    fig, ax = _figure(title, size)
    for i, (name, values) in enumerate(series):
        ax.plot(range(len(categories)), [float("nan") if v is None else v for v in values], marker="o",
                markersize=4, label=name, color=_COLOURS[i % len(_COLOURS)])
    if limit is not None:
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=1, label=limit_label or None)
    _ticks(ax, categories, size)
    ax.set_ylim(bottom=0)
    _legend(fig, size)
    return _svg(fig, title)
