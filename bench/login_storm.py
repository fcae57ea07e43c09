"""Sign-in under attack: memory of 40 parallel wrong logins, refusals of 800 wrong passwords, and
whether an unknown name answers as fast as a known one (issue 23).

Starts ``cherga server`` (uvicorn, SQLite, the demo accounts) as a subprocess three times:

1. timing: wrong passwords for a known and for unknown names, alternated (medians in ms: an attacker
   must not tell which names exist);
2. the storm: the server's RSS before and after 40 parallel wrong logins (argon2 takes 19 MiB each;
   before issue 23 that took the server from 109 MB to 736 MB and it stayed there);
3. on a fresh server, 800 wrong passwords for one account from 8 clients (how many were refused by
   the lock, how fast, the last ones' latency), then the right password (refused while locked).

    .venv/bin/python bench/login_storm.py --quick

The last line of output is one JSON object: ``{"bench": "login_storm", ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from cherga.broker_bridge.embedded import free_port
from cherga.office import start_server_process

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo-office.yaml"
LOGIN = "/api/v1/auth/login"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _server(workdir: Path, name: str) -> tuple[Any, str]:
    config = workdir / "office.yaml"
    if not config.exists():
        config.write_text(DEMO.read_text(encoding="utf-8"), encoding="utf-8")
    port = free_port()
    proc = start_server_process(config, f"sqlite:///{workdir / f'{name}.db'}", port, workdir / f"{name}.log",
                                env={"CHERGA_LOG_LEVEL": "WARNING", "CHERGA_DEMO_ACCOUNTS": "1"})
    return proc, f"http://127.0.0.1:{port}"


def _timing(base: str, rounds: int) -> dict[str, float]:
    known: list[float] = []
    unknown: list[float] = []
    httpx.post(f"{base}{LOGIN}", json={"username": "admin", "password": "cherga-admin"})  # warm up
    names = ("olena", "petro", "manager", "admin")  # each gets at most 4 wrong passwords: no account lock
    for i in range(min(rounds, 4 * len(names))):
        # Each round from its own loopback address (127.0.0.0/8 is all loopback): no address lock either.
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{2 + i}")
        with httpx.Client(base_url=base, timeout=30, transport=transport) as http:
            for user, out in ((names[i % len(names)], known), (f"nobody{i}", unknown)):
                t0 = time.perf_counter()
                r = http.post(LOGIN, json={"username": user, "password": f"wrong-password-{i}"})
                out.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 401, r.text
    return {"known_ms": round(statistics.median(known), 2), "unknown_ms": round(statistics.median(unknown), 2)}


async def _parallel(base: str, n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=n)) as http:
        answers = await asyncio.gather(*(http.post(LOGIN, json={"username": f"storm{i}", "password": "wrong-password"})
                                         for i in range(n)))
    return [a.status_code for a in answers]


async def _wrong(base: str, n: int, clients: int) -> tuple[list[int], list[float], float]:
    codes: list[int] = []
    latencies: list[float] = []
    todo = iter(range(n))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            for i in todo:
                t0 = time.perf_counter()
                r = await http.post(LOGIN, json={"username": "petro", "password": f"guess-{i:04d}"})
                latencies.append((time.perf_counter() - t0) * 1000)
                codes.append(r.status_code)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return codes, latencies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (under 60 s)")
    parser.add_argument("--parallel", type=int, default=40)
    parser.add_argument("--wrong", type=int, default=800)
    args = parser.parse_args()
    rounds = 12 if args.quick else 16  # wrong logins per kind of name (known, unknown)

    with tempfile.TemporaryDirectory(prefix="cherga-bench-") as tmp:
        workdir = Path(tmp)
        proc, base = _server(workdir, "timing")
        try:
            timing = _timing(base, rounds)
        finally:
            proc.terminate()
            proc.wait(10)

        proc, base = _server(workdir, "storm")
        try:
            httpx.post(f"{base}{LOGIN}", json={"username": "admin", "password": "cherga-admin"})  # warm up
            rss_before = _rss_mb(proc.pid)
            parallel = asyncio.run(_parallel(base, args.parallel))
            time.sleep(0.5)
            rss_after = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)

        # A fresh server (the storm above already locked this address): the account's own lock.
        proc, base = _server(workdir, "guessing")
        try:
            codes, latencies, elapsed = asyncio.run(_wrong(base, args.wrong, 8))
            right = httpx.post(f"{base}{LOGIN}", json={"username": "petro", "password": "cherga-operator"})
            rss_end = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)

    result = {
        "bench": "login_storm",
        "quick": args.quick,
        "login_known_user_ms": timing["known_ms"],
        "login_unknown_user_ms": timing["unknown_ms"],
        "rss_before_mb": round(rss_before, 1),
        "rss_after_parallel_mb": round(rss_after, 1),
        "rss_after_800_wrong_mb": round(rss_end, 1),
        "parallel_logins": args.parallel,
        "parallel_answers": {str(c): parallel.count(c) for c in sorted(set(parallel))},
        "wrong_passwords": args.wrong,
        "wrong_refused_locked": codes.count(429),
        "wrong_checked": codes.count(401),
        "wrong_per_s": round(len(codes) / elapsed, 1),
        "locked_p50_ms": round(statistics.median(latencies[-100:]), 2),
        "right_password_while_locked": right.status_code,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
