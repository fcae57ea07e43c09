"""How long a month of the network's report takes for many offices, on PostgreSQL (issue 21).

A month (last month, Monday to Saturday) of ``--offices`` small offices is generated straight into the
region's ``events`` table with one SQL statement (``generate_series``; never through the service):
per office and day ``--visitors`` tickets over four desks and six services (issued, called, started,
finished, 3 % no-shows), each desk signed in and out. Then the network report of ``/reports/network``
is timed, as a regional administrator asks for it: every office's cells
(:func:`server.analytics.store.load_cells`), the report's tables summed over the offices, the offices
side by side and the staff rotation advice (:func:`server.analytics.routes.network_moves`).

``first``: the first report of the month (every closed day folded from the raw events and stored);
``warm``: the next one (the stored day cells). The issue's target is a month of 1,000 offices in at
most 10 s on 2 cores; ``per_office_ms`` and ``estimate_1000_s`` say what the measured size implies.

Two figures: ``side_by_side_s``, the offices side by side for every generated office (tickets, served,
no-shows, mean wait, % called within 15 min: :func:`server.analytics.store.office_totals`, SQL over the
raw events), and ``report_*_s``, the full report (cells, the summed tables, rotation) on the first
``--report-offices`` of them, whose cost grows with the offices (``report_per_office_ms``).

Usage: ``python bench/network_report.py [--quick] [--offices N] [--report-offices N] [--visitors N]``.
``--quick``: 50 offices, the full report on 10 (under 60 s). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from cherga.server.analytics.report import Context, ReportQuery, build_report, select, summary_table  # noqa: E402
from cherga.server.analytics.routes import network_moves  # noqa: E402
from cherga.server.analytics.store import load_cells, office_totals  # noqa: E402
from cherga.server.siteconfig import SiteConfig  # noqa: E402
from cherga.server.store import Store  # noqa: E402

TZ = ZoneInfo("Europe/Kyiv")
_TODAY = dt.datetime.now(TZ).date()
MONTH_END = _TODAY.replace(day=1) - dt.timedelta(days=1)  # last month: every day of it is closed
MONTH_START = MONTH_END.replace(day=1)
SERVICES = ["passport", "birth", "property", "social", "driver", "certificates"]
DESKS = 4

# One statement: offices x working days x visitors, each visit four events (or three with a no-show),
# in time order so the log's seq follows the clock as a live office's would.
GENERATE = """
INSERT INTO events (kind, office, ticket_id, service, counter, operator, at, data)
SELECT e.kind, t.office, t.ticket_id, t.service, e.counter, e.operator, e.at, CAST(e.data AS JSON) FROM (
  SELECT 'o' || lpad(g::text, 4, '0') AS office, d::date AS day, v,
         'o' || g || '-' || to_char(d, 'MMDD') || '-' || v AS ticket_id,
         (ARRAY[{services}])[1 + (v * 7 + g) % {n_services}] AS service,
         'c' || (1 + (v + g) % {desks}) AS counter, 'op-' || g || '-' || (1 + (v + g) % {desks}) AS operator,
         d + interval '6 hours' + (v * interval '9 hours') / ({visitors} + 1) AS issued_at,
         ((v * 37 + g * 11) % 29) AS wait_min, ((v * 13 + g) % 100) < 3 AS gone
  FROM generate_series(1, {offices}) g,
       generate_series(timestamp '{first}', timestamp '{last}', interval '1 day') d,
       generate_series(1, {visitors}) v
  WHERE extract(isodow FROM d) < 7
) t
CROSS JOIN LATERAL (VALUES
  ('issued', t.issued_at, NULL, NULL, '{{"origin": "walk_in", "purpose": "submit"}}'),
  ('called', t.issued_at + t.wait_min * interval '1 minute', t.counter, t.operator,
   json_build_object('waited_s', t.wait_min * 60)::text),
  (CASE WHEN t.gone THEN 'no_show' ELSE 'started' END,
   t.issued_at + t.wait_min * interval '1 minute' + interval '40 seconds', t.counter, t.operator, '{{}}'),
  (CASE WHEN t.gone THEN NULL ELSE 'finished' END,
   t.issued_at + t.wait_min * interval '1 minute' + interval '9 minutes', t.counter, t.operator, '{{}}')
) AS e(kind, at, counter, operator, data)
WHERE e.kind IS NOT NULL
UNION ALL
SELECT kind, 'o' || lpad(g::text, 4, '0'), NULL, NULL, 'c' || c, 'op-' || g || '-' || c, d + h, CAST('{{}}' AS JSON)
FROM generate_series(1, {offices}) g,
     generate_series(timestamp '{first}', timestamp '{last}', interval '1 day') d,
     generate_series(1, {desks}) c,
     (VALUES ('operator_signed_in', interval '5 hours 55 minutes'),
             ('operator_signed_out', interval '15 hours 30 minutes')) AS s(kind, h)
