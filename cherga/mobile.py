"""The mobile office kit: one Pi (or laptop) runs the broker, the server and the kiosk and display
roles of an office that has no network all day (issue 21).

:class:`Kit` runs each part as its own child process (Mosquitto on loopback, ``cherga server`` on
SQLite with the MQTT bridge, ``cherga node`` for each node config it is given) and starts again any
part that dies. Every child gets ``PR_SET_PDEATHSIG``: when the kit itself is killed (``kill -9``,
the power cord), no orphan keeps the ports or the database, and the next start finds a clean slate.
Durability is the store's (SQLite WAL with ``synchronous=FULL``, a ticket is on disk before any
kiosk prints it) and the bridge's command ids (a kiosk that resends gets the same ticket).

``cherga mobile run`` starts a kit (after :func:`cherga.server.region.mobile.check_kit`), and
``cherga mobile unit`` prints the one systemd unit that runs it on the Pi (docs/region.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cherga.broker_bridge.embedded import LocalMosquitto, mosquitto_binary

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# systemd's notify and watchdog variables are the kit's, not its children's: a node that sent READY
# or WATCHDOG under its own pid would be refused (NotifyAccess=main) or fool the watchdog.
_NOT_FOR_CHILDREN = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "CHERGA_TEST_SOCKET")


def check_nodes(nodes: list[Path], office: str, broker_port: int) -> None:
    """Each node config the kit is to run must load and reach the kit's own broker for the kit's office:
    a node pointed elsewhere would start, find nobody, and be started again every second all day.
    Raises :class:`ValueError` with one line."""
    from cherga.firmware_host.config import NodeConfigError, load_node_config

    for path in nodes:
        try:
            cfg = load_node_config(path)
        except NodeConfigError as exc:
            raise ValueError(str(exc).splitlines()[0]) from None
        if cfg.office != office:
            raise ValueError(f"{path}: node {cfg.node} is of office {cfg.office!r}, the kit runs {office!r}")
        if cfg.broker.host not in ("127.0.0.1", "localhost") or cfg.broker.port != broker_port:
            raise ValueError(f"{path}: node {cfg.node} connects to {cfg.broker.host}:{cfg.broker.port}; on the kit "
                             f"it must use the kit's broker, 127.0.0.1:{broker_port}")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclasses.dataclass
class Part:
    """One child process of the kit, started again whenever it exits."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_at: float = 0.0

    def start(self) -> None:
        with open(self.log_path, "ab") as logf:
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                                          preexec_fn=_die_with_parent)  # noqa: PLW1509 - only prctl, no locks
        self.starts += 1
        self.started_at = time.monotonic()

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive:
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def tail(self, lines: int = 10) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


