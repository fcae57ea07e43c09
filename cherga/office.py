"""A whole office on one machine, as separate processes: broker, server, kiosks with printer
emulators, hall displays with LED-board emulators, counter pads on mock pins.

:class:`Office` is what ``cherga office`` (``make run``) shows a newcomer and what the HIL harness
(``tests/hil/``) drives: each node runs ``cherga node`` in its own process and answers test verbs
on a control socket (``CHERGA_TEST_SOCKET``), so a scenario can tap the kiosk, press a pad's
button or ask a display for a screenshot, exactly as it would with real hardware attached.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml

from cherga.broker_bridge.embedded import free_port
from cherga.firmware_host.testverbs import TestVerbClient

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Layout:
    """Which nodes the office has: kiosk ids, display ids, and pad id → counter id."""

    kiosks: list[str] = dataclasses.field(default_factory=lambda: ["kiosk-1"])
    displays: list[str] = dataclasses.field(default_factory=lambda: ["display-1"])
    pads: dict[str, str] = dataclasses.field(default_factory=lambda: {"pad-c1": "c1", "pad-c2": "c2"})

    def nodes(self) -> list[dict[str, str]]:
        out = [{"id": k, "role": "kiosk"} for k in self.kiosks]
        out += [{"id": d, "role": "display"} for d in self.displays]
        out += [{"id": p, "role": "pad", "counter": c} for p, c in self.pads.items()]
        return out


@dataclasses.dataclass
class _Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        logf = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.popen = subprocess.Popen(self.argv, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        logf.close()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 8.0) -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.popen.send_signal(sig)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def start_server_process(config: Path, db_url: str, port: int, log_path: Path, *,
                         env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """``cherga server`` as a child process on loopback, returned once ``/healthz`` answers.

    For benches and crash tests that need the server alone (no broker, no nodes); a whole office is
    :class:`Office`. The child's output goes to ``log_path``; its tail is in the error if it dies.
    """
    argv = [sys.executable, "-m", "cherga", "server", "--config", str(config), "--db", db_url, "--port", str(port)]
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(argv, env={**os.environ, **(env or {})}, stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", alive=lambda: proc.poll() is None,
                     tail=lambda: log_path.read_text(errors="replace")[-3000:], timeout=timeout, poll=0.1)
    except TimeoutError:
        proc.kill()
        proc.wait()
        raise
    return proc


def wait_http_ok(url: str, *, alive: Callable[[], bool], tail: Callable[[], str], timeout: float,
                 poll: float = 0.2) -> None:
    """Wait until ``url`` answers 200; the server's log ``tail()`` goes into the error if it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server exited: {tail()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(poll)
    raise TimeoutError(f"{url} did not answer within {timeout} s: {tail()}")


