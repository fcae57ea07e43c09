"""A sender killed between sending and recording (SIGKILL, a real process): what happens.

Chosen: at-least-once. The outbox row stays claimed (``sending``); once the claim's lease is over
another sender takes it and sends it again, under the same message id (the SMS body's ``{id}``,
the e-mail's ``Message-ID``), so a gateway or mail client that deduplicates sees one message.
Nothing is lost; the one duplicate a crash can cause is recognisable as such.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.store import Store, sqlite_url
from tests.notify.conftest import notify_config
from tests.notify.fakes import FakeGateway
from tests.server.helpers import OPEN_TIME, Clock, demo_dict

_SENDER = """
import datetime as dt, sys
from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.siteconfig import load_site_config
from cherga.server.store import Store
now = dt.datetime.fromisoformat(sys.argv[3])
svc = OfficeService(load_site_config(sys.argv[1]), Store(sys.argv[2]), clock=lambda: now)
Notifier(svc).sender.run_once()
print("recorded")  # never reached: the test kills us while the gateway holds the answer
"""


def test_a_sender_killed_after_sending_sends_again_after_the_lease_with_the_same_id(
        tmp_path: Path, gateway: FakeGateway) -> None:
    config = notify_config(gateway.url)
    cfg_path = tmp_path / "office.yaml"
    cfg_path.write_text(yaml.safe_dump(demo_dict(notify=config.notify.model_dump(mode="json", exclude_none=True)),
                                       allow_unicode=True), encoding="utf-8")
    url = sqlite_url(tmp_path / "cherga.db")
    store = Store(url)
    clock = Clock(OPEN_TIME)
    svc = OfficeService(config, store, clock=clock)
    notifier = Notifier(svc, lease=dt.timedelta(minutes=5))
    notifier.follower.start()
    t = svc.issue_ticket(command_id="k1", source="kiosk", service="passport", language="uk")
    notifier.add_ticket_contact(t.token or "", channel="sms", address="+380501234567", consent=True)
    svc.counter_action(command_id="n1", counter="c1", action=A.NEXT, source="test")
    notifier.follower.run_once()  # queued, not sent

    gateway.hold.set()  # the gateway takes the message, then keeps its answer back
    proc = subprocess.Popen([sys.executable, "-c", _SENDER, str(cfg_path), url, clock().isoformat()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        assert gateway.arrived.wait(60), proc.communicate()[1].decode() if proc.poll() is not None else "no request"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert b"recorded" not in proc.communicate()[0]
    gateway.hold.clear()
    gateway.release.set()
    (row,) = notifier.outbox.rows()
    assert row["status"] == "sending"  # sent, but the sender died before writing it down

    notifier.sender.run_once()
    assert len(gateway.requests) == 1  # the claim is still within its lease: nobody takes it yet
    clock.advance(6 * 60)
    notifier.sender.run_once()
    first, again = (json.loads(r["body"]) for r in gateway.requests)
    assert first == again and first["ref"] == str(row["id"])  # the same message, recognisably
    (row,) = notifier.outbox.rows()
    assert row["status"] == "sent" and row["attempts"] == 1
    notifier.sender.run_once()
    assert len(gateway.requests) == 2  # and never a third time
    store.close()
