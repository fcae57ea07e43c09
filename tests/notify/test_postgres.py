"""The same outbox on PostgreSQL (started for real): two senders at once never send one message twice,
an outage loses nothing, and the migrations' tables take the same rows as on SQLite."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest

from cherga.broker_bridge.contract import CounterAction as A
from cherga.server.notify.engine import Notifier
from cherga.server.service import OfficeService
from cherga.server.store import Store
from tests.notify.conftest import notify_config
from tests.notify.fakes import FakeGateway
from tests.server.helpers import Clock
from tests.support.postgres import PostgresServer


@pytest.fixture
def pg_store(postgres: PostgresServer) -> Iterator[Store]:
    store = Store(postgres.create_database(f"n_{uuid.uuid4().hex[:12]}"))
    yield store
    store.close()


def test_two_senders_on_postgresql_deliver_each_message_once_through_an_outage(pg_store: Store, gateway: FakeGateway,
                                                                              clock: Clock) -> None:
    svc = OfficeService(notify_config(gateway.url), pg_store, clock=clock)
    a, b = Notifier(svc), Notifier(svc)  # two server processes' senders on one database
    a.follower.start()
    tickets = [svc.issue_ticket(command_id=f"k{i}", source="kiosk", service="passport", language="ru")
               for i in range(8)]
    for i, t in enumerate(tickets):
        a.add_ticket_contact(t.token or "", channel="sms", address=f"+7916123456{i}", consent=True)
    gateway.fail_with(503)
    for i in range(4):
        svc.counter_action(command_id=f"n{i}", counter=f"c{i % 2 + 1}", action=A.NEXT, source="test")
        svc.counter_action(command_id=f"f{i}", counter=f"c{i % 2 + 1}", action=A.FINISH, source="test")
    a.follower.run_once()
    b.follower.run_once()  # the second follower reads the same events: the unique keys keep one row each
    a.sender.run_once()
    assert gateway.delivered() == []
    gateway.recover()
    clock.advance(120)
    threads = [threading.Thread(target=n.pump) for n in (a, b) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    refs = [json.loads(r["body"])["ref"] for r in gateway.delivered()]
    assert len(refs) == len(set(refs)) == len(a.outbox.rows())
    called = [json.loads(r["body"])["message"] for r in gateway.delivered() if "пройдите к окну" in r["body"]]
    assert len(called) == 4
    assert {r["status"] for r in a.outbox.rows()} == {"sent"}
