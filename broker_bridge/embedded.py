"""The office broker for ``make run`` / ``cherga office``: Mosquitto when installed, else embedded.

* :class:`EmbeddedBroker` runs amqtt (pure Python, MQTT 3.1.1) on its own thread and event loop,
  so ``run`` works on a machine with nothing installed. What it lacks compared with Mosquitto
  (see ``docs/mqtt-contract.md``): no per-client ACL patterns (any client may publish any topic, so
  a kiosk *could* press a counter's "next": the bridge's node registry still refuses it, but the
  broker does not), no broker-to-broker bridges (no regional set-up), no MQTT 5, no persistence of
  retained messages or queued QoS 1 messages across a broker restart (the bridge republishes all
  retained state when it reconnects), and higher latency under load. Development and demos only.
* :class:`LocalMosquitto` starts the real Mosquitto binary on a loopback port with a generated
  config (``set_tcp_nodelay true``, persistence in a work directory): the production broker.
* :func:`start_office_broker` picks Mosquitto when present, else the embedded broker.

All three have the same small API: ``host``, ``port``, ``kind``, ``start()``, ``stop()`` and use as
a context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class OfficeBroker(Protocol):
    host: str
    port: int
    kind: Literal["mosquitto", "embedded"]

    def start(self) -> Any: ...
    def stop(self) -> None: ...


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_listening(host: str, port: int, timeout: float, alive: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError("the broker exited while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"broker did not listen on {host}:{port} within {timeout} s")


class _ContextManager:
    def start(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


class EmbeddedBroker(_ContextManager):
    """amqtt on a background thread.

    :param host: address to listen on (loopback by default: the embedded broker has no ACL).
    :param port: TCP port; 0 picks a free one.
    """

    kind: Literal["mosquitto", "embedded"] = "embedded"

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}", "max_connections": 1000}},
            # No packet logging and no $SYS ticker: both cost latency on every message.
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

    def _run(self) -> None:
        from amqtt.broker import Broker

        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._broker = Broker(self._config(), loop=loop)
            await self._broker.start()

        try:
            loop.run_until_complete(boot())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self._broker.shutdown())
            loop.close()

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        for name in ("amqtt", "transitions"):  # very chatty at INFO
            logging.getLogger(name).setLevel(logging.WARNING)
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the embedded broker did not start")
        if self._error is not None:
            raise RuntimeError(f"the embedded broker failed to start: {self._error}") from self._error
        # Broker.start() returns once its listeners are bound: no probe connection needed.
        log.info("embedded MQTT broker (amqtt) on %s:%s", self.host, self.port)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._loop = self._thread = None


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


class LocalMosquitto(_ContextManager):
    """The Mosquitto binary on a generated config in ``workdir``.

    :param extra: more ``mosquitto.conf`` lines (e.g. ``password_file`` / ``acl_file`` from
        :mod:`broker_bridge.broker_config`); without a ``password_file`` anonymous clients are allowed.
    :param config_file: run this complete ``mosquitto.conf`` as it is instead (e.g. the one
        ``cherga provision`` generated); ``host`` and ``port`` must match its listener.
    """

    kind: Literal["mosquitto", "embedded"] = "mosquitto"

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 1883, *, extra: str = "",
                 persistence: bool = True, config_file: Path | None = None) -> None:
        self.workdir = Path(workdir)
        self.config_file = config_file
        self.host = host
        self.port = port or free_port(host)
        self.extra = extra
        self.persistence = persistence
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.config_file or self.workdir / "mosquitto.conf"

    def render_config(self) -> str:
        lines = [
            f"listener {self.port} {self.host}",
            "" if "password_file" in self.extra else "allow_anonymous true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "log_dest stderr", "log_type error", "log_type warning",
            # As root Mosquitto drops to the 'mosquitto' user, who may not write the persistence dir.
            "user root" if os.geteuid() == 0 and "user " not in self.extra else "",
            # Mosquitto leaves Nagle on by default: ~40 ms per request/response without this.
            "set_tcp_nodelay true",
            "max_queued_messages 100000",
            self.extra,
        ]
        return "\n".join(x for x in lines if x) + "\n"

    def start(self, timeout: float = 10.0) -> LocalMosquitto:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("Mosquitto is not installed (apt-get install mosquitto)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.config_file is None:
            self.config_path.write_text(self.render_config())
        log_file = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([binary, "-c", str(self.config_path)], stdout=log_file, stderr=log_file)
        proc = self.process
        try:
            _wait_listening(self.host, self.port, timeout, alive=lambda: proc.poll() is None)
        except RuntimeError as exc:
            self.stop()
            tail = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}; mosquitto.log ends:\n{tail}") from None
        log.info("Mosquitto on %s:%s (%s)", self.host, self.port, self.workdir)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def start_office_broker(workdir: Path, host: str = "127.0.0.1", port: int = 1883, *,
                        prefer: Literal["mosquitto", "embedded", "auto"] = "auto") -> EmbeddedBroker | LocalMosquitto:
    """Start Mosquitto when it is installed (or ``prefer="mosquitto"``), else the embedded broker."""
    if prefer == "mosquitto" or (prefer == "auto" and mosquitto_binary() is not None):
        return LocalMosquitto(workdir, host, port).start()
    return EmbeddedBroker(host, port).start()