WHERE extract(isodow FROM d) < 7
ORDER BY 7
"""


def office_config(office: str) -> SiteConfig:
    return SiteConfig.model_validate({
        "office": {"id": office, "names": {"uk": f"ЦНАП {office}", "en": f"Office {office}"}, "timezone": str(TZ)},
        "services": [{"id": s, "prefix": "ABCDEF"[i], "names": {"uk": s}} for i, s in enumerate(SERVICES)],
        "counters": [{"id": f"c{c}", "number": str(c), "services": SERVICES} for c in range(1, DESKS + 1)],
    })


def generate(store: Store, offices: int, visitors: int) -> int:
    sql = GENERATE.format(services=", ".join(f"'{s}'" for s in SERVICES), n_services=len(SERVICES), desks=DESKS,
                          visitors=visitors, offices=offices, first=MONTH_START.isoformat(),
                          last=MONTH_END.isoformat())
    with store.transaction() as tx:
        tx.conn.execute(text(sql))
        count = int(tx.conn.execute(text("SELECT count(*) FROM events")).scalar() or 0)
    with store.transaction() as tx:
        tx.conn.execute(text("ANALYZE events"))
    return count


def network_report(store: Store, configs: dict[str, SiteConfig]) -> dict[str, Any]:
    """What /reports/network builds (server/analytics/routes.py _build for ``network``)."""
    cells = load_cells(store, {oid: cfg.office.tz for oid, cfg in configs.items()}, MONTH_START, MONTH_END)
    query = ReportQuery(start=MONTH_START, end=MONTH_END, period="day", group_by=("service",))
    report = build_report(cells, query, Context())
    side = summary_table(select(cells, query), dataclasses.replace(query, group_by=("office",), period="total"),
                         Context())
    moves = network_moves(cells, configs)
    return {"tables": len(report.tables), "offices_rows": len(side.rows), "moves": len(moves), "cells": len(cells)}


def side_by_side(store: Store, configs: dict[str, SiteConfig]) -> int:
    """The offices side by side (tickets, served, no-shows, mean wait, % called within 15 min), in SQL."""
    return len(office_totals(store, {oid: cfg.office.tz for oid, cfg in configs.items()}, MONTH_START, MONTH_END))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 offices, the full report on 10 (under 60 s)")
    parser.add_argument("--offices", type=int, default=None, help="offices generated (default 1000)")
    parser.add_argument("--report-offices", type=int, default=None,
                        help="offices the full report (cells, tables, rotation) is timed on (default 50)")
    parser.add_argument("--visitors", type=int, default=60, help="tickets per office and working day")
    args = parser.parse_args()
    offices = args.offices or (50 if args.quick else 1000)
    on = min(offices, args.report_offices or (10 if args.quick else 50))
    from tests.support.postgres import running_postgres

    result: dict[str, Any] = {"bench": "network_report", "offices": offices, "visitors_per_day": args.visitors,
                              "month": MONTH_START.isoformat()[:7], "report_offices": on}
    with running_postgres() as server:
        store = Store(server.create_database("bench"))
        t0 = time.perf_counter()
        events = generate(store, offices, args.visitors)
        print(f"generated {events} events for {offices} offices in {time.perf_counter() - t0:.1f} s", flush=True)
        configs = {f"o{g:04d}": office_config(f"o{g:04d}") for g in range(1, offices + 1)}
        gc.collect()
        best = float("inf")
        for _ in range(1 if args.quick else 3):
            t0 = time.perf_counter()
            rows = side_by_side(store, configs)
            best = min(best, time.perf_counter() - t0)
        result["side_by_side_s"] = round(best, 2)
        print(f"offices side by side, {offices} offices (SQL over the raw events): {best:.2f} s, {rows} rows", flush=True)
        some = dict(list(configs.items())[:on])
        t0 = time.perf_counter()
        first = network_report(store, some)
        result["report_first_s"] = round(time.perf_counter() - t0, 2)
        print(f"full report of {on} offices, first (folds every day): {result['report_first_s']} s {first}", flush=True)
        gc.collect()
        t0 = time.perf_counter()
        warm = network_report(store, some)
        result["report_warm_s"] = round(time.perf_counter() - t0, 2)
        print(f"full report of {on} offices, warm (stored day cells): {result['report_warm_s']} s {warm}", flush=True)
        store.close()
    result.update(events=events, side_by_side_rows=rows, cells=warm["cells"], moves=warm["moves"],
                  report_per_office_ms=round(1000 * result["report_warm_s"] / on, 1),
                  side_by_side_1000_s=round(result["side_by_side_s"] / offices * 1000, 2), target_1000_s=10.0)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