class Office:
    """Start, drive and stop a whole office. Use as a context manager.

    :param config: the site configuration file.
    :param workdir: where the database, logs, node configs, tickets and screenshots go.
    :param broker: ``mosquitto`` (the production broker) or ``embedded`` (amqtt, nothing installed).
    :param web_port: the server's HTTP port (0: a free one).
    :param broker_ports: per node, the port it connects to instead of the broker's (e.g. a proxy).
    :param server_env: extra environment for the server process (e.g. a faked clock).
    :param virtual_nodes: nodes registered in the site config but not started here: the harness
        plays them itself (simulated operators at many counters, extra kiosks).
    :param hardware: per node, real hardware options that replace the emulated ones (a HIL bench's
        inventory: real serial ports, the lgpio pin factory, pin numbers).
    :param before_server: called once before the server first starts (e.g. to create staff).
    :param always_open: open round the clock (a demo at night still issues tickets); the
        office's configured hours are kept when ``False``.
    """

    def __init__(self, config: Path, workdir: Path, *, broker: Literal["mosquitto", "embedded"] = "mosquitto",
                 web_port: int = 0, layout: Layout | None = None, broker_port: int = 0,
                 broker_ports: dict[str, int] | None = None, server_env: dict[str, str] | None = None,
                 show_windows: bool = False, always_open: bool = True,
                 virtual_nodes: list[dict[str, str]] | None = None,
                 before_server: Callable[[Office], None] | None = None,
                 hardware: dict[str, dict[str, Any]] | None = None) -> None:
        self.config_path = Path(config)
        self.workdir = Path(workdir).resolve()
        self.broker_kind = broker
        self.web_port = web_port or free_port()
        self.broker_port = broker_port or free_port()
        self.layout = layout or Layout()
        self.broker_ports = dict(broker_ports or {})
        self.server_env = dict(server_env or {})
        self.show_windows = show_windows
        self.always_open = always_open
        self.virtual_nodes = list(virtual_nodes or [])
        self.before_server = before_server
        self.hardware = dict(hardware or {})
        self.broker: Any = None
        self.printers: dict[str, Any] = {}
        self.procs: dict[str, _Proc] = {}
        # Unix socket paths are limited to ~100 bytes: keep the control sockets in a short /tmp path.
        self.socket_dir = Path(tempfile.mkdtemp(prefix="cherga-"))
        for sub in ("logs", "tickets", "screens", "nodes", "data"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.site_path = self.workdir / "site.yaml"
        self.db_url = f"sqlite:///{self.workdir / 'cherga.db'}"

    # --- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Office:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def office_id(self) -> str:
        data = yaml.safe_load(self.site_path.read_text(encoding="utf-8"))
        return str(data["office"]["id"])

    def start(self) -> None:
        self._write_site_config()
        self.start_broker()
        if self.before_server is not None:
            self.before_server(self)
        self.start_server()
        for k in self.layout.kiosks:
            if k not in self.hardware:
                self._start_printer(k)
        for node in self.layout.nodes():
            self.start_node(node["id"])
        self.wait_nodes_ready()

    def stop(self) -> None:
        for name in list(self.procs):
            self.procs[name].stop()
        for emu in self.printers.values():
            with contextlib.suppress(Exception):
                emu.stop()
        self.stop_broker()
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --- broker ----------------------------------------------------------------------------------

    def start_broker(self) -> None:
        from cherga.broker_bridge.embedded import EmbeddedBroker, LocalMosquitto

        if self.broker_kind == "embedded":
            self.broker = EmbeddedBroker("127.0.0.1", self.broker_port).start()
        else:
            self.broker = LocalMosquitto(self.workdir / "broker", "127.0.0.1", self.broker_port).start()

    def stop_broker(self) -> None:
        if self.broker is not None:
            with contextlib.suppress(Exception):
                self.broker.stop()
            self.broker = None

    def restart_broker(self, down_s: float = 1.0) -> None:
        self.stop_broker()
        time.sleep(down_s)
        self.start_broker()

    # --- server ----------------------------------------------------------------------------------

    def _write_site_config(self) -> None:
        data = yaml.safe_load(self.config_path.read_text(encoding="utf-8"))
        known = {n["id"] for n in data.get("nodes") or []}
        data["nodes"] = list(data.get("nodes") or []) + [
            n for n in self.layout.nodes() + self.virtual_nodes if n["id"] not in known]
        data.setdefault("office", {})["public_url"] = self.url
        if self.always_open:
            day = [{"start": "00:00", "end": "24:00"}]
            data["hours"] = {"days": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), day), "breaks": []}
            for service in data.get("services", []):
                service.pop("hours", None)
            # Round the clock has no real closing: midnight must not turn walk-ins away at night.
            data.setdefault("closing", {}).setdefault("warn_walk_ins", False)
        self.site_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def _env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
        if not self.show_windows:
            env.setdefault("SDL_VIDEODRIVER", "dummy")
        env.setdefault("SDL_AUDIODRIVER", "dummy")
        if not self.hardware:
            env.setdefault("GPIOZERO_PIN_FACTORY", "mock")
        env.pop("CHERGA_TEST_SOCKET", None)
        env.update(extra)
        return env

    def start_server(self, wait: bool = True) -> None:
        argv = [sys.executable, "-m", "cherga", "server", "--config", str(self.site_path), "--db", self.db_url,
                "--port", str(self.web_port), "--mqtt", f"127.0.0.1:{self.broker_port}"]
        proc = _Proc("server", argv, self._env(CHERGA_DEMO_ACCOUNTS="1", **self.server_env),
                     self.workdir / "logs" / "server.log")
        proc.start()
        self.procs["server"] = proc
        if wait:
            self.wait_http("/healthz", timeout=60)

    def kill_server(self) -> None:
        """``kill -9``: nothing gets a chance to flush."""
        self.procs["server"].stop(signal.SIGKILL)

    def restart_server(self, *, kill: bool = True) -> None:
        if kill:
            self.kill_server()
        else:
            self.procs["server"].stop()
        self.start_server()

    def wait_http(self, path: str, timeout: float = 30.0) -> None:
        wait_http_ok(self.url + path, alive=lambda: self.procs["server"].alive, tail=lambda: self.tail("server"),
                     timeout=timeout)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
        """Call the server's REST API; returns the decoded JSON (``None`` for an empty answer)."""
        req = urllib.request.Request(self.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    # --- nodes -----------------------------------------------------------------------------------

    def _start_printer(self, kiosk: str) -> None:
        from cherga.kiosk.emulator import EscPosEmulator

        emu = EscPosEmulator(out_dir=self.workdir / "tickets" / kiosk)
        emu.start()
        self.printers[kiosk] = emu

    def node_config(self, node: dict[str, str]) -> dict[str, Any]:
        nid = node["id"]
        hardware: dict[str, Any] = {}
        if node["role"] == "kiosk":
            hardware = {"serial": {"printer": str(self.printers[nid].path)}, "printer": {"type": "serial", "paper_mm": 80}}
        elif node["role"] == "display":
            hardware = {"serial": {"led": "VIRTUAL"}, "screen": "1280x720",
                        "led_boards": [{"address": 1, "kind": "matrix", "name": "hall", "lines": 4, "cols": 12}]}
        elif node["role"] == "pad":
            hardware = {"pin_factory": "mock"}
        if nid in self.hardware:
            hardware = dict(self.hardware[nid])
        cfg: dict[str, Any] = {
            "node": nid, "role": node["role"], "office": self.office_id,
            "broker": {"host": "127.0.0.1", "port": self.broker_ports.get(nid, self.broker_port), "keepalive_s": 5},
            "data_dir": str(self.workdir / "data" / nid), "heartbeat_s": 5, "log_level": "INFO",
            "hardware": hardware,
        }
        if node["role"] == "pad":
            cfg["counter"] = node["counter"]
        return cfg

    def start_node(self, nid: str) -> None:
        node = next(n for n in self.layout.nodes() if n["id"] == nid)
        path = self.workdir / "nodes" / f"{nid}.yaml"
        path.write_text(yaml.safe_dump(self.node_config(node), allow_unicode=True, sort_keys=False), encoding="utf-8")
        sock = self.socket_dir / f"{nid}.sock"
        argv = [sys.executable, "-m", "cherga", "node", "--config", str(path)]
        proc = _Proc(nid, argv, self._env(CHERGA_TEST_SOCKET=str(sock)), self.workdir / "logs" / f"{nid}.log")
        proc.start()
        self.procs[nid] = proc

    def stop_node(self, nid: str, sig: int = signal.SIGTERM) -> None:
        self.procs[nid].stop(sig)

    def node(self, nid: str) -> TestVerbClient:
        return TestVerbClient(self.socket_dir / f"{nid}.sock")

    def wait_nodes_ready(self, timeout: float = 60.0) -> None:
        """Every node process answers its test verbs (it started its role)."""
        deadline = time.monotonic() + timeout
        pending = [n["id"] for n in self.layout.nodes()]
        while pending and time.monotonic() < deadline:
            for nid in list(pending):
                if not self.procs[nid].alive:
                    raise RuntimeError(f"node {nid} exited: {self.tail(nid)}")
                with contextlib.suppress(OSError, RuntimeError):
                    if self.node(nid).call("ping") == "pong":
                        pending.remove(nid)
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"nodes not ready within {timeout} s: {pending}")

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / "logs" / f"{name}.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Visitors:
    """Simulated citizens and operators for the demo: taps at the kiosk at a gentle pace, and pads
    that call, serve and finish."""

    def __init__(self, office: Office, per_min: float, seed: int = 7) -> None:
        self.office = office
        self.per_min = per_min
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Visitors:
        if self.per_min > 0:
            self._threads.append(threading.Thread(target=self._arrivals, daemon=True))
            for pad in self.office.layout.pads:
                self._threads.append(threading.Thread(target=self._operator, args=(pad,), daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _arrivals(self) -> None:
        kiosk = self.office.layout.kiosks[0]
        while not self._stop.wait(self.rng.expovariate(self.per_min / 60.0)):
            with contextlib.suppress(Exception):
                self.office.node(kiosk).call("tap_random", seed=self.rng.randrange(1 << 30))

    def _operator(self, pad: str) -> None:
        client = self.office.node(pad)
        with contextlib.suppress(Exception):
            client.call("keys", keys="1111#" if pad.endswith("1") else "2222#")  # demo PINs
        while not self._stop.wait(self.rng.uniform(20, 50)):
            with contextlib.suppress(Exception):
                client.call("press", button="next")


def _banner(office: Office) -> str:
    o = office.office_id
    return "\n".join([
        "",
        "Cherga office is running (Ctrl+C stops it).",
        f"  Start page         {office.url}/",
        f"  Web kiosk          {office.url}/office/{o}/kiosk",
        f"  Hall display       {office.url}/office/{o}/hall",
        f"  Online booking     {office.url}/office/{o}/book",
        f"  Operator panel     {office.url}/panel/   (olena / cherga-operator, counter c1; petro / cherga-operator)",
        f"  Hall manager       {office.url}/panel/manager   (manager / cherga-manager)",
        f"  Public load (JSON) {office.url}/api/v1/offices/{o}/load",
        f"  API docs           {office.url}/docs",
        f"  Printed tickets    {office.workdir / 'tickets'}",
        f"  Logs               {office.workdir / 'logs'}",
        "",
        "  !! DEVELOPMENT MODE, NOT SECURE: plain HTTP and MQTT on this machine, demo accounts with the",
        "  !! passwords above. An office's hall gets `cherga provision` (TLS broker, node certificates,",
        "  !! no demo accounts) and `cherga server --tls-cert/--tls-key`: see docs/security.md.",
        "",
    ])


@contextlib.contextmanager
def _signals_stop(stop: threading.Event) -> Iterator[None]:
    old = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_demo_office(*, config: Path, port: int, workdir: Path, visitors_per_min: float) -> None:
    """``cherga office``: the whole office on embedded defaults until Ctrl+C."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    show = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    office = Office(config, workdir, broker="embedded", web_port=port, show_windows=show)
    stop = threading.Event()
    with office, _signals_stop(stop):
        visitors = Visitors(office, visitors_per_min).start()
        print(_banner(office), flush=True)
        try:
            while not stop.wait(1.0):
                for name, proc in office.procs.items():
                    if not proc.alive:
                        log.warning("%s exited; restarting it. Last lines:\n%s", name, office.tail(name, 10))
                        if name == "server":
                            office.start_server()
                        else:
                            office.start_node(name)
        except KeyboardInterrupt:
            pass
        finally:
            visitors.stop()
