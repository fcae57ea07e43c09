"""Test verbs: a JSON-lines control socket a node opens when ``CHERGA_TEST_SOCKET`` is set, so the
HIL harness can press a mock button in a pad process, tap the kiosk screen or ask a display for a
screenshot — the in-band debug commands of OctoPrint's virtual printer, for whole processes.

A role registers verbs (``server.register("press", fn)``); each request line is
``{"verb": "press", "args": {...}}`` and each answer ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``. Never opened unless the variable is set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Verb = Callable[..., Any]
ENV = "CHERGA_TEST_SOCKET"


class TestVerbServer:
    __test__ = False  # not a pytest class

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._verbs: dict[str, Verb] = {"ping": lambda: "pong", "verbs": lambda: sorted(self._verbs)}
        self._sock: socket.socket | None = None
        self._stop = threading.Event()

    def register(self, name: str, fn: Verb) -> None:
        self._verbs[name] = fn

    def start(self) -> TestVerbServer:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(self.path))
        sock.listen(8)
        sock.settimeout(0.2)
        self._sock = sock
        threading.Thread(target=self._serve, name="test-verbs", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock:
            with contextlib.suppress(OSError):
                self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as f:
            for line in f:
                try:
                    req = json.loads(line)
                    fn = self._verbs[req["verb"]]
                    answer = {"ok": True, "result": fn(**req.get("args", {}))}
                except KeyError as exc:
                    answer = {"ok": False, "error": f"unknown verb or argument: {exc}"}
                except Exception as exc:  # a verb's failure is the test's answer, not a crash
                    log.exception("test verb failed")
                    answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                f.write(json.dumps(answer, default=str).encode() + b"\n")
                f.flush()


def from_environment() -> TestVerbServer | None:
    """The node's verb server when ``CHERGA_TEST_SOCKET`` is set, started; else ``None``."""
    path = os.environ.get(ENV)
    return TestVerbServer(path).start() if path else None


class TestVerbClient:
    """The harness's end: ``client.call("press", button="next")``."""

    __test__ = False

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def call(self, verb: str, **args: Any) -> Any:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(self.timeout)
            s.connect(str(self.path))
            with s.makefile("rwb") as f:
                f.write(json.dumps({"verb": verb, "args": args}).encode() + b"\n")
                f.flush()
                answer = json.loads(f.readline())
        if not answer.get("ok"):
            raise RuntimeError(f"{verb}: {answer.get('error')}")
        return answer.get("result")
