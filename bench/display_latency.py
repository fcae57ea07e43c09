"""Benchmark: hall call event received → frame drawn with it, and the display process's memory.

Starts a Mosquitto on loopback, publishes an office config and a retained hall state, runs the
real display role (``DisplayRole`` + ``NodeSession``, 1920×1080 on SDL's dummy video driver,
voice composed for every call into WAVs with a silent player, a virtual hall LED board) in a
child process, then publishes hall calls at a steady pace. The child reports, per call, the time
from the MQTT handler receiving the event to the end of the frame that shows it, and its own
peak RSS (VmHWM).

The 7 s hold is set to 0 here (``min_visible_s: 0``): with it every call after the first would wait
its turn by design; the bench measures the pipeline, not the rule.

    .venv/bin/python bench/display_latency.py [--quick] [--calls N] [--interval-ms MS]

Targets: p99 ≤ 100 ms, RSS ≤ 80 MB. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OFFICE = "bench"
NODE = "display-bench"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mb() -> tuple[float, float]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def child(port: int, calls: int, data_dir: str) -> int:
    """The display process: run the role until it has drawn ``calls`` calls, then report."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from cherga.display.role import DisplayRole
    from cherga.display.voice import RecordingPlayer
    from cherga.firmware_host.config import BrokerOptions, HardwareOptions, NodeConfig
    from cherga.firmware_host.session import NodeSession

    hardware = HardwareOptions(serial={"led": "VIRTUAL"},  # type: ignore[call-arg]
                               led_boards=[{"name": "hall", "address": 10, "kind": "matrix", "lines": 4, "cols": 12}])
    config = NodeConfig(node=NODE, role="display", office=OFFICE, data_dir=Path(data_dir), hardware=hardware,
                        broker=BrokerOptions(host="127.0.0.1", port=port))
    role = DisplayRole(player=RecordingPlayer(), size=(1920, 1080), window=True)
    session = NodeSession(config)
    session.start()
    role.start(session, config)
    stop = threading.Event()

    def watch() -> None:
        announced = False
        deadline = time.monotonic() + 30 + calls * 0.5
        while time.monotonic() < deadline and not stop.is_set():
            if not announced and role.picture is not None and role.picture.rows:
                print("READY", flush=True)
                announced = True
            if len(role.latencies_ms) >= calls + 1:  # + the retained call drawn at start
                break
            time.sleep(0.02)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    role.run(stop)
    latencies = list(role.latencies_ms)[1:]  # the first is the retained state, not a call event
    now_rss, peak_rss = rss_mb()
    role.stop()
    session.close()
    print(json.dumps({"latencies_ms": latencies, "rss_mb": now_rss, "peak_rss_mb": peak_rss,
                      "frames": role.frames_drawn, "spoken": len(role.spoken)}), flush=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls, under 60 s")
    parser.add_argument("--calls", type=int)
    parser.add_argument("--interval-ms", type=float, default=100.0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    calls = args.calls or (60 if args.quick else 400)
    if args.child:
        return child(args.child, calls, args.data_dir)

    import paho.mqtt.client as mqtt

    from cherga.broker_bridge import contract
    from cherga.broker_bridge.contract import CallEntry, HallCall, HallState, NodeConfig, ServiceLoad
    from tests.support.mosquitto import running_broker

    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "mosquitto") as broker:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-server")
        pub.connect(broker.host, broker.port)
        pub.loop_start()

        def publish(route: str, msg: contract.Payload, **params: str) -> None:
            r = contract.ROUTES[route]
            pub.publish(contract.topic(route, OFFICE, **params), msg.to_bytes(), qos=r.qos,
                        retain=r.retained).wait_for_publish(5)

        now = dt.datetime.now(dt.UTC)
        publish("node_config", NodeConfig(
            node=NODE, role="display", office=OFFICE, office_names={"uk": "ЦНАП «Бенч»", "en": "Bench centre"},
            languages=["uk", "en"], timezone="Europe/Kyiv", public_url="http://127.0.0.1",
            display={"recent_calls": 4, "blink_s": 6, "min_visible_s": 0, "layout": "side_by_side",
                     "ticker": {"uk": "Ласкаво просимо!", "en": "Welcome!"}},
            voice={"languages": ["uk", "en"], "volume": 0.8}), node=NODE)
        publish("hall_state", HallState(
            office=OFFICE, office_names={"uk": "ЦНАП «Бенч»", "en": "Bench centre"}, languages=["uk", "en"],
            calls=[CallEntry(call_id="start", label="A-001", counter="c1", counter_number="1", service="passport",
                             called_at=now)],
            load=[ServiceLoad(service=f"s{i}", names={"uk": f"Послуга {i}", "en": f"Service {i}"}, waiting=i,
                              counters_open=1, avg_wait_min=5, light="green") for i in range(12)],
            ticker={"uk": "Ласкаво просимо!", "en": "Welcome!"}, updated_at=now))

        env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONPATH=str(REPO),
                   PYGAME_HIDE_SUPPORT_PROMPT="1")
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(broker.port), "--calls", str(calls),
                                 "--data-dir", str(Path(tmp) / "node")], stdout=subprocess.PIPE, text=True, env=env)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while line and line.strip() != "READY" and not line.startswith("{"):
            line = proc.stdout.readline()  # anything a library prints first
        if line.strip() != "READY":
            proc.kill()
            print(json.dumps({"bench": "display_latency", "error": f"display did not start: {line!r}"}))
            return 1
        t0 = time.monotonic()
        for i in range(calls):
            label = f"{'ABCDEFGHKLMN'[i % 12]}-{i % 999 + 1:03d}"
            publish("hall_call", HallCall(call_id=f"b{i}", ticket_id=f"t{i}", label=label, prefix=label[0],
                                          number=i % 999 + 1, counter=f"c{i % 10 + 1}",
                                          counter_number=str(i % 10 + 1), service="passport",
                                          at=dt.datetime.now(dt.UTC)))
            time.sleep(max(0.0, t0 + (i + 1) * args.interval_ms / 1000 - time.monotonic()))
        out, _ = proc.communicate(timeout=120)
        pub.loop_stop()
        pub.disconnect()
    result = json.loads(out.strip().splitlines()[-1])
    lat = result["latencies_ms"]
    summary = {
        "bench": "display_latency", "calls": calls, "drawn": len(lat), "interval_ms": args.interval_ms,
        "screen": "1920x1080", "p50_ms": round(percentile(lat, 0.5), 2), "p99_ms": round(percentile(lat, 0.99), 2),
        "max_ms": round(max(lat, default=float("nan")), 2), "rss_mb": round(result["peak_rss_mb"], 1),
        "rss_now_mb": round(result["rss_mb"], 1), "frames": result["frames"], "spoken": result["spoken"],
        "target_p99_ms": 100, "target_rss_mb": 80,
    }
    print(f"{len(lat)} calls drawn: p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms, "
          f"peak RSS {summary['rss_mb']} MB")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
