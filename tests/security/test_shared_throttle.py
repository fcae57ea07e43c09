"""Two real server processes on one PostgreSQL count one budget of wrong PINs and wrong passwords.

With ``cherga server --instance``, a pad's commands reach the instances through an MQTT shared
subscription: each command goes to one of them. Found from outside: wrong PINs were counted in each
process's memory, so two processes gave a guesser at a pad twice the tries before the lock. Both
kinds of failure are now counted in the database the processes share.

Per-address request limits (the token buckets of ``server/security/middleware.py``) stay per process
on purpose: they are a flood guard on the hot path (docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cherga.broker_bridge import contract
from cherga.broker_bridge.contract import CounterCommand
from cherga.office import wait_http_ok
from cherga.server import auth
from cherga.server.security import throttle
from cherga.server.store import Store
from tests.bridge.conftest import Watcher, answer_to, command
from tests.security.conftest import PASSWORD
from tests.server.helpers import DEMO
from tests.support.mosquitto import Broker, free_port
from tests.support.postgres import PostgresServer
from tests.support.wait import wait_until

pytestmark = pytest.mark.mosquitto
PIN = "4711"


@pytest.fixture
def two_processes(tmp_path: Path, postgres: PostgresServer, fresh_mosquitto: Broker) -> Iterator[list[int]]:
    """Two ``cherga server --instance`` processes of the demo office on one PostgreSQL and one broker."""
    url = postgres.create_database(f"t_{uuid.uuid4().hex[:12]}")
    store = Store(url)
    auth.create_account(store, username="olena", role="operator", password=PASSWORD, pin=PIN, display_name="Olena")
    store.close()
    ports, procs = [free_port(), free_port()], []
    try:
        for name, port in zip(("a", "b"), ports, strict=True):
            log = tmp_path / f"server-{name}.log"
            argv = [sys.executable, "-m", "cherga", "server", "--config", str(DEMO), "--db", url, "--port", str(port),
                    "--mqtt", f"{fresh_mosquitto.host}:{fresh_mosquitto.port}", "--instance", name]
            with log.open("ab") as f:
                proc = subprocess.Popen(argv, env={**os.environ, "CHERGA_LOG_LEVEL": "WARNING"},
                                        stdout=f, stderr=subprocess.STDOUT)
            procs.append(proc)
            _wait_healthy(port, proc, log)
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    wait_http_ok(f"http://127.0.0.1:{port}/healthz", alive=lambda: proc.poll() is None,
                 tail=lambda: log.read_text(errors="replace")[-3000:], timeout=90)


def _received(port: int) -> int:
    """How many MQTT messages this process's bridge has taken (its /metrics)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    m = re.search(r'^cherga_mqtt_messages_total\{office="demo",outcome="received"\} ([0-9.]+)$', text, flags=re.M)
    return int(float(m.group(1))) if m else 0


def _login(port: int, password: str) -> int:
    body = json.dumps({"username": "olena", "password": password}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/auth/login", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_wrong_pins_through_two_server_processes_lock_the_counter_after_one_budget(
        two_processes: list[int], fresh_mosquitto: Broker) -> None:
    pad = Watcher(fresh_mosquitto.host, fresh_mosquitto.port, contract.subscription("counter_response", "demo"))
    try:
        def press(counter: str, **fields: str) -> dict[str, object]:
            cmd = command(CounterCommand, f"pad-{counter}", **fields)
            pad.publish(contract.topic("counter_command", "demo", counter=counter), cmd.to_bytes())
            return pad.wait_for(answer_to(cmd.id))

        # Until both bridges take commands from the shared subscription (a press at an empty counter).
        wait_until(lambda: press("c6", action="next") is not None and all(_received(p) > 0 for p in two_processes),
                   what=lambda: f"both processes taking pad commands ({[_received(p) for p in two_processes]})")
        before = [_received(p) for p in two_processes]

        wrong = [press("c1", action="sign_in", pin=f"90{i:02d}") for i in range(throttle.PIN_FREE + 3)]
        keys = [a["error"]["key"] for a in wrong]  # type: ignore[index]
        # Both processes answered some of them: each alone saw fewer than the budget.
        took = [_received(p) - b for p, b in zip(two_processes, before, strict=True)]
        assert all(n > 0 for n in took), f"one process took every press: {took}"
        assert keys[:throttle.PIN_FREE + 1] == ["bad_pin"] * (throttle.PIN_FREE + 1), keys
        assert keys[throttle.PIN_FREE + 1:] == ["too_many_attempts"] * 2, keys
        # The right PIN is refused while the counter is locked, whichever process takes it.
        right = [press("c1", action="sign_in", pin=PIN) for _ in range(2)]
        assert [a["error"]["key"] for a in right] == ["too_many_attempts"] * 2  # type: ignore[index]
        # Another counter's pad is not locked.
        assert press("c2", action="sign_in", pin=PIN)["status"] == "ok"
    finally:
        pad.close()


def test_wrong_passwords_through_two_server_processes_lock_the_account_after_one_budget(
        two_processes: list[int]) -> None:
    a, b = two_processes
    answers = [_login((a, b)[i % 2], f"wrong-{i}") for i in range(throttle.USER_FREE + 2)]
    assert answers[:throttle.USER_FREE + 1] == [401] * (throttle.USER_FREE + 1), answers
    assert answers[throttle.USER_FREE + 1:] == [429], answers
    assert _login(a, PASSWORD) == 429 and _login(b, PASSWORD) == 429
