"""Benchmark: "next" through the REST API of one server that runs N offices (issue 21).

One app (``create_app`` with N office configs, the demo office open round the clock under ids
``o00``…) on one SQLite file (WAL, ``synchronous=FULL``); a regional administrator's token; one
operator's counter c1 signed in at each office; tickets waiting at every office. Each timed call is
``POST /api/v1/offices/{office}/counters/c1/next`` (in-process ASGI, no network), the offices taken in
turn, so the figure is what a counter of any office waits with N offices beside it: the token
lookup, the office scope check, the office's lock, the commit. The same run with one office is the
baseline (what the office-scope check and the extra offices cost).

    .venv/bin/python bench/many_offices.py [--quick] [--offices N] [--calls N]

Target (issue 21, for offices served by a region server directly): call p99 ≤ 10 ms with 20
offices. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from cherga.server import auth  # noqa: E402
from cherga.server.app import create_app  # noqa: E402
from cherga.server.siteconfig import SiteConfig  # noqa: E402
from cherga.server.store import Store, sqlite_url  # noqa: E402

DEMO = REPO / "examples" / "demo-office.yaml"
ALL_DAY = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
PASSWORD = "bench-password-1"


def _configs(n: int) -> list[SiteConfig]:
    """``n`` copies of the demo office (same services, prefixes, counters), open round the clock, no caps."""
    base = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    base["hours"] = {"days": ALL_DAY, "breaks": []}
    base["closing"] = {"warn_walk_ins": False}
    for s in base["services"]:
        s.pop("daily_cap", None)
    out = []
    for i in range(n):
        data = json.loads(json.dumps(base))
        data["office"]["id"] = f"o{i:02d}"
        out.append(SiteConfig.model_validate(data))
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _run(n_offices: int, calls: int, workdir: Path) -> dict[str, Any]:
    db = workdir / f"offices-{n_offices}.db"
    store = Store(sqlite_url(db))
    auth.create_account(store, username="regional", role="admin", password=PASSWORD)  # every office
    app = create_app(_configs(n_offices), "", store=store, sweep_interval=None)
    offices = list(app.state.services)
    per_office = calls // n_offices + 1
    for svc in app.state.services.values():
        # Spread over the services counter c1 serves: one service's numbers run to 699 a day.
        served = [s.id for s in next(c for c in svc.config.counters if c.id == "c1").services]
        for i in range(per_office):
            svc.issue_ticket(command_id=f"{svc.office}-k{i}", source="bench", service=served[i % len(served)])
    times: list[float] = []
    with TestClient(app) as client:
        r = client.post("/api/v1/auth/login", json={"username": "regional", "password": PASSWORD})
        headers = {"Authorization": f"Bearer {r.json()['token']}"}
        for office in offices:
            assert client.post(f"/api/v1/offices/{office}/counters/c1/sign-in", headers=headers).status_code == 200
        for i in range(calls):
            office = offices[i % n_offices]
            t0 = time.perf_counter()
            r = client.post(f"/api/v1/offices/{office}/counters/c1/next", headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    called = {o: sum(1 for e in store.events(o) if e["kind"] == "called") for o in offices}
    store.close()
    assert sum(called.values()) == calls, called  # every press called one visitor of its own office
    return {"offices": n_offices, "calls": calls, "call_p50_ms": round(_pct(times, 0.5), 2),
            "call_p99_ms": round(_pct(times, 0.99), 2), "call_max_ms": round(max(times), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer calls (under 60 s)")
    ap.add_argument("--offices", type=int, default=20)
    ap.add_argument("--calls", type=int, default=0, help="timed calls (default 1200, quick 400)")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    calls = args.calls or (400 if args.quick else 1200)
    with tempfile.TemporaryDirectory() as tmp:
        one = _run(1, calls, Path(tmp))
        many = _run(args.offices, calls, Path(tmp))
    for row in (one, many):
        print(f"{row['offices']:>3} offices: next p50 {row['call_p50_ms']} ms, p99 {row['call_p99_ms']} ms")
    print(json.dumps({"bench": "many_offices", "one_office": one, "many_offices": many,
                      "target_p99_ms": 10.0, "ok": many["call_p99_ms"] <= 10.0}))


if __name__ == "__main__":
    main()
