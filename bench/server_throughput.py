"""Office server throughput over HTTP: durable tickets per second, latency, and "next" calls per second.

Starts ``cherga server`` (uvicorn, 1 worker, SQLite in WAL with ``synchronous=FULL``: a ticket is
on disk before its 201) as a subprocess, issues tickets from concurrent keep-alive clients, then
has every front-office counter press "next" concurrently until the queue is empty.

    .venv/bin/python bench/server_throughput.py --quick

The last line of output is one JSON object: ``{"bench": "server_throughput", "tickets_per_s", "p50_ms",
"p99_ms", "next_per_s", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from cherga.broker_bridge.embedded import free_port
from cherga.office import start_server_process

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo-office.yaml"
ALL_DAY = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _config(workdir: Path) -> tuple[Path, list[str], list[str]]:
    """The demo office, open around the clock and without daily caps."""
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["hours"] = {"days": ALL_DAY, "breaks": []}
    data["closing"] = {"warn_walk_ins": False}  # 2,000 tickets nobody calls run past any closing: issue them
    for s in data["services"]:
        s.pop("daily_cap", None)
    path = workdir / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    services = [s["id"] for s in data["services"] if not s.get("appointment_only")]
    counters = [c["id"] for c in data["counters"] if not c.get("back_office")]
    return path, services, counters


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    t = os.times()
    return t.user + t.system


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def _issue(base: str, services: list[str], total: int, clients: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(k: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for i in counter:
                t0 = time.perf_counter()
                r = await http.post("/api/v1/offices/demo/tickets",
                                    json={"service": services[i % len(services)], "command_id": f"b{k}-{i}"})
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 201:
                    errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return time.perf_counter() - start, latencies, errors


async def _next(base: str, counters: list[str], token: str, limit: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    called = 0
    headers = {"Authorization": f"Bearer {token}"}

    async def counter(c: str) -> None:
        nonlocal called
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as http:
            while called < limit:
                t0 = time.perf_counter()
                r = await http.post(f"/api/v1/offices/demo/counters/{c}/next")
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code != 200 or r.json()["status"] == "empty":
                    return
                called += 1

    start = time.perf_counter()
    await asyncio.gather(*(counter(c) for c in counters))
    return time.perf_counter() - start, latencies, called


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under 60 s)")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    total = args.tickets or (2000 if args.quick else 6000)

    with tempfile.TemporaryDirectory(prefix="cherga-bench-") as tmp:
        workdir = Path(tmp)
        config, services, counters = _config(workdir)
        port = free_port()
        proc = start_server_process(config, f"sqlite:///{workdir / 'cherga.db'}", port, workdir / "server.log",
                                    env={"CHERGA_LOG_LEVEL": "WARNING", "CHERGA_DEMO_ACCOUNTS": "1"})
        base = f"http://127.0.0.1:{port}"
        try:
            # Warm up (imports, statement caches) so the numbers are about steady state.
            asyncio.run(_issue(base, services, 50, 4))
            cpu0 = _cpu(proc.pid), _own_cpu()
            issue_s, issue_lat, issue_errors = asyncio.run(_issue(base, services, total, args.clients))
            cpu1 = _cpu(proc.pid), _own_cpu()
            # Every counter at once with one token: an administrator's (an operator acts only at the
            # counter they are signed in at, issue 23).
            token = httpx.post(f"{base}/api/v1/auth/login",
                               json={"username": "admin", "password": "cherga-admin"}).json()["token"]
            next_s, next_lat, called = asyncio.run(_next(base, counters, token, total))
            metrics = httpx.get(f"{base}/metrics").text
        finally:
            proc.terminate()
            proc.wait(10)
        issued = total - issue_errors
        ops = {m.group(1): float(m.group(2)) for m in re.finditer(
            r'cherga_service_operations_total\{office="demo",operation="(\w+)"\} ([0-9.e+]+)', metrics)}
        result = {
            "bench": "server_throughput",
            "tickets_per_s": round(issued / issue_s, 1),
            "p50_ms": round(statistics.median(issue_lat), 2),
            "p99_ms": round(_pct(issue_lat, 0.99), 2),
            "next_per_s": round(called / next_s, 1),
            "next_p50_ms": round(statistics.median(next_lat), 2),
            "next_p99_ms": round(_pct(next_lat, 0.99), 2),
            "tickets": issued,
            "issue_errors": issue_errors,
            "clients": args.clients,
            "server_cpu_ms_per_ticket": round((cpu1[0] - cpu0[0]) * 1000 / max(1, total), 3),
            "client_cpu_ms_per_ticket": round((cpu1[1] - cpu0[1]) * 1000 / max(1, total), 3),
            "ops_per_commit": round(ops.get("committed_operations", 0) / max(1.0, ops.get("commits", 0)), 2),
            "counters": len(counters),
            "store": "sqlite WAL synchronous=FULL, group commit",
            "cpus": os.cpu_count(),
        }
        print(f"issued {issued} tickets in {issue_s:.1f} s with {args.clients} clients; "
              f"{called} next calls by {len(counters)} counters in {next_s:.1f} s")
        print(json.dumps(result))


if __name__ == "__main__":
    main()
