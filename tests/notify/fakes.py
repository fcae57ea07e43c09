"""Real gateways on loopback for the notification tests and bench: an HTTP server that records what
an SMS gateway or the Telegram Bot API would receive (and can be taken down), and aiosmtpd's SMTP server."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeGateway:
    """An SMS gateway and a Telegram Bot API in one loopback HTTP server.

    ``requests``: every request that arrived (path, headers, body). Test verbs: ``fail_with(503)``
    answers errors until ``recover()``; ``hold`` (an Event) keeps answers back while set (a slow
    gateway; a test can kill the sender meanwhile).
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.hold = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with gateway._lock:
                    gateway.requests.append({"method": self.command, "path": self.path,
                                             "headers": dict(self.headers), "body": body.decode("utf-8"),
                                             "status": gateway.status})
                    status = gateway.status
                gateway.arrived.set()
                if gateway.hold.is_set():
                    gateway.release.wait(30)
                payload = {"ok": status == 200, "result": {"message_id": len(gateway.requests)}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_POST = do_GET = _answer  # noqa: N815 - http.server's names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_with(self, status: int) -> None:
        self.status = status

    def recover(self) -> None:
        self.status = 200

    def delivered(self) -> list[dict[str, Any]]:
        """The requests answered 200 (what a real gateway would have delivered)."""
        with self._lock:
            return [r for r in self.requests if r["status"] == 200]

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.delivered()]

    def __enter__(self) -> FakeGateway:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        msg = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append({"to": list(envelope.rcpt_tos), "from": envelope.mail_from, "message": msg})
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """A real SMTP server (aiosmtpd) on a free loopback port: (port, messages received)."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, box.messages
    finally:
        controller.stop()