class Kit:
    """Start, watch and stop the kit's processes. Use as a context manager or call :meth:`run`.

    :param config: the mobile office's site configuration.
    :param workdir: the kit's state: ``cherga.db`` (SQLite), ``broker/`` (Mosquitto's persistence), ``logs/``.
    :param nodes: node configurations (``cherga node -c``) of the roles on this machine (kiosk, display);
        each must name the kit's broker (``127.0.0.1:broker_port``).
    :param host: where the web pages listen (``0.0.0.0``: the operators' tablets on the kit's Wi-Fi).
    :param region_bridge: the kit's ``bridge.conf`` from ``cherga region provision`` (its broker's bridge
        to the regional Mosquitto): with it the kit's broker carries the day up whenever the region is
        within reach, and the server runs the uplink (``cherga server --uplink``) on the kit's broker.
    :param uplink_credentials: the ``uplink-credentials.yaml`` of the kit's office (the kit's broker is
        anonymous on loopback, so it is only passed on when given).
    """

    def __init__(self, config: Path, workdir: Path, *, port: int = 8000, host: str = "127.0.0.1",
                 broker_port: int = 1883, nodes: list[Path] | None = None,
                 env: dict[str, str] | None = None, region_bridge: Path | None = None,
                 uplink_credentials: Path | None = None) -> None:
        self.config = Path(config).resolve()
        self.workdir = Path(workdir).resolve()
        self.port = port
        self.host = host
        self.broker_port = broker_port
        self.nodes = [Path(n).resolve() for n in nodes or []]
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        (self.workdir / "broker").mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_CHILDREN}
        base.update(env or {})
        base["PYTHONUNBUFFERED"] = "1"
        self.parts: dict[str, Part] = {}
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("the kit needs Mosquitto (apt-get install mosquitto)")
        # Loopback only: the kit's nodes run on this machine; nothing else may publish to it.
        broker = LocalMosquitto(self.workdir / "broker", "127.0.0.1", broker_port, persistence=True)
        conf = broker.render_config()
        if region_bridge is not None:
            # The bridge stanza goes last: Mosquitto reads everything after ``connection`` as the bridge's.
            conf += "\n" + Path(region_bridge).read_text(encoding="utf-8")
        broker.config_path.write_text(conf, encoding="utf-8")
        self._add("broker", [binary, "-c", str(broker.config_path)], base)
        server = [sys.executable, "-m", "cherga", "server", "--config", str(self.config), "--db", self.db_url,
                  "--host", host, "--port", str(port), "--mqtt", f"127.0.0.1:{broker_port}"]
        if region_bridge is not None:
            server += ["--uplink", f"127.0.0.1:{broker_port}"]
            if uplink_credentials is not None:
                server += ["--uplink-credentials", str(Path(uplink_credentials).resolve())]
        self._add("server", server, base)
        for node in self.nodes:
            self._add(f"node-{node.stem}", [sys.executable, "-m", "cherga", "node", "--config", str(node)], base)

    def _add(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.parts[name] = Part(name, argv, self.workdir / "logs" / f"{name}.log", dict(env))

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'cherga.db'}"

    def start(self) -> None:
        for part in self.parts.values():
            part.start()
            if part.name == "broker":
                self._wait_broker(part)

    def _wait_broker(self, part: Part, timeout: float = 10.0) -> None:
        from cherga.broker_bridge.embedded import _wait_listening

        try:
            _wait_listening("127.0.0.1", self.broker_port, timeout, alive=lambda: part.alive)
        except RuntimeError as exc:
            # The server's bridge keeps retrying; the watch loop starts the broker again.
            log.error("kit: %s; broker log:\n%s", exc, part.tail())

    def watch_once(self, *, min_up_s: float = 1.0) -> list[str]:
        """Start again every part that exited; returns their names. A part that died within
        ``min_up_s`` of its start waits for the next call (no busy restart loop on a broken config)."""
        restarted = []
        now = time.monotonic()
        for part in self.parts.values():
            if part.alive or now - part.started_at < min_up_s:
                continue
            log.warning("kit: %s exited (%s); starting it again. Last lines:\n%s", part.name,
                        part.popen.returncode if part.popen else "?", part.tail())
            part.start()
            if part.name == "broker":
                self._wait_broker(part)
            restarted.append(part.name)
        return restarted

    def stop(self) -> None:
        # Nodes first (they would only reconnect), the server next (its bridge says goodbye), the broker last.
        for part in reversed(list(self.parts.values())):
            part.stop()

    def __enter__(self) -> Kit:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, stop: threading.Event, every_s: float = 0.5) -> None:
        """Watch the parts until ``stop`` is set (SIGTERM/SIGINT in :func:`run_kit`)."""
        while not stop.wait(every_s):
            self.watch_once()


def run_kit(kit: Kit) -> None:
    """``cherga mobile run``: the kit in the foreground until SIGTERM or Ctrl+C."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    from cherga.firmware_host import systemd

    with kit:
        log.info("kit: office %s on http://%s:%s, broker 127.0.0.1:%s, %d node(s); logs in %s", kit.config.name,
                 kit.host, kit.port, kit.broker_port, len(kit.nodes), kit.workdir / "logs")
        systemd.ready("mobile office kit running")
        kit.run(stop)
        systemd.stopping()


def unit_file(argv: list[str], *, user: str = "cherga", data_dir: str = "/var/lib/cherga") -> str:
    """The systemd unit that runs the kit on the Pi: ``argv`` is the ``cherga mobile run ...`` command line.

    ``KillMode=control-group``: a stop or a restart takes every child along, even one the kit did not
    get to stop; the kit itself starts again its parts that die."""
    import shlex

    return "\n".join([
        "# Cherga mobile office kit: broker, server, kiosk and display on one machine (docs/region.md).",
        "[Unit]",
        "Description=Cherga mobile office kit",
        "After=local-fs.target time-sync.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"ExecStart={shlex.join(argv)}",
        f"User={user}",
        "SupplementaryGroups=video render input dialout lp audio",
        "Environment=SDL_VIDEODRIVER=kmsdrm",
        "StateDirectory=cherga",
        f"WorkingDirectory={data_dir}",
        "Restart=always",
        "RestartSec=2",
        "# 2: the kit refuses its configuration (e.g. numbering not its reserved range); a restart cannot mend it",
        "RestartPreventExitStatus=2 3",
        "KillMode=control-group",
        "TimeoutStopSec=30",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])
