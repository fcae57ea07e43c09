"""Benchmark: the region changes an office's configuration → the office's kiosk has it.

Starts two Mosquittos on loopback (the region's, and the office's bridged to it as in docs/region.md),
the office's service on SQLite with its MQTT bridge and the region-config applier, and a kiosk-side
client of the office broker that records each retained kiosk config it receives. The region holds 60
staff accounts. Each round the region writes the office's config with a new hall ticker and runs the
push (``downward.push_region``: load the region file, merge the catalogue, read the staff, bump the
version, publish retained); the round's times run from just before the push until the office has
recorded the version, and until the kiosk holds the config with that ticker.

    .venv/bin/python bench/region_config.py [--quick] [--rounds N] [--settle S]

``--settle``: the applier's wait for the end of a burst (default 1 s, the product's): it is most of
the time, by design. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(rounds: int, settle_s: float) -> dict[str, Any]:
    import paho.mqtt.client as mqtt
    import yaml

    from cherga.broker_bridge import contract
    from cherga.broker_bridge.bridge import start_bridge
    from cherga.server import auth
    from cherga.server.region import apply, downward
    from cherga.server.region.regionfile import load_region
    from cherga.server.service import OfficeService
    from cherga.server.siteconfig import parse_site_config
    from cherga.server.store import Store, sqlite_url
    from tests.support.mosquitto import Broker, free_port

    office = "benchoffice"
    demo = yaml.safe_load((REPO / "examples" / "demo-office.yaml").read_text(encoding="utf-8"))
    demo["office"]["id"] = office
    demo["nodes"] = [{"id": "k1", "role": "kiosk"}, {"id": "d1", "role": "display"}]

    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        rdir = tmp / "region"
        rdir.mkdir()
        (rdir / f"{office}.yaml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
        (rdir / "region.yaml").write_text(yaml.safe_dump({
            "region": {"id": "bench", "names": {"uk": "Регіон", "en": "Region"}},
            "offices": [{"id": office, "config": f"{office}.yaml", "served_by": "own",
                         "address": {"uk": "вул. Соборна, 1", "en": "1 Soborna St"}}]}, allow_unicode=True),
            encoding="utf-8")
        region_store = Store(sqlite_url(tmp / "region.db"))
        # 60 accounts (one argon2 hash reused: the bench measures the push, not the hashing)
        auth.create_account(region_store, username="staff-0", role="operator", password="bench-secret-1", pin="1000")
        first = region_store.staff("staff-0")
        assert first is not None
        for i in range(1, 60):
            region_store.put_staff(username=f"staff-{i}", display_name=f"Staff {i}", role="operator",
                                   password_hash=first.password_hash, pin_hash=first.pin_hash,
                                   at=dt.datetime.now(dt.UTC), offices=(office,) if i % 2 else None)
        region_broker = Broker(tmp / "region-broker", "127.0.0.1", free_port()).start()
        office_broker = Broker(tmp / "office-broker", "127.0.0.1", free_port(), extra="\n".join([
            "connection region", f"address 127.0.0.1:{region_broker.port}", f"remote_clientid {office}.bridge",
            "cleansession false", "restart_timeout 1", "notifications false",
            f"topic {contract.topic('region_config', office)} in 1"]) + "\n").start()
        config = parse_site_config(yaml.safe_dump(demo, allow_unicode=True))
        office_store = Store(sqlite_url(tmp / "office.db"))
        service = OfficeService(config, office_store)
        bridge = start_bridge(service, "127.0.0.1", office_broker.port, config=config)
        state = types.SimpleNamespace(service=service, services={office: service}, bridge=bridge, config_path=None,
                                      config=config)
        applier = apply.Applier(state, office, "127.0.0.1", office_broker.port, settle_s=settle_s).start()

        seen: dict[str, float] = {}
        arrived = threading.Condition()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            data = json.loads(msg.payload)
            ticker = (data.get("display") or {}).get("ticker", {}).get("uk")
            with arrived:
                seen.setdefault(ticker, time.perf_counter())
                arrived.notify_all()

        kiosk = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-kiosk")
        kiosk.on_message = on_message
        kiosk.connect("127.0.0.1", office_broker.port)
        kiosk.loop_start()
        kiosk.subscribe(contract.topic("node_config", office, node="k1"), qos=1)

        to_kiosk: list[float] = []
        to_applied: list[float] = []
        prepare_ms: list[float] = []
        payload = 0
        try:
            for i in range(rounds):
                marker = f"раунд {i}"
                data = dict(demo, display={**demo["display"], "ticker": {"uk": marker, "en": marker}})
                (rdir / f"{office}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
                t0 = time.perf_counter()
                prepared = downward.prepare(load_region(rdir / "region.yaml"), region_store, dt.datetime.now(dt.UTC))
                prepare_ms.append((time.perf_counter() - t0) * 1000)
                downward.publish(prepared, "127.0.0.1", region_broker.port)
                payload = len(prepared[0].payload())
                version = prepared[0].push.version
                deadline = time.monotonic() + 60
                while True:
                    done = apply.applied(office_store, office)
                    if done is not None and done.version >= version:
                        to_applied.append((time.perf_counter() - t0) * 1000)
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"round {i}: version {version} not applied in 60 s ({list(applier.results)[-3:]})")
                    time.sleep(0.005)
                with arrived:
                    if not arrived.wait_for(lambda m=marker: m in seen, 60):  # type: ignore[misc]
                        raise SystemExit(f"round {i}: the kiosk never got the new config")
                    to_kiosk.append((seen[marker] - t0) * 1000)
        finally:
            kiosk.disconnect()
            kiosk.loop_stop()
            applier.stop()
            bridge.stop()
            office_broker.stop()
            region_broker.stop()
            office_store.close()
            region_store.close()
        applied_outcomes = sum(1 for r in applier.results if r.outcome == "applied")
    return {
        "bench": "region_config",
        "rounds": rounds,
        "settle_s": settle_s,
        "staff_accounts": 60,
        "payload_bytes": payload,
        "prepare_ms_p50": round(percentile(prepare_ms, 0.5), 1),
        "push_to_applied_ms_p50": round(percentile(to_applied, 0.5), 1),
        "push_to_applied_ms_p99": round(percentile(to_applied, 0.99), 1),
        "push_to_kiosk_ms_p50": round(percentile(to_kiosk, 0.5), 1),
        "push_to_kiosk_ms_p99": round(percentile(to_kiosk, 0.99), 1),
        "applied": applied_outcomes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 rounds (under a minute)")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--settle", type=float, default=1.0, help="the applier's settle time (s)")
    args = parser.parse_args()
    rounds = args.rounds or (10 if args.quick else 40)
    print(json.dumps(run(rounds, args.settle), ensure_ascii=False))


if __name__ == "__main__":
    main()
