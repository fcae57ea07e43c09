"""Report tables out of the server: CSV, XLSX (openpyxl), and charts as inline SVG (matplotlib).

Every :class:`~server.analytics.report.Table` exports the same way; headers are the column labels
in the reader's language and values are shown with :class:`Labels` (service names instead of
ids, counter numbers instead of ids). Numbers stay numbers in XLSX, so a manager can sum them.
Charts are drawn server-side (no CDN, no JavaScript) and embedded in the page as SVG text.
"""

from __future__ import annotations

import csv
import dataclasses
import io
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
            return self.names.get(key, {}).get(str(value), value)
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

_COLOURS = ("#1f5fa8", "#e08a1e", "#3a9a4a", "#c0392b")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]  # drop the XML prolog: the SVG goes inline in HTML


def _figure(title: str) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans", "font.size": 9})
    fig, ax = plt.subplots(figsize=(7.5, 2.8))
    ax.set_title(title, loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="#ddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _ticks(ax: Any, labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 16)
    ax.set_xticks(range(0, len(labels), step))
    ax.set_xticklabels([labels[i] for i in range(0, len(labels), step)], rotation=45 if len(labels) > 8 else 0,
                       ha="right" if len(labels) > 8 else "center")


def bar_chart(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]]) -> str:
    """Grouped bars, one group per category (e.g. issued and served per day)."""
    fig, ax = _figure(title)
    n = max(1, len(series))
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs = [x + (i - (n - 1) / 2) * width for x in range(len(categories))]
        ax.bar(xs, [v or 0 for v in values], width=width, label=name, color=_COLOURS[i % len(_COLOURS)])
    _ticks(ax, categories)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def line_chart(title: str, categories: Sequence[str], series: Mapping[str, Sequence[float | None]],
               *, limit: float | None = None, limit_label: str = "") -> str:
    """Lines over categories (e.g. mean and 90 % wait per day), with an optional target line."""
    fig, ax = _figure(title)
    for i, (name, values) in enumerate(series.items()):
        ax.plot(range(len(categories)), [float("nan") if v is None else v for v in values], marker="o",
                markersize=3, label=name, color=_COLOURS[i % len(_COLOURS)])
    if limit is not None:
        ax.axhline(limit, color="#c0392b", linestyle="--", linewidth=0.8, label=limit_label or None)
    _ticks(ax, categories)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)
