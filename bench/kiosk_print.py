"""Benchmark: the citizen's last tap → the ticket's last byte in the printer, and the kiosk's memory.

Starts a Mosquitto on loopback, a stand-in office server that answers ``issue`` requests (the
tests' ``FakeKioskServer``: the real contract, no database), and the ESC/POS emulator on a
pseudo-terminal. The real kiosk runs in a child process: ``KioskRole`` on a ``NodeSession``, its
pygame loop drawing 1280×800 on SDL's dummy driver, and a python-escpos ``Serial`` printer on the
emulator's pty. A thread in the child taps through language → service → purpose → priority for
each ticket and notes the time of the last tap; the emulator notes when the cut command (the
ticket's last byte) arrives. Both clocks are CLOCK_MONOTONIC, so the difference is the whole
path: request over MQTT, reply, drawing the raster ticket, status check, ~100 KB of raster over
the serial line, cut. The child reports its peak RSS (VmHWM).

The child is the role as the bench assembles it; the kiosk in an office is ``cherga node
--config kiosk.yaml`` (launcher, enrollment, telemetry, test verbs, the printer from the node
config). So a second phase starts that real node process, prints tickets through its test verbs
at a person's pace (taps ≥ 0.35 s apart), and reads its memory from ``/proc/PID/status``
(``node_rss_mb`` = VmHWM, the peak; ``node_rss_now_mb`` = VmRSS at the end). The RSS target
applies to the real node.

    .venv/bin/python bench/kiosk_print.py [--quick] [--tickets N] [--node-tickets N]

Targets: p99 ≤ 300 ms, RSS ≤ 80 MB. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
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

OFFICE = "kbench"
NODE = "kiosk-bench"
CHOICES = ("lang:uk", "service:passport", "purpose:consult")
LAST_TAP = "priority:none"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def rss_mb() -> tuple[float, float]:
    fields: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


class StepClock:
    """The screens' clock: one second passes per tap, so the double-tap guard never delays the bench."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def child(port: int, tickets: int, printer_path: str, data_dir: str) -> int:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from cherga.firmware_host.config import BrokerOptions, NodeConfig
    from cherga.firmware_host.session import NodeSession
    from cherga.kiosk.printer import PrinterConfig, TicketPrinter
    from cherga.kiosk.role import KioskRole
    from cherga.kiosk.ui.state import Screen

    local = NodeConfig(node=NODE, role="kiosk", office=OFFICE, broker=BrokerOptions(host="127.0.0.1", port=port),
                       data_dir=Path(data_dir))
    session = NodeSession(local)
    clock = StepClock()
    printer = TicketPrinter(PrinterConfig(type="serial", devfile=printer_path, timeout=0.5))
    role = KioskRole(printer=printer, clock=clock, screen_size=(1280, 800))
    session.start()
    role.start(session, local)
    stop = threading.Event()

    def screen() -> Screen | None:
        v = role.view()
        return v.screen if v else None

    def wait(cond: object, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise TimeoutError("kiosk did not get there")
            time.sleep(0.002)

    def tap(button: str) -> None:
        clock.now += 1.0
        role.press(button)

    def citizen() -> None:
        try:
            wait(lambda: session.connected and role.view() is not None)
            time.sleep(0.3)
            for i in range(tickets):
                for b in CHOICES:
                    tap(b)
                t = time.perf_counter()
                tap(LAST_TAP)
                print(json.dumps({"ticket": i, "tap": t}), flush=True)
                wait(lambda: screen() is Screen.TICKET)
                time.sleep(0.03)  # the citizen takes the ticket; the screen settles
                tap("done")
        finally:
            stop.set()

    helper = threading.Thread(target=citizen, daemon=True)
    helper.start()
    role.run(stop)  # the pygame loop, as on the kiosk
    helper.join()
    _, hwm = rss_mb()
    print(json.dumps({"rss_mb": hwm, "printed": printer.printed}), flush=True)
    role.stop()
    session.close()
    return 0


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of process ``pid``, in MB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":", 1)
            out[name] = int(value.split()[0]) / 1024
    return out


