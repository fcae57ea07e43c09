"""A provisioned node's enrollment: send the card's one-time token to the server once, keep the receipt.

Owns three files in the node's ``data_dir`` (``/var/lib/cherga``, owned by the ``cherga`` user):

* ``enroll-token`` — put there by the first-boot script (mode 0600): the one-time token from the card;
* ``enroll-request`` — the id of this node's enroll request, made once and kept until the answer
  comes, so a resend after a lost answer is the *same* request (the server answers it as before),
  while a cloned card, which makes its own id, is refused as ``token_spent``;
* ``enrollment.json`` — the receipt, written when the server accepts; the token is deleted then.

:class:`Enroller` hooks into the session: on every connect, if the node holds a token and no
receipt, it sends ``node_enroll`` from a thread of its own (never on paho's network thread) and
waits for the ``node_enroll_response``. A refusal (``unknown_node``, ``wrong_token``,
``token_spent``, ``revoked``, ...) is final: logged as an error with the server's reason, not
retried. No answer in time or ``internal_error`` is transient: retried with backoff while connected.
A node without a token (the demo office, the HIL office, a node enrolled long ago) does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import Literal

from cherga.broker_bridge.contract import Enroll
from cherga.firmware_host.config import NodeConfig
from cherga.firmware_host.session import NodeSession, Offline, RequestTimeout

log = logging.getLogger(__name__)

TOKEN_FILE = "enroll-token"
REQUEST_FILE = "enroll-request"
RECEIPT_FILE = "enrollment.json"
#: Answers worth asking again for; every other error key is the server's final word.
TRANSIENT = frozenset({"internal_error"})

State = Literal["no_token", "pending", "enrolled", "refused"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Enroller:
    """Enrolls this node once, when it holds a token; see the module docstring.

    :param backoff: (first, max) seconds between attempts after a transient failure.
    :param timeout: seconds to wait for the server's answer to one attempt.
    """

    def __init__(self, session: NodeSession, config: NodeConfig, *, backoff: tuple[float, float] = (2.0, 120.0),
                 timeout: float = 10.0) -> None:
        self.session = session
        self.config = config
        self.backoff = backoff
        self.timeout = timeout
        self.token_path = config.data_dir / TOKEN_FILE
        self.request_path = config.data_dir / REQUEST_FILE
        self.receipt_path = config.data_dir / RECEIPT_FILE
        self.refusal: tuple[str, str] | None = None  # (key, message) of a final refusal
        self.attempts = 0
        self.done = threading.Event()  # set once enrolled or finally refused
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def state(self) -> State:
        if self.receipt_path.exists():
            return "enrolled"
        if self.refusal is not None:
            return "refused"
        return "pending" if self.token_path.exists() else "no_token"

    def attach(self) -> Enroller:
        """Enroll on every connect until done (call before the session starts)."""
        self.session.on_connection(self._on_connection)
        if self.state == "enrolled" and self.token_path.exists():
            # Enrolled but the token survived (power lost between the two steps): it is spent, drop it.
            self.token_path.unlink(missing_ok=True)
        return self

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self.timeout + 1)

    def _on_connection(self, up: bool) -> None:
        if not up or self.state != "pending":
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="enroll", daemon=True)
            self._thread.start()

    def _request_id(self) -> str:
        try:
            existing = self.request_path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            existing = ""
        if existing:
            return existing
        new = uuid.uuid4().hex
        _write_private(self.request_path, new + "\n")
        return new

    def _run(self) -> None:
        delay = self.backoff[0]
        while not self._stop.is_set() and self.state == "pending":
            try:
                token = self.token_path.read_text(encoding="utf-8").strip()
                msg = Enroll(id=self._request_id(), node=self.config.node, ts=_utcnow(), token=token)
            except FileNotFoundError:
                return
            except (OSError, ValueError) as exc:
                self._refused("bad_token", f"cannot use {self.token_path}: {exc}")
                return
            self.attempts += 1
            try:
                reply = self.session.request("node_enroll", msg, timeout=self.timeout)
            except Offline:
                return  # the next connect starts again
            except RequestTimeout:
                log.warning("enrollment: no answer from the server within %.0f s; trying again in %.0f s",
                            self.timeout, delay)
            else:
                if reply.status == "ok":
                    self._enrolled(msg)
                    return
                key = reply.error.key if reply.error else "error"
                message = reply.error.message if reply.error else ""
                if key not in TRANSIENT:
                    self._refused(key, message)
                    return
                log.warning("enrollment: the server failed (%s: %s); trying again in %.0f s", key, message, delay)
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, self.backoff[1])

    def _enrolled(self, msg: Enroll) -> None:
        receipt = {"node": self.config.node, "office": self.config.office, "request": msg.id,
                   "token_sha256": hashlib.sha256(msg.token.encode()).hexdigest(),
                   "enrolled_at": _utcnow().isoformat(timespec="seconds")}
        _write_private(self.receipt_path, json.dumps(receipt, indent=2) + "\n")
        # Receipt first, then the token: a power cut in between leaves a spent token, dropped at the next start.
        self.token_path.unlink(missing_ok=True)
        self.request_path.unlink(missing_ok=True)
        log.info("enrollment: node %s enrolled with office %s; the token is spent and deleted",
                 self.config.node, self.config.office)
        self.done.set()

    def _refused(self, key: str, message: str) -> None:
        self.refusal = (key, message)
        log.error("enrollment REFUSED by the server: %s: %s. This node will not be served until a technician "
                  "provisions it again (cherga provision image ... --rotate or --reinstate); the token stays in %s",
                  key, message, self.token_path)
        self.done.set()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically, readable by this user only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
