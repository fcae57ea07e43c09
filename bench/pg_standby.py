"""Benchmark: what a synchronous standby costs, and how long a promotion keeps kiosks waiting (issue 21).

Real PostgreSQL on loopback (``tests/support/postgres.py``), tickets issued through the service layer
(``OfficeService.issue_ticket``) by several kiosk threads at once:

1. ``alone``: a primary with no standby (every commit waits for its own fsync);
2. ``sync``: the same primary settings plus a synchronous standby (``synchronous_commit=on``,
   ``synchronous_standby_names``): every commit also waits for the standby's fsync;
3. ``failover``: with the synchronous standby, the primary is killed (``pg_ctl stop -m immediate``)
   mid-traffic and the standby promoted at once (``pg_ctl promote``); ``outage_s`` is the gap a
   kiosk sees, from the last ticket the old primary acknowledged to the first the promoted one did
   (PostgreSQL's promotion plus the service finding the new primary, not the administrator's
   reaction, which is minutes in real life).

    .venv/bin/python bench/pg_standby.py [--quick] [--tickets N] [--kiosks N]

The figures are the loopback floor: over a network every commit also waits one round trip to the
standby. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cherga.server.errors import ServiceError  # noqa: E402
from cherga.server.service import OfficeService  # noqa: E402
from cherga.server.siteconfig import SiteConfig  # noqa: E402
from cherga.server.store import Store  # noqa: E402
from tests.support.postgres import (  # noqa: E402
    SYNCHRONOUS_PRIMARY,
    PostgresServer,
    running_postgres,
    running_standby,
)

ALL_DAY = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ALONE = {k: v for k, v in SYNCHRONOUS_PRIMARY.items() if k != "synchronous_standby_names"}


def _config() -> SiteConfig:
    return SiteConfig.model_validate({
        "office": {"id": "bench", "names": {"uk": "ЦНАП"}},
        "services": [{"id": f"s{i}", "prefix": "ABCD"[i], "names": {"uk": f"Послуга {i}"}} for i in range(4)],
        "counters": [{"id": "c1", "number": "1", "services": ["s0", "s1", "s2", "s3"]}],
        "hours": {"days": ALL_DAY}, "closing": {"warn_walk_ins": False},
    })


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _url(*servers: PostgresServer) -> str:
    hosts = "&".join(f"host=127.0.0.1:{s.port}" for s in servers)
    return f"postgresql+psycopg://{servers[0].user}@/cherga?{hosts}&target_session_attrs=read-write&connect_timeout=5"


def _issue(service: OfficeService, kiosks: int, tickets: int, tag: str) -> dict[str, Any]:
    """``tickets`` issued by ``kiosks`` threads at once: tickets/s and per-call latency."""
    latencies: list[float] = []
    lock = threading.Lock()

    def kiosk(k: int) -> None:
        mine = []
        for n in range(tickets // kiosks):
            t0 = time.perf_counter()
            service.issue_ticket(command_id=f"{tag}-{k}-{n}", source=f"kiosk{k}", service=f"s{n % 4}")
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(kiosks)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"tickets_per_s": round(len(latencies) / wall, 1), "issue_p50_ms": round(_pct(latencies, 0.5) * 1000, 2),
            "issue_p99_ms": round(_pct(latencies, 0.99) * 1000, 2)}


def _failover(service: OfficeService, primary: PostgresServer, standby: PostgresServer, kiosks: int) -> dict[str, Any]:
    """Kill the primary mid-traffic, promote the standby: how long until a ticket is acknowledged again."""
    stop = threading.Event()
    acked: list[float] = []
    refused = [0]
    lock = threading.Lock()

    def kiosk(k: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                service.issue_ticket(command_id=f"fo-{k}-{n}", source=f"kiosk{k}", service=f"s{n % 4}")
            except ServiceError:
                with lock:
                    refused[0] += 1
                continue  # resend the same id, as a kiosk does
            with lock:
                acked.append(time.perf_counter())
            n += 1

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(kiosks)]
    for t in threads:
        t.start()
    while len(acked) < 20:
        time.sleep(0.01)
    killed = time.perf_counter()
    primary.stop("immediate")
    stopped = time.perf_counter()
    standby.promote()
    promoted = time.perf_counter()
    while not any(a > stopped for a in acked):
        time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join()
    # What a kiosk sees: from the last ticket the old primary acknowledged to the first the new one did.
    last_old = max(a for a in acked if a <= stopped)
    first_new = min(a for a in acked if a > stopped)
    return {"outage_s": round(first_new - last_old, 2), "promote_s": round(promoted - stopped, 2),
            "kill_s": round(stopped - killed, 2), "refused_during_switch": refused[0],
            "store_retries": service.stats["store_retries"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer tickets (under a minute)")
    ap.add_argument("--tickets", type=int, default=None)
    ap.add_argument("--kiosks", type=int, default=4)
    args = ap.parse_args()
    tickets = args.tickets or (400 if args.quick else 2000)
    logging.basicConfig(level=logging.CRITICAL)
    result: dict[str, Any] = {"bench": "pg_standby", "quick": args.quick, "tickets": tickets, "kiosks": args.kiosks}

    with running_postgres(ALONE) as alone:
        alone.query("CREATE DATABASE cherga")
        store = Store(_url(alone))
        service = OfficeService(_config(), store)
        _issue(service, args.kiosks, 40, "warm")
        result["alone"] = _issue(service, args.kiosks, tickets, "alone")
        store.close()

    with running_postgres(SYNCHRONOUS_PRIMARY) as primary, running_standby(primary) as standby:
        primary.query("CREATE DATABASE cherga")
        store = Store(_url(primary, standby))
        service = OfficeService(_config(), store)
        _issue(service, args.kiosks, 40, "warm")
        result["sync"] = _issue(service, args.kiosks, tickets, "sync")
        result["failover"] = _failover(service, primary, standby, args.kiosks)
        store.close()

    result["sync_cost_p50_ms"] = round(result["sync"]["issue_p50_ms"] - result["alone"]["issue_p50_ms"], 2)
    print(f"alone: {result['alone']}\nsync standby: {result['sync']}\nfailover: {result['failover']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
