"""After ``kill -9`` and a restart, every ticket the server acknowledged (201) is still there.

The server runs as a real subprocess (``cherga server``: uvicorn, SQLite in WAL with
``synchronous=FULL``, group commit); kiosks issue tickets over HTTP from several threads while
it is killed mid-stream.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from cherga.office import start_server_process
from cherga.server.siteconfig import load_site_config
from cherga.server.store import Store, sqlite_url
from tests.server.helpers import always_open_yaml
from tests.support.mosquitto import free_port


def _start(config: Path, db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return start_server_process(config, sqlite_url(db), port, log, env={"CHERGA_LOG_LEVEL": "WARNING"}, timeout=30)


@pytest.mark.slow
def test_every_acknowledged_ticket_survives_kill_9(tmp_path: Path) -> None:
    config = always_open_yaml(tmp_path / "office.yaml")
    db = tmp_path / "cherga.db"
    port = free_port()
    log = tmp_path / "server.log"
    proc = _start(config, db, port, log)
    acknowledged: list[dict[str, str]] = []
    commands: dict[str, str] = {}  # command id -> ticket id, for acknowledged tickets
    lock = threading.Lock()
    stop = threading.Event()
    services = ["passport", "foreign-passport", "residence", "birth", "social", "driver"]

    def kiosk(k: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            i = 0
            while not stop.is_set():
                try:
                    r = client.post("/api/v1/offices/demo/tickets",
                                    json={"service": services[(k + i) % len(services)], "command_id": f"k{k}-{i}"})
                except httpx.HTTPError:
                    return  # the server is gone: whatever was not answered was not promised
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json())
                        commands[f"k{k}-{i}"] = r.json()["ticket_id"]
                i += 1

    threads = [threading.Thread(target=kiosk, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    time.sleep(2.5)
    os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: the power cord
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) > 100, "the server acknowledged too little to prove anything"

    proc = _start(config, db, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for ticket in acknowledged:
                r = client.get(f"/api/v1/tickets/{ticket['token']}")
                assert r.status_code == 200, f"{ticket['label']} was acknowledged but is lost"
                assert r.json()["label"] == ticket["label"]
            # A kiosk retrying a command it got no answer for gets the stored ticket, not a second one.
            command, ticket_id = next(iter(commands.items()))
            again = client.post("/api/v1/offices/demo/tickets", json={"service": "social", "command_id": command})
            assert again.status_code == 201 and again.json()["ticket_id"] == ticket_id
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    store = Store(sqlite_url(db))
    try:
        labels = [(r.ticket.service, r.ticket.number) for r in store.tickets(load_site_config(config).office.id)]
    finally:
        store.close()
    assert len(labels) == len(set(labels)), "a number was issued twice"
    assert len(labels) >= len(acknowledged)
