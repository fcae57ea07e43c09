"""Benchmark: notifications sent through the fake gateways while the queue runs, and what that costs the queue.

A real ``OfficeService`` on a SQLite file (WAL, ``synchronous=FULL``) runs a steady queue: every
``1/rate`` seconds a ticket is issued and a counter presses "next" (timed: the call latency).
A backlog of ``--messages`` outbox messages (SMS over HTTP, Telegram Bot API, e-mail over SMTP to
aiosmtpd, all on loopback) is queued first. Then short windows alternate, in the same minutes:

* "off": the notifier's threads paused: the queue alone;
* "on": the follower and the sender running, the backlog being delivered, and every new ticket
  leaving an SMS contact (so each call also queues a "called to window N").

Windows go on until the outbox is empty. Reports call latency p50/p99 of the off and the on
windows, the send throughput (messages delivered per second of "on" time) and the per-message
send time. (A sender's pass under way when a window turns "off" finishes in it: at most 50 messages.)

    .venv/bin/python bench/notify.py [--quick] [--messages N] [--rate R]

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from cherga.broker_bridge.contract import CounterAction  # noqa: E402
from cherga.server import auth  # noqa: E402
from cherga.server.notify import plan  # noqa: E402
from cherga.server.notify.engine import Notifier  # noqa: E402
from cherga.server.service import OfficeService  # noqa: E402
from cherga.server.siteconfig import SiteConfig  # noqa: E402
from cherga.server.store import Store, sqlite_url  # noqa: E402
from tests.notify.fakes import FakeGateway, smtp_server  # noqa: E402

COUNTERS = ["c1", "c2"]
SERVICES = ["passport", "foreign-passport"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


class OfficeClock:
    """A Wednesday morning in Kyiv advancing with real time; :meth:`next_week` starts a fresh office day."""

    def __init__(self) -> None:
        self.start, self.t0 = dt.datetime(2026, 3, 4, 7, 0, tzinfo=dt.UTC), time.monotonic()
        self._lock = threading.Lock()
        self.issued = 0

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.start + dt.timedelta(seconds=time.monotonic() - self.t0)

    def next_week(self) -> None:
        with self._lock:
            self.start += dt.timedelta(days=7)


def site(gateway_url: str, smtp_port: int) -> SiteConfig:
    data = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    for s in data["services"]:
        s.pop("daily_cap", None)
    data["notify"] = {
        "near_people": 0, "near_minutes": 0, "retention_days": 365,  # the bench's clock jumps whole weeks
        "sms": {"url": f"{gateway_url}/sms/send", "body": '{"to": "{to}", "text": "{text}", "id": "{id}"}'},
        "telegram": {"base_url": gateway_url, "token_env": "CHERGA_BENCH_TG_TOKEN"},
        "email": {"host": "127.0.0.1", "port": smtp_port, "starttls": False, "sender": "cnap@example.org"},
    }
    return SiteConfig.model_validate(data)


def queue_phase(svc: OfficeService, clock: OfficeClock, *, seconds: float, rate: float, tag: str,
                notifier: Notifier | None = None) -> list[float]:
    """Issue + next every 1/rate s for ``seconds``; the call latencies (ms). With ``notifier``, each ticket
    leaves an SMS contact."""
    latencies: list[float] = []
    period = 1.0 / rate
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i * period
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        clock.issued += 1
        if clock.issued % 1200 == 0:
            clock.next_week()  # 600 tickets per service: a fresh office day before its 699 numbers run out
        t = svc.issue_ticket(command_id=f"{tag}-i{i}", source="bench", service=SERVICES[i % 2], language="uk")
        if notifier is not None:
            notifier.add_ticket_contact(t.token or "", channel="sms", address=f"+38050{i % 10_000_000:07d}", consent=True)
        t0 = time.perf_counter()
        svc.counter_action(command_id=f"{tag}-n{i}", counter=COUNTERS[i % 2], action=CounterAction.NEXT,
                           source="bench")
        latencies.append((time.perf_counter() - t0) * 1000)
        i += 1
    return latencies


def backlog(notifier: Notifier, n: int, now: dt.datetime) -> None:
    """``n`` messages queued at once (contacts on three channels): what the sender must work through."""
    channels = [("sms", "+380501234567"), ("telegram", "123456789"), ("email", "citizen@example.org")]
    refs = []
    for i, (channel, address) in enumerate(channels):
        refs.append(notifier.outbox.add_contact(channel=channel, address=address, language=["uk", "ky", "en"][i],
                                                consent_version="bench", now=now, ticket_id=f"bench-{channel}"))
    planned = [plan.Planned(refs[i % 3], "documents_ready", {"office": "demo", "service": "passport"}, now,
                            f"bench:{i}") for i in range(n)]
    for i in range(0, n, 1000):
        notifier.follower.queue(planned[i:i + 1000])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages and shorter windows (under 60 s)")
    parser.add_argument("--messages", type=int, default=None, help="backlog size (default 10000, quick 2000)")
    parser.add_argument("--rate", type=float, default=20.0, help="issue+next per second (default 20)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    messages = args.messages or (2000 if args.quick else 10_000)
    window_s = 2.5 if args.quick else 4.0
    os.environ.setdefault("CHERGA_BENCH_TG_TOKEN", "1:bench")
    workdir = Path(tempfile.mkdtemp(prefix="cherga-notify-bench-"))
    with FakeGateway() as gateway, smtp_server() as (smtp_port, mails):
        clock = OfficeClock()
        store = Store(sqlite_url(workdir / "office.db"))
        svc = OfficeService(site(gateway.url, smtp_port), store, clock=clock)
        auth.create_account(store, username="olena", role="operator", pin="4821")
        for c in COUNTERS:
            svc.counter_action(command_id=f"sign-in-{c}", counter=c, action=CounterAction.SIGN_IN, source="bench",
                               operator="olena", authenticated=True)
        notifier = Notifier(svc, poll_s=0.2)
        if "CHERGA_BENCH_PACE_S" in os.environ:  # to compare: 0 sends flat out
            notifier.sender.pace_s = float(os.environ["CHERGA_BENCH_PACE_S"])
        queue_phase(svc, clock, seconds=1.0, rate=args.rate, tag="warm")
        backlog(notifier, messages, clock())
        notifier.start()

        def pending() -> int:
            return sum(v for (_, state), v in notifier.counts().items() if state in ("pending", "sending"))

        # Windows alternate off / on (same minutes, same machine): drift of a shared machine hits both alike.
        off: list[float] = []
        on: list[float] = []
        on_s = 0.0
        w = 0
        while w < 4 or pending():
            if w > 400:
                raise RuntimeError("the outbox did not drain")
            active = w % 2 == 1
            if active:
                notifier.resume()
            else:
                notifier.pause()
            t0 = time.monotonic()
            got = queue_phase(svc, clock, seconds=window_s, rate=args.rate, tag=f"w{w}",
                              notifier=notifier if active else None)
            if active:
                on += got
                on_s += time.monotonic() - t0
            else:
                off += got
            w += 1
        notifier.stop()
        counts = notifier.counts()
        sent = sum(v for (_, st), v in counts.items() if st == "sent")
        failed = sum(v for (_, st), v in counts.items() if st == "failed")
        refs = [json.loads(r["body"]).get("id") for r in gateway.delivered() if r["path"].startswith("/sms")]
        duplicates = len(refs) - len(set(refs))
        send_ms = [x * 1000 for x in notifier.sender.send_seconds]
        store.close()
    result = {
        "bench": "notify",
        "quick": args.quick,
        "messages_backlog": messages,
        "messages_sent": sent,
        "messages_failed": failed,
        "duplicates": duplicates,
        "emails_received": len(mails),
        "send_throughput_per_s": round(sent / on_s, 1),
        "send_ms_p50": round(percentile(send_ms, 50), 2),
        "send_ms_p99": round(percentile(send_ms, 99), 2),
        "rate_per_s": args.rate,
        "windows": w,
        "window_s": window_s,
        "calls_off": len(off),
        "calls_on": len(on),
        "call_ms_p50_off": round(percentile(off, 50), 2),
        "call_ms_p99_off": round(percentile(off, 99), 2),
        "call_ms_p50_on": round(percentile(on, 50), 2),
        "call_ms_p99_on": round(percentile(on, 99), 2),
        "on_s": round(on_s, 1),
        "pace_ms": notifier.sender.pace_s * 1000,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
