"""A real Mosquitto broker for tests: started on a free loopback port in a temporary directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broker_bridge.embedded import free_port


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(path).exists():
        raise RuntimeError("Mosquitto is not installed: run `make test` (it installs it) or `apt-get install mosquitto`")
    return path


@dataclass
class Broker:
    host: str
    port: int
    workdir: Path
    config: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(self.config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {(self.workdir / 'mosquitto.log').read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()


def write_config(workdir: Path, port: int, extra: str = "", persistence: bool = True) -> Path:
    conf = workdir / "mosquitto.conf"
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true" if "password_file" not in extra else "",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {workdir}/",
        "log_dest stderr",
        # As root Mosquitto would drop to the 'mosquitto' user, who cannot read pytest's private tmp dirs.
        "user root" if os.geteuid() == 0 else "",
        "log_type error",
        "log_type warning",
        "max_queued_messages 100000",
        # Mosquitto leaves Nagle on by default: without this every request/response over loopback
        # waits ~40 ms for the delayed ACK, whatever the clients set on their own sockets.
        "set_tcp_nodelay true",
        extra,
    ]
    conf.write_text("\n".join(x for x in lines if x) + "\n")
    return conf


@contextlib.contextmanager
def running_broker(workdir: Path, extra: str = "", port: int | None = None) -> Iterator[Broker]:
    """Start Mosquitto with ``extra`` config lines appended (e.g. password_file / acl_file)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    broker = Broker("127.0.0.1", port, workdir, write_config(workdir, port, extra))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
