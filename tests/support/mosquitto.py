"""A real Mosquitto broker for tests: the product's launcher on a free loopback port in a temporary directory."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from cherga.broker_bridge.embedded import LocalMosquitto, free_port

__all__ = ["Broker", "free_port", "running_broker"]


class Broker(LocalMosquitto):
    """:class:`~broker_bridge.embedded.LocalMosquitto` plus what tests need: the config path, a restart."""

    @property
    def config(self) -> Path:
        return self.config_path

    def restart(self, down_s: float = 0.0) -> None:
        """Stop the broker, keep it down for ``down_s`` seconds, start it again on the same port."""
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()


@contextlib.contextmanager
def running_broker(workdir: Path, extra: str = "", port: int | None = None) -> Iterator[Broker]:
    """Start Mosquitto with ``extra`` config lines appended (e.g. password_file / acl_file)."""
    broker = Broker(workdir, "127.0.0.1", port or free_port(), extra=extra)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
