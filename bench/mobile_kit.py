"""Benchmark: the mobile office kit after a power cut (issue 21).

Each cycle starts the kit as the Pi would after power comes back (``cherga mobile run``: Mosquitto,
then the server on the kit's SQLite with its MQTT bridge) and plays a kiosk over MQTT: it asks for a
ticket every 0.2 s under one command id until the first answer (``power_back_s``: from starting the
kit to the first ticket the kiosk could print), then asks for tickets one after another (the
round trip a citizen waits at the kiosk, kiosk request to answer). Then every process is
``kill -9``-ed and the next cycle starts on the same database, which grows from cycle to cycle.

    .venv/bin/python bench/mobile_kit.py [--quick] [--cycles N] [--tickets N]

Times under a busy 2-core machine; a Pi 4 starts Python more slowly. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
import yaml  # noqa: E402

from cherga.broker_bridge import contract  # noqa: E402
from cherga.broker_bridge.embedded import free_port  # noqa: E402

REGION = REPO / "examples" / "region"
ALL_DAY = {d: [{"start": "00:00", "end": "24:00"}] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
OFFICE, NODE = "kr-mobile", "k1"


def _config(path: Path) -> Path:
    data = yaml.safe_load((REGION / "kr-mobile.yaml").read_text(encoding="utf-8"))
    data["hours"] = {"days": ALL_DAY, "breaks": []}
    for s in data["services"]:
        s.pop("daily_cap", None)
    data["closing"] = {"warn_walk_ins": False}
    data["appointments"] = {"per_slot": 0}
    data["numbering"]["walk_in"] = {"first": 850, "last": 979}
    data["numbering"]["booked"] = {"first": 980, "last": 989}
    data["numbering"]["offline"] = {"first": 990, "last": 999}
    data["nodes"] = [{"id": NODE, "role": "kiosk"}]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # Without it Nagle holds each small request back ~40 ms on loopback.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Kiosk:
    """A kiosk's MQTT side: one request, sent again under the same id until the answer comes."""

    def __init__(self, port: int, first: int) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{NODE}-{os.getpid()}")
        self.client.on_connect = lambda c, *_: c.subscribe(contract.topic("kiosk_response", OFFICE, node=NODE), qos=1)
        self.client.on_message = self._on_message
        self.client.on_socket_open = _nodelay
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]  # paho takes seconds as floats
        self.client.connect_async("127.0.0.1", port, keepalive=5)
        self.client.loop_start()
        self.n = first  # command ids go on across cycles: a used id would get its stored ticket back

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        reply = json.loads(msg.payload)
        with self.cond:
            self.answers[reply["id"]] = reply
            self.cond.notify_all()

    def ticket(self, resend_s: float = 0.2, timeout: float = 120.0) -> dict[str, Any]:
        cmd = f"{NODE}-{os.getpid()}-{self.n}"
        self.n += 1
        req = contract.IssueTicket(id=cmd, node=NODE, ts=dt.datetime.now(dt.UTC), service="passport").to_bytes()
        deadline = time.monotonic() + timeout
        with self.cond:
            while cmd not in self.answers:
                if time.monotonic() > deadline:
                    raise TimeoutError("no answer from the kit")
                if self.client.is_connected():
                    self.client.publish(contract.topic("kiosk_issue", OFFICE, node=NODE), req, qos=1)
                self.cond.wait(resend_s)
            reply = self.answers.pop(cmd)
        if reply["status"] != "ok":
            raise RuntimeError(f"refused: {reply}")
        return dict(reply["ticket"])

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 cycles of 30 tickets (under a minute)")
    ap.add_argument("--cycles", type=int, default=None)
    ap.add_argument("--tickets", type=int, default=None)
    args = ap.parse_args()
    cycles = args.cycles or (3 if args.quick else 6)
    tickets = args.tickets or (30 if args.quick else 100)
    back: list[float] = []
    issue_ms: list[float] = []
    labels: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cherga-kit-") as tmp:
        work = Path(tmp)
        config = _config(work / "kit.yaml")
        port, broker_port = free_port(), free_port()
        argv = [sys.executable, "-m", "cherga", "mobile", "run", "-c", str(config), "--home",
                str(REGION / "kr-central.yaml"), "--workdir", str(work / "kit"), "--host", "127.0.0.1",
                "--port", str(port), "--broker-port", str(broker_port)]
        env = {**os.environ, "CHERGA_LOG_LEVEL": "WARNING"}
        for _ in range(cycles):
            t0 = time.monotonic()
            with open(work / "kit.log", "ab") as log:
                kit = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
            kiosk = Kiosk(broker_port, first=len(labels))
            try:
                labels.append(kiosk.ticket()["label"])
                back.append(time.monotonic() - t0)
                for _ in range(tickets):
                    t1 = time.perf_counter()
                    labels.append(kiosk.ticket(resend_s=5.0)["label"])
                    issue_ms.append((time.perf_counter() - t1) * 1000)
            finally:
                kiosk.close()
                os.kill(kit.pid, signal.SIGKILL)  # its parts die with it (PR_SET_PDEATHSIG)
                kit.wait()
                time.sleep(0.3)  # let the children go before the next start takes the ports
    assert len(labels) == len(set(labels)), "a number was given twice"
    result = {"bench": "mobile_kit", "cycles": cycles, "tickets": len(labels),
              "power_back_s_p50": round(_pct(back, 0.5), 2), "power_back_s_max": round(max(back), 2),
              "issue_ms_p50": round(_pct(issue_ms, 0.5), 2), "issue_ms_p99": round(_pct(issue_ms, 0.99), 2),
              "duplicates": len(labels) - len(set(labels))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
