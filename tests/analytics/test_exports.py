"""Exports carry the report's numbers: XLSX opened with openpyxl and CSV read back give the same values."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from cherga.server.analytics.engine import fold
from cherga.server.analytics.export import Labels, bar_chart, line_chart, to_csv, to_xlsx
from cherga.server.analytics.report import ReportQuery, build_report
from cherga.server.analytics.staffing import staffing_table
from tests.analytics.eventlog import DAY, KYIV, at, morning

LABELS = Labels("uk", {"service": {"passport": "Паспорт громадянина", "residence": "Реєстрація місця проживання",
                                   "notary": "Нотаріальні дії"}})


def report():  # type: ignore[no-untyped-def]
    cells = fold(morning(), tz=KYIV, until=at("23:00"))
    query = ReportQuery(start=DAY, end=DAY, period="total", group_by=("service",), show_employees=True)
    return build_report(cells, query, staffing=staffing_table(cells, query))


def test_every_table_is_a_sheet_with_the_same_numbers() -> None:
    rep = report()
    book = load_workbook(io.BytesIO(to_xlsx(rep.tables, LABELS, title="ЦНАП «Демо»")))
    assert book.sheetnames == [t.name for t in rep.tables]
    for table in rep.tables:
        sheet = book[table.name]
        assert sheet["A1"].value.startswith("ЦНАП «Демо» — ")
        assert [c.value for c in sheet[2]] == LABELS.header(table)
        values = [list(r) for r in sheet.iter_rows(min_row=3, values_only=True)]
        assert values == LABELS.rows(table)
    summary = {r[0]: r for r in book["summary"].iter_rows(min_row=3, values_only=True)}
    passport = summary["Паспорт громадянина"]
    assert passport[1:5] == (3, 3, 1, 0) and passport[6] == 14.0 and passport[10] == 50.0


def test_csv_reads_back_to_the_same_table_in_ukrainian() -> None:
    table = report().table("summary")
    rows = list(csv.reader(io.StringIO(to_csv(table, LABELS))))
    assert rows[0][:3] == ["Послуга", "Видано талонів", "Обслуговано"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["Нотаріальні дії"][1:3] == ["1", "1"]
    assert by_name["Реєстрація місця проживання"][13] == ""  # nobody served: no service time, not zero


def test_charts_are_inline_svg_with_their_labels_as_text() -> None:
    svg = bar_chart("Видано та обслуговано", ["09:00", "10:00"], {"Видано": [6, 0], "Обслуговано": [3, 1]})
    assert svg.startswith("<svg") and "Обслуговано" in svg
    svg = line_chart("Очікування", ["09:00"], {"середнє": [10.5]}, limit=15, limit_label="15 хв")
    assert "15 хв" in svg
