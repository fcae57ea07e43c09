"""Whether the live ticket pages' event streams hold up the queue, and how soon a call reaches the page.

The demo office (open around the clock, counters 1-3 on national and travel passports) on a real SQLite store, served
by uvicorn on loopback. Each round issues ``--streams`` tickets, then calls and finishes ``--calls``
of them at three counters, timing each "next" (the service call the pads and the panel make). Rounds
alternate: without pages, then with one live page (a server-sent event stream, ``/t/{token}/events``)
open per ticket, so the two are compared within the same minutes on the same busy machine. With the
pages open it also times, per call, how long until the called ticket's page got the update that
it left the queue ("called"; or already "served", as the bench finishes each visit at once). Leftover tickets are cancelled between rounds.

The clients run in the same process (an asyncio httpx client per stream), so their parsing competes
with the server for the GIL: a conservative setting (real pages run on phones).

Usage: ``python bench/ticket_streams.py [--quick] [--streams N] [--calls N] [--rounds N]``.
``--quick``: 100 streams, 40 calls, 2 rounds each way (under 60 s). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cherga.broker_bridge.contract import CounterAction  # noqa: E402
from cherga.server import auth  # noqa: E402
from cherga.server.app import create_app  # noqa: E402
from cherga.server.siteconfig import load_site_config  # noqa: E402
from cherga.server.store import Store, sqlite_url  # noqa: E402
from cherga.server.ticketpage.routes import StreamGate, gate_for  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo-office.yaml"
ALL_DAY = {d: [{"start": "00:00", "end": "23:59"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
COUNTERS = ("c1", "c2", "c3")
SERVICES = ("passport", "foreign-passport")  # both served at counters 1-3


def _config(workdir: Path) -> Path:
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["hours"] = {"days": ALL_DAY, "breaks": []}
    data["closing"] = {"warn_walk_ins": False}
    # The rounds issue some 1,500 tickets in one office day, over two services (both served at
    # counters 1-3): widen the walk-in range to what numbers allow.
    data["numbering"] = {"walk_in": {"first": 1, "last": 799}, "booked": {"first": 800, "last": 899},
                         "offline": {"first": 900, "last": 999}}
    for s in data["services"]:
        s.pop("daily_cap", None)
    path = workdir / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


class Pages:
    """``tokens``' live pages, each an event stream read by an asyncio task in one background thread."""

    def __init__(self, url: str, tokens: list[str]) -> None:
        self.url = url
        self.tokens = tokens
        self.called_at: dict[str, float] = {}
        self.updates = 0
        self.loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)
        self.thread.start()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        limits = httpx.Limits(max_connections=len(self.tokens) + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
            tasks = [asyncio.create_task(self._watch(client, token)) for token in self.tokens]
            await self._stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _watch(self, client: httpx.AsyncClient, token: str) -> None:
        async with client.stream("GET", f"{self.url}/t/{token}/events") as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    self.updates += 1
                    # the first update after the ticket left the queue (called, or already finished:
                    # the bench finishes each visit at once)
                    if data.get("state") != "waiting" and token not in self.called_at:
                        self.called_at[token] = time.perf_counter()

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)


def _round(app: Any, url: str, streams: int, calls: int, with_pages: bool) -> dict[str, Any]:
    service = app.state.service
    tickets = [service.issue_ticket(command_id=f"b-{uuid.uuid4().hex}", source="kiosk-1", service=SERVICES[i % 2])
               for i in range(streams)]
    pages = None
    gate = gate_for(app)
    if with_pages:
        pages = Pages(url, [t.token for t in tickets])
        deadline = time.monotonic() + 60
        while gate.open < streams and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # every page has had its first update
    next_ms: list[float] = []
    called: list[tuple[str, float]] = []
    for i in range(calls):
        counter = COUNTERS[i % len(COUNTERS)]
        t0 = time.perf_counter()
        outcome = service.counter_action(command_id=f"b-{uuid.uuid4().hex}", counter=counter,
                                         action=CounterAction.NEXT, source="bench")
        next_ms.append((time.perf_counter() - t0) * 1000)
        if outcome.ticket is not None:
            called.append((outcome.ticket.token or "", t0))
        service.counter_action(command_id=f"b-{uuid.uuid4().hex}", counter=counter, action=CounterAction.FINISH,
                               source="bench")
        time.sleep(0.02)  # a pad's press now and then, not a tight loop
    delivery_ms: list[float] = []
    updates = 0
    if pages is not None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(tok not in pages.called_at for tok, _ in called):
            time.sleep(0.05)
        delivery_ms = [(pages.called_at[tok] - t0) * 1000 for tok, t0 in called if tok in pages.called_at]
        updates = pages.updates
        pages.stop()
    for t in tickets:  # a clean queue for the next round
        with contextlib.suppress(Exception):
            service.cancel_ticket(command_id=f"b-{uuid.uuid4().hex}", ticket_id=t.ticket_id, source="bench",
                                  operator="bench")
    return {"next_ms": next_ms, "delivery_ms": delivery_ms, "updates": updates, "delivered": len(delivery_ms),
            "called": len(called), "open_peak": streams if with_pages else 0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="100 streams, 40 calls, 2 rounds each way (under 60 s)")
    ap.add_argument("--streams", type=int, default=0)
    ap.add_argument("--calls", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=0)
    args = ap.parse_args()
    streams = args.streams or (100 if args.quick else 250)
    calls = min(streams, args.calls or (40 if args.quick else 120))
    rounds = args.rounds or (2 if args.quick else 3)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        site = load_site_config(_config(workdir))
        store = Store(sqlite_url(workdir / "office.sqlite"))
        now = dt.datetime.now(dt.UTC)
        app = create_app(site, "sqlite://", store=store, sweep_interval=None)
        app.state.ticket_streams = StreamGate(limit=streams + 10)
        service = app.state.service
        for i, counter in enumerate(COUNTERS):
            auth.create_account(store, username=f"op{i}", role="operator", pin=f"{1000 + i}", now=now)
            service.counter_action(command_id=f"in-{counter}", counter=counter, action=CounterAction.SIGN_IN,
                                   source="bench", operator=f"op{i}", authenticated=True)
        without: list[float] = []
        with_: list[float] = []
        delivery: list[float] = []
        updates = delivered = called = 0
        with _serving(app) as url:
            for r in range(rounds):
                base = _round(app, url, streams, calls, with_pages=False)
                live = _round(app, url, streams, calls, with_pages=True)
                without += base["next_ms"]
                with_ += live["next_ms"]
                delivery += live["delivery_ms"]
                updates += live["updates"]
                delivered += live["delivered"]
                called += live["called"]
                print(f"round {r + 1}: next p50 {statistics.median(base['next_ms']):.2f} ms without pages, "
                      f"{statistics.median(live['next_ms']):.2f} ms with {streams}; call to page p50 "
                      f"{_pct(live['delivery_ms'], 0.5):.0f} ms", flush=True)
        store.close()
    result = {
        "bench": "ticket_streams", "quick": args.quick, "streams": streams, "calls_per_round": calls, "rounds": rounds,
        "next_ms_p50_without_pages": round(statistics.median(without), 2),
        "next_ms_p99_without_pages": round(_pct(without, 0.99), 2),
        "next_ms_p50_with_pages": round(statistics.median(with_), 2),
        "next_ms_p99_with_pages": round(_pct(with_, 0.99), 2),
        "call_to_page_ms_p50": round(_pct(delivery, 0.5), 1), "call_to_page_ms_p99": round(_pct(delivery, 0.99), 1),
        "calls_delivered": delivered, "calls": called, "updates_sent": updates,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
