"""Benchmark: the region's intake of N offices' event logs (issue 21).

N simulated offices publish their event logs as ``EventBatch``es to a real regional Mosquitto, as
their uplinks would: each office writes events at the Kryvyi Rih peak rate (from
``examples/kryvyi-rih.demand.yaml``: the half-year's visitors over its open hours, times the peak
hour's weight, times the events a visit writes) and its uplink sends what it has every ``--poll``
seconds (the uplink's default 0.5 s), so the lag includes the wait for the next poll. The
publishers run in a process of their own; this process runs only the real
:class:`~server.region.intake.Intake` on PostgreSQL (storing what arrived together in one
transaction, then the retained acks). Measured per point:

* upload lag: event written at the office (its ``at``) -> stored and committed at the region;
* the intake's CPU (this process: the intake thread and its paho network thread), as a share of one
  core, and PostgreSQL's (all its processes), over the measured window.

    .venv/bin/python bench/region_scale.py [--quick] [--offices 10,100,300,1000] [--seconds 20]

Target (issue 21, 2 cores): 1,000 offices with upload lag p99 at most 2 s. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing as mp
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from cherga.broker_bridge import contract  # noqa: E402
from cherga.broker_bridge.contract import EventBatch, LoggedEvent  # noqa: E402
from cherga.broker_bridge.embedded import LocalMosquitto, free_port  # noqa: E402
from cherga.server.region.eventlog import Stored  # noqa: E402
from cherga.server.region.intake import Intake  # noqa: E402
from cherga.server.store import Store  # noqa: E402

EVENTS_PER_VISIT = 5  # issued, called, started, finished, rated (a recall or a transfer adds more)
WARMUP_S = 2.0


def peak_event_rate() -> float:
    """Events per second one Kryvyi Rih-sized office writes in its busiest hour."""
    demand = yaml.safe_load((REPO / "examples" / "kryvyi-rih.demand.yaml").read_text(encoding="utf-8"))
    start, end = demand["period_start"], demand["period_end"]
    holidays = set(demand.get("holidays", []))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    open_days = [d for d in days if d.weekday() < 5 and d not in holidays]  # weekdays: the office's main days
    profile = {int(h): float(w) for h, w in demand["hourly_profile"].items()}
    visitors_per_hour = demand["period_visitors"] / (len(open_days) * len(profile))
    peak = max(profile.values()) / (sum(profile.values()) / len(profile))
    return visitors_per_hour * peak * EVENTS_PER_VISIT / 3600.0


def publisher(port: int, offices: list[str], rate: float, seconds: float, poll_s: float, clients: int,
              ready: Any, go: Any, sent: Any) -> None:
    """The offices' uplinks: ``clients`` paho clients, each sending the batches of its share of offices."""
    import paho.mqtt.client as mqtt

    def run(share: list[str]) -> None:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{share[0]}", protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect("127.0.0.1", port)
        client.loop_start()
        rng = random.Random(share[0])
        seqs = dict.fromkeys(share, 0)
        # each office's uplink polls every poll_s, at its own phase
        due = {o: time.time() + rng.uniform(0, poll_s) for o in share}
        last = {o: time.time() for o in share}
        ready.wait()
        go.wait()
        end = time.time() + seconds
        count = 0
        while time.time() < end:
            now = time.time()
            for office in share:
                if due[office] > now:
                    continue
                span = now - last[office]
                # the events written since the last poll: a Poisson count at the peak rate, at uniform times
                n, t = 0, rng.expovariate(rate)
                while t < span:
                    n += 1
                    t += rng.expovariate(rate)
                if n:
                    times = sorted(last[office] + rng.uniform(0, span) for _ in range(n))
                    after = seqs[office]
                    events = [LoggedEvent(seq=after + i + 1, kind="issued", service="passport", at=dt.datetime.fromtimestamp(ts, dt.UTC))
                              for i, ts in enumerate(times)]
                    seqs[office] = after + n
                    batch = EventBatch(office=office, after=after, events=events, sent_at=dt.datetime.now(dt.UTC))
                    client.publish(contract.topic("region_events", office), batch.to_bytes(), qos=1)
                    count += n
                last[office] = now
                due[office] = now + poll_s
            time.sleep(0.01)
        with sent.get_lock():
            sent.value += count
        time.sleep(0.5)
        client.disconnect()
        client.loop_stop()

    shares = [offices[i::clients] for i in range(clients)]
    threads = [threading.Thread(target=run, args=(s,)) for s in shares if s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _cpu_postgres(pid: int) -> float:
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
    except psutil.Error:
        return float("nan")
    return total


def point(store: Store, port: int, pg_pid: int, n: int, rate: float, seconds: float, poll_s: float,
          tag: str) -> dict[str, Any]:
    offices = [f"{tag}{i:04d}" for i in range(n)]
    lags: list[float] = []
    stored = [0]
    measuring = [False]
    lock = threading.Lock()

    def on_stored(office: str, batch: EventBatch, result: Stored) -> None:
        now = time.time()
        if result.added:
            with lock:
                stored[0] += result.added
                if measuring[0]:
                    lags.extend(now - ev.at.timestamp() for ev in batch.events[-result.added:])

    intake = Intake(store, offices, "127.0.0.1", port, client_id=f"intake-{tag}", on_stored=on_stored).start()
    ctx = mp.get_context("spawn")
    ready, go, sent = ctx.Event(), ctx.Event(), ctx.Value("l", 0)
    clients = max(1, min(8, n // 50 + 1))
    proc = ctx.Process(target=publisher, args=(port, offices, rate, seconds + WARMUP_S, poll_s, clients, ready, go, sent))
    proc.start()
    ready.set()
    go.set()
    time.sleep(WARMUP_S)
    measuring[0] = True
    cpu0, pg0, t0, tx0 = _cpu_self(), _cpu_postgres(pg_pid), time.monotonic(), intake.stats.transactions
    proc.join()
    deadline = time.monotonic() + 120
    while stored[0] < sent.value and time.monotonic() < deadline:
        time.sleep(0.05)
    wall = time.monotonic() - t0
    cpu, pg = _cpu_self() - cpu0, _cpu_postgres(pg_pid) - pg0
    transactions = intake.stats.transactions - tx0
    intake.stop()
    return {
        "offices": n,
        "events_per_s": round(len(lags) / wall, 1),
        "lag_p50_s": round(_pct(lags, 0.5), 3),
        "lag_p99_s": round(_pct(lags, 0.99), 3),
        "lag_max_s": round(max(lags), 3) if lags else None,
        "intake_cpu_core_share": round(cpu / wall, 3),
        "postgres_cpu_core_share": round(pg / wall, 3),
        "transactions_per_s": round(transactions / wall, 1),
        "events_sent": sent.value,
        "events_stored": stored[0],
        "refused": sum(intake.stats.refused.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer offices, shorter points (under 60 s)")
    parser.add_argument("--offices", default=None, help="comma-separated office counts")
    parser.add_argument("--seconds", type=float, default=None, help="measured seconds per point")
    parser.add_argument("--poll", type=float, default=0.5, help="the uplinks' poll interval (s)")
    parser.add_argument("--rate-factor", type=float, default=1.0, help="times the Kryvyi Rih peak event rate")
    args = parser.parse_args()
    counts = [int(x) for x in (args.offices or ("10,100,300" if args.quick else "10,100,300,1000")).split(",")]
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    rate = peak_event_rate() * args.rate_factor
    logging.basicConfig(level=logging.WARNING)

    from tests.support.postgres import running_postgres

    points = []
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as pg:
        store = Store(pg.create_database("region_scale"), pool_size=4)
        pg_pid = int((Path(pg.base or tmp) / "pgdata" / "postmaster.pid").read_text().split()[0]) \
            if pg.base else 0
        broker = LocalMosquitto(Path(tmp) / "mosquitto", "127.0.0.1", free_port(), persistence=True)
        broker.start()
        try:
            for i, n in enumerate(counts):
                result = point(store, broker.port, pg_pid, n, rate, seconds, args.poll, f"p{i}o")
                print(json.dumps(result), flush=True)
                points.append(result)
        finally:
            broker.stop()
            store.close()
    biggest = max(points, key=lambda p: p["offices"])
    print(json.dumps({
        "bench": "region_scale", "quick": args.quick, "seconds_per_point": seconds, "poll_s": args.poll,
        "events_per_office_per_s": round(rate, 4), "points": points,
        "target": "1000 offices, upload lag p99 <= 2 s",
        # null: no point reached 1,000 offices (--quick), so the target was not measured
        "met": (biggest["lag_p99_s"] <= 2.0) if biggest["offices"] >= 1000 else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