def real_node(broker_port: int, printer_path: str, workdir: Path, tickets: int) -> dict[str, float]:
    """Run ``cherga node`` as a kiosk (the process an office runs), print ``tickets``, measure it."""
    from cherga.firmware_host.testverbs import TestVerbClient

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "kiosk.yaml"
    config.write_text(
        f"node: {NODE}\nrole: kiosk\noffice: {OFFICE}\nbroker: {{host: 127.0.0.1, port: {broker_port}}}\n"
        f"data_dir: {workdir / 'data'}\nlog_level: WARNING\n"
        f"hardware:\n  screen: [1280, 800]\n  printer: {{type: serial, devfile: {printer_path}, timeout: 0.5}}\n")
    sock = workdir / "verbs.sock"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYGAME_HIDE_SUPPORT_PROMPT="1",
               CHERGA_TEST_SOCKET=str(sock))
    cherga = Path(sys.executable).with_name("cherga")
    command = [str(cherga)] if cherga.exists() else [sys.executable, "-m", "cherga"]
    proc = subprocess.Popen([*command, "node", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        client = TestVerbClient(sock)
        deadline = time.monotonic() + 60
        while True:  # the node is up once its verbs answer and the office config has arrived
            try:
                if client.call("view") is not None:
                    break
            except (OSError, RuntimeError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cherga node did not come up: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
        printed = 0
        for _ in range(tickets):
            for button in (*CHOICES, LAST_TAP):
                time.sleep(0.4)  # a person's pace: the screens drop taps within 0.35 s of appearing
                client.call("tap", button_id=button)
            while (client.call("view") or {}).get("screen") != "ticket":
                time.sleep(0.02)
            printed += 1
            time.sleep(0.4)
            client.call("tap", button_id="done")
        memory = proc_memory_mb(proc.pid)
        health = client.call("health")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return {"node_rss_mb": round(memory.get("VmHWM", 0.0), 1), "node_rss_now_mb": round(memory.get("VmRSS", 0.0), 1),
            "node_tickets": printed, "node_printer": health.get("printer")}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tickets", type=int)
    ap.add_argument("--node-tickets", type=int, help="tickets the real `cherga node` kiosk prints (0: skip)")
    ap.add_argument("--child", type=int)
    ap.add_argument("--printer")
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    tickets = args.tickets or (40 if args.quick else 300)
    if args.child:
        return child(args.child, tickets, args.printer, args.data_dir)

    from cherga.kiosk.emulator import EscPosEmulator
    from tests.kiosk.conftest import demo_office_config
    from tests.kiosk.fakeserver import FakeKioskServer
    from tests.support.mosquitto import running_broker

    office = demo_office_config(node=NODE).model_copy(update={"office": OFFICE})
    with tempfile.TemporaryDirectory() as tmp, running_broker(Path(tmp) / "mosquitto") as broker, \
            EscPosEmulator() as emulator:
        server = FakeKioskServer(broker.host, broker.port, office)
        env = dict(os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="dummy", PYTHONPATH=str(REPO),
                   PYGAME_HIDE_SUPPORT_PROMPT="1")
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(broker.port), "--tickets", str(tickets),
                                 "--printer", emulator.path, "--data-dir", str(Path(tmp) / "node")],
                                stdout=subprocess.PIPE, text=True, env=env)
        taps: dict[int, float] = {}
        rss = 0.0
        assert proc.stdout is not None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue  # pygame's greeting and the like
            msg = json.loads(line)
            if "tap" in msg:
                taps[msg["ticket"]] = msg["tap"]
            elif "rss_mb" in msg:
                rss = msg["rss_mb"]
        proc.wait(timeout=60)
        printed = emulator.wait_for_tickets(len(taps), timeout=10)
        node_tickets = args.node_tickets if args.node_tickets is not None else (8 if args.quick else 40)
        node = real_node(broker.port, emulator.path, Path(tmp) / "real-node", node_tickets) if node_tickets else {}
        server.close()
    latencies = [(printed[i].cut_at - taps[i]) * 1000 for i in sorted(taps)]
    warm = latencies[2:] or latencies  # the first tickets load fonts and open the port
    p50, p99 = percentile(warm, 0.5), percentile(warm, 0.99)
    print(f"tickets {len(latencies)}  first {latencies[0]:.1f} ms  p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
          f"max {max(warm):.1f} ms  kiosk peak RSS {rss:.1f} MB")
    if node:
        print(f"real `cherga node` kiosk: {node['node_tickets']} tickets, peak RSS {node['node_rss_mb']} MB, "
              f"now {node['node_rss_now_mb']} MB")
    print(json.dumps({"bench": "kiosk_print", "tickets": len(latencies), "p50_ms": round(p50, 1),
                      "p99_ms": round(p99, 1), "first_ms": round(latencies[0], 1), "rss_mb": round(rss, 1),
                      **node, "targets": {"p99_ms": 300, "rss_mb": 80, "node_rss_mb": 80}}))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
